#include "userspace/core/reconciler.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace svcrouter {
namespace {

// Milliseconds since `start`, for the debug timings.
double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Result<Plan> reconcile(maps::Table& table, const DesiredState& want, std::optional<Capacity> cap,
                       const std::function<void()>& published,
                       const std::set<ServiceKey>* changed) {
  SVCR_ASSIGN_OR_RETURN(auto lock, table.lock(maps::LockMode::kExclusive));
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto current, table.view());
  double readMs = msSince(start);
  start = std::chrono::steady_clock::now();
  if (!cap) cap = table.capacity();
  // Someone else wrote since this table's last plan: the entries not asked
  // about may not be what the caller thinks; plan them all.
  if (changed && !table.keepsOwnState()) {
    spdlog::info("the service table was changed by another writer: planning all of it");
    changed = nullptr;
  }
  SVCR_ASSIGN_OR_RETURN(auto plan, changed ? planChanges(*current, want, *changed, *cap)
                                           : planUpdate(*current, want, *cap));
  double planMs = msSince(start);
  current.reset();  // the table may now change its kept state in place
  // Guarded: the arguments would be formatted even with debug output off.
  if (spdlog::should_log(spdlog::level::debug))
    for (const auto& op : plan.ops) spdlog::debug("{}", describe(op));
  start = std::chrono::steady_clock::now();
  SVCR_RETURN_IF_ERROR(table.apply(plan, published));
  spdlog::debug(
      "read the table in {:.1f} ms, planned in {:.1f} ms, applied {} map operations in {:.1f} ms",
      readMs, planMs, plan.ops.size(), msSince(start));
  return plan;
}

std::string summarize(const std::string& source, const DesiredState& want, const Plan& plan,
                      bool all) {
  size_t backends = 0;
  for (const auto& [key, svc] : want.services) backends += svc.backends.size();
  std::string out = "applied " + source + ": " + std::to_string(want.services.size()) +
                    " service entries, " + std::to_string(backends) + " backends";
  if (plan.changes.empty()) out += " (no change)";
  out += "\n";
  // A large update is summed up.
  constexpr size_t kShown = 20;
  size_t shown = all ? plan.changes.size() : std::min(plan.changes.size(), kShown);
  for (size_t i = 0; i < shown; ++i) out += "  " + plan.changes[i] + "\n";
  if (shown < plan.changes.size())
    out += "  ... and " + std::to_string(plan.changes.size() - shown) + " more (-v lists them)\n";
  return out;
}

}  // namespace svcrouter
