#include "maps/table.h"

namespace svcrouter::maps {

Result<CurrentState> Table::read() const {
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  if (cache_ && epoch == cachedEpoch_) return *cache_;
  SVCR_ASSIGN_OR_RETURN(auto state, maps_->read());
  cache_ = state;
  cachedEpoch_ = epoch;
  return state;
}

Result<void> Table::apply(const Plan& plan) {
  const auto& ops = plan.ops;
  if (ops.empty()) return {};
  if (!settled_) SVCR_RETURN_IF_ERROR(maps_->waitForReaders());
  settled_ = false;
  // Odd while a write is under way: a writer that dies leaves it so.
  cache_.reset();
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 1));
  for (size_t i = 0, j; i < ops.size(); i = j) {
    // A run of operations of one kind (the planner groups them) is one batch.
    for (j = i + 1; j < ops.size() && ops[j].index() == ops[i].index();) ++j;
    auto run = std::span(ops).subspan(i, j - i);
    auto r = std::holds_alternative<op::WaitForReaders>(ops[i]) ? maps_->waitForReaders()
                                                                : maps_->write(run);
    if (!r) {
      std::string what =
          describe(ops[i]) +
          (j - i > 1 ? " and " + std::to_string(j - i - 1) + " more of its kind" : "");
      return fail(r.error().what + " (while applying: " + what + ")", r.error().err);
    }
  }
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 2));
  if (plan.result) {
    cache_ = *plan.result;
    cachedEpoch_ = epoch + 2;
  }
  settled_ = true;
  return {};
}

}  // namespace svcrouter::maps
