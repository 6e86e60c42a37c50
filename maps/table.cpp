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

namespace {

// "PutSlots(...) and 3 more of its kind": which run a failure was in.
std::string describeRun(std::span<const MapOp> run) {
  return describe(run.front()) +
         (run.size() > 1 ? " and " + std::to_string(run.size() - 1) + " more of its kind" : "");
}

// The end of the run of operations of one kind that starts at i.
size_t runEnd(std::span<const MapOp> ops, size_t i) {
  size_t j = i + 1;
  while (j < ops.size() && ops[j].index() == ops[i].index()) ++j;
  return j;
}

}  // namespace

Result<void> Table::writeRuns(std::span<const MapOp> ops) {
  for (size_t i = 0, j; i < ops.size(); i = j) {
    j = runEnd(ops, i);
    auto run = ops.subspan(i, j - i);
    if (auto r = maps_->write(run); !r)
      return fail(r.error().what + " (while applying: " + describeRun(run) + ")", r.error().err);
  }
  return {};
}

Result<void> Table::apply(const Plan& plan, const std::function<void()>& published) {
  const auto& ops = plan.ops;
  if (ops.empty()) return {};
  SVCR_RETURN_IF_ERROR(reclaim());
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
  // Everything before the wait is the new table; what follows it reclaims.
  auto wait = std::ranges::find_if(
      ops, [](const MapOp& o) { return std::holds_alternative<op::WaitForReaders>(o); });
  const auto split = static_cast<size_t>(wait - ops.begin());
  SVCR_RETURN_IF_ERROR(writeRuns(std::span(ops).first(split)));
  if (published) published();
  const bool defer = deferReclaim_ && split < ops.size();
  if (split < ops.size()) {
    auto cleanup = std::span(ops).subspan(split + 1);
    if (defer) {
      pending_ = Pending{maps_->startWaitForReaders(), {cleanup.begin(), cleanup.end()},
                         epoch + 1};
    } else {
      if (auto r = maps_->waitForReaders(); !r)
        return fail(r.error().what + " (while applying: " + describe(*wait) + ")",
                    r.error().err);
      SVCR_RETURN_IF_ERROR(writeRuns(cleanup));
    }
  }
  // Pending: the epoch stays odd until reclaim() (a writer that dies leaves
  // it so, and the next one reads the kernel).
  const uint64_t now = defer ? epoch + 1 : epoch + 2;
  if (!defer) SVCR_RETURN_IF_ERROR(maps_->setEpoch(now));
  // The delta applies to the state the plan was made from, if that is the
  // one kept; otherwise the kernel is read back when next needed. With a
  // reclamation pending it is the state once reclaimed: the next plan is
  // applied only after that.
  if (keepState_ && base && plan.base == base.get()) {
    // Nobody else holds it (the reconciler lets go before applying): change
    // it in place rather than copy a large table.
    auto next = base.use_count() == 1 ? std::const_pointer_cast<CurrentState>(base)
                                      : std::make_shared<CurrentState>(*base);
    base.reset();
    applyDelta(*next, plan.delta);
    std::lock_guard guard(*cacheMu_);
    cache_ = std::move(next);
    cachedEpoch_ = now;
    keptOwn_ = true;
  }
  settled_ = true;
  return {};
}

Result<void> Table::reclaim() {
  if (!pending_) return {};
  Pending p = std::move(*pending_);
  pending_.reset();
  // Whatever happens now, a failure leaves the kernel to be read again and
  // the next plan to wait for readers first.
  auto unsettle = [this] {
    settled_ = false;
    std::lock_guard guard(*cacheMu_);
    cache_.reset();
  };
  auto r = p.wait();
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  if (epoch != p.epoch) {
    // Another writer read the kernel since (strays and all), waited for
    // readers before writing, and its plans delete what is unused.
    unsettle();
    return {};
  }
  if (!r) {
    unsettle();
    return fail(r.error().what + " (while reclaiming after the grace period)", r.error().err);
  }
  if (auto w = writeRuns(p.cleanup); !w) {
    unsettle();
    return w;
  }
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(p.epoch + 1));
  std::lock_guard guard(*cacheMu_);
  if (cachedEpoch_ == p.epoch) cachedEpoch_ = p.epoch + 1;
  return {};
}

Result<void> Table::writeOutsidePlan(const std::function<Result<bool>()>& write) {
  SVCR_RETURN_IF_ERROR(reclaim());
  SVCR_ASSIGN_OR_RETURN(uint64_t epoch, maps_->epoch());
  SVCR_RETURN_IF_ERROR(maps_->setEpoch(epoch + 1));
  auto changed = write();
  if (!changed) return std::unexpected(std::move(changed.error()));  // stays odd: read again
  return maps_->setEpoch(*changed ? epoch + 2 : epoch);
}

}  // namespace svcrouter::maps
