#include "userspace/agent/agent.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "userspace/core/reconciler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {

namespace {
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
}

Result<DesiredState> desiredState(const Objects& objects, SelectOptions select,
                                  InputCheck check) {
  for (const auto& w : objects.warnings) spdlog::warn("{}", w);
  if (objects.node) {
    auto zone = objects.node->labels.find(kZoneLabel);
    select.nodeZone = zone == objects.node->labels.end() ? "" : zone->second;
  }
  SVCR_ASSIGN_OR_RETURN(auto want, buildDesiredState(objects, select, check));
  for (const auto& w : want.warnings) spdlog::warn("{}", w);
  return want;
}

Result<DesiredState> desiredFromManifests(const std::string& text, const std::string& file,
                                          const SelectOptions& select) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto objects, parseManifests(text, file));
  spdlog::debug("read {} in {:.1f} ms", file,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count());
  return desiredState(objects, select, InputCheck::kStrict);
}

Agent::Agent(maps::Table& table, Options options, std::ostream& out)
    : table_(table), options_(std::move(options)), out_(out) {}

Result<void> Agent::apply(const std::string& source, const DesiredState& want) {
  SVCR_ASSIGN_OR_RETURN(auto plan, reconcile(table_, want));
  out_ << summarize(source, want, plan, options_.listAllChanges) << std::flush;
  return {};
}

Agent::Outcome Agent::sync(Source& source) {
  auto objects = source.objects();
  if (!objects) {
    spdlog::error("{}", objects.error().message());
    return Outcome::kBadInput;
  }
  auto want = desiredState(*objects, options_.select, source.inputCheck());
  if (!want) {
    spdlog::error("{}", want.error().message());
    return Outcome::kBadInput;
  }
  if (auto applied = apply(source.name(), *want); !applied) {
    spdlog::error("{}", applied.error().message());
    return Outcome::kKernelError;
  }
  return Outcome::kApplied;
}

void Agent::follow(Source& source) {
  spdlog::info("following {}", source.name());
  bool retry = false;
  for (;;) {
    auto event = source.next(retry ? options_.retryMs : Source::kForever);
    if (event == Source::Event::kStop) return;
    if (event == Source::Event::kTimeout && !retry) continue;
    if (!source.synced()) continue;  // the pinned table keeps serving meanwhile
    retry = sync(source) == Outcome::kKernelError;
  }
}

}  // namespace svcrouter
