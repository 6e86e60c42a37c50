#include "maps/table.h"

#include <algorithm>

namespace svcrouter::maps {

Result<std::shared_ptr<const CurrentState>> Table::view() const {
  std::lock_guard guard(*cacheMu_);
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  if (cache_ && epoch == cachedEpoch_) return cache_;
  SVCR_ASSIGN_OR_RETURN(auto state, maps_->read());
  state.index = buildIndex(state);
  cache_ = std::make_shared<const CurrentState>(std::move(state));
  cachedEpoch_ = epoch;
  keptOwn_ = false;
  return cache_;
}

bool Table::keepsOwnState() const {
  std::lock_guard guard(*cacheMu_);
  auto epoch = maps_->epoch();
  return cache_ && keptOwn_ && epoch && *epoch == cachedEpoch_;
}

Result<CurrentState> Table::read() const {
  SVCR_ASSIGN_OR_RETURN(auto state, view());
  return *state;
}

Result<void> Table::apply(const Plan& plan, const std::function<void()>& published) {
  const auto& ops = plan.ops;
  if (ops.empty()) return {};
  if (!settled_) SVCR_RETURN_IF_ERROR(maps_->waitForReaders());
  settled_ = false;
  // Odd while a write is under way: a writer that dies leaves it so. The
  // state kept is set aside, to apply the plan's delta to it at the end.
  std::shared_ptr<const CurrentState> base;
  {
    std::lock_guard guard(*cacheMu_);
    base = std::move(cache_);
  }
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 1));
  for (size_t i = 0, j; i < ops.size(); i = j) {
    // A run of operations of one kind (the planner groups them) is one batch.
    for (j = i + 1; j < ops.size() && ops[j].index() == ops[i].index();) ++j;
    auto run = std::span(ops).subspan(i, j - i);
    bool wait = std::holds_alternative<op::WaitForReaders>(ops[i]);
    if (wait && published) published();  // everything before the wait is the new table
    auto r = wait ? maps_->waitForReaders() : maps_->write(run);
    if (!r) {
      std::string what =
          describe(ops[i]) +
          (j - i > 1 ? " and " + std::to_string(j - i - 1) + " more of its kind" : "");
      return fail(r.error().what + " (while applying: " + what + ")", r.error().err);
    }
  }
  if (published && !std::ranges::any_of(ops, [](const MapOp& o) {
        return std::holds_alternative<op::WaitForReaders>(o);
      }))
    published();
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 2));
  // The delta applies to the state the plan was made from, if that is the
  // one kept; otherwise the kernel is read back when next needed.
  if (base && plan.base == base.get()) {
    // Nobody else holds it (the reconciler lets go before applying): change
    // it in place rather than copy a large table.
    auto next = base.use_count() == 1 ? std::const_pointer_cast<CurrentState>(base)
                                      : std::make_shared<CurrentState>(*base);
    base.reset();
    applyDelta(*next, plan.delta);
    std::lock_guard guard(*cacheMu_);
    cache_ = std::move(next);
    cachedEpoch_ = epoch + 2;
    keptOwn_ = true;
  }
  settled_ = true;
  return {};
}

Result<void> Table::writeOutsidePlan(const std::function<Result<bool>()>& write) {
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 1));
  auto changed = write();
  if (!changed) return std::unexpected(std::move(changed.error()));  // stays odd: read again
  return maps_->setEpoch(*changed ? epoch + 2 : epoch);
}

}  // namespace svcrouter::maps
