// A fault-injecting maps::TableMaps: wraps another one (fake_kernel.h's
// model, or the real KernelMaps in tests/bpf) and makes a chosen call fail,
// as a kernel error or an agent that dies there would leave it. Everything
// before the fault reaches the wrapped maps, one operation at a time where a
// run is cut: a batch the kernel took only in part.
#pragma once

#include <cstddef>
#include <limits>
#include <span>

#include "maps/table.h"

namespace svcrouter::fakes {

class FaultyMaps final : public maps::TableMaps {
 public:
  explicit FaultyMaps(maps::TableMaps& inner) : inner_(inner) {}

  // The Nth single-operation write from now on fails, unapplied (1 = the next).
  void failWriteAt(size_t n) { failWriteAt_ = writes_ + n; }
  // The Nth wait for readers from now on fails.
  void failWaitAt(size_t n) { failWaitAt_ = waits_ + n; }
  // The agent dies after N more steps (single-operation writes and waits):
  // every call after that fails, as if nobody made it.
  void dieAfter(size_t n) { dieAfter_ = steps_ + n; }
  // No injected failure is pending any more.
  void clearFaults() { failWriteAt_ = failWaitAt_ = dieAfter_ = kNever; }

  Result<CurrentState> read() const override { return inner_.read(); }

  Result<void> write(std::span<const MapOp> run) override {
    for (size_t i = 0; i < run.size(); ++i) {
      bool dies = ++steps_ > dieAfter_, fails = ++writes_ == failWriteAt_;
      if (!dies && !fails) continue;
      if (i > 0) SVCR_RETURN_IF_ERROR(inner_.write(run.first(i)));
      return dies ? fail("the agent died", EINTR) : fail("injected write failure", EIO);
    }
    return inner_.write(run);
  }

  Result<void> waitForReaders() override {
    if (++steps_ > dieAfter_) return fail("the agent died", EINTR);
    if (++waits_ == failWaitAt_) return fail("injected wait failure", EINTR);
    return inner_.waitForReaders();
  }

  Result<maps::ServiceCounters> serviceCounters(uint32_t id) const override {
    return inner_.serviceCounters(id);
  }
  Result<maps::BackendCounters> backendCounters(uint32_t id) const override {
    return inner_.backendCounters(id);
  }
  Result<maps::TableLock> lock(maps::LockMode mode) const override { return inner_.lock(mode); }
  Result<uint64_t> epoch() const override { return inner_.epoch(); }
  Result<void> setEpoch(uint64_t epoch) override { return inner_.setEpoch(epoch); }

 private:
  static constexpr size_t kNever = std::numeric_limits<size_t>::max();
  maps::TableMaps& inner_;
  size_t steps_ = 0, writes_ = 0, waits_ = 0;
  size_t failWriteAt_ = kNever, failWaitAt_ = kNever, dieAfter_ = kNever;
};

}  // namespace svcrouter::fakes
