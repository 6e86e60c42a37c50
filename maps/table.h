// The service table: the kernel's maps seen as one table that applies plans
// (maps/plan.h) so that no BPF program ever sees a half-written backend set.
//
//   Table       executes a plan: batches each run of one kind of operation,
//               waits for readers where the plan says and where adoption or
//               a failed apply makes it necessary. No libbpf: unit-tested.
//   TableMaps   what Table needs from the kernel, the seam for tests: read
//               everything, write a run, wait for readers, counters, lock.
//               maps/kernel_maps.h is the real one (BPF maps);
//               tests/unit/fake_kernel.h models it, faulty_maps.h injects
//               faults into any of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "maps/error.h"
#include "maps/fd.h"
#include "maps/plan.h"

namespace svcrouter::maps {

// The table's lock, held until destroyed: an flock on the pin directory for
// the kernel's maps (Fd), or whatever a fake makes of it (release).
class TableLock {
 public:
  TableLock() = default;
  explicit TableLock(Fd fd) : fd_(std::move(fd)) {}
  explicit TableLock(std::function<void()> release) : release_(std::move(release)) {}
  TableLock(TableLock&& o) noexcept
      : fd_(std::move(o.fd_)), release_(std::exchange(o.release_, nullptr)) {}
  TableLock& operator=(TableLock&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::move(o.fd_);
      release_ = std::exchange(o.release_, nullptr);
    }
    return *this;
  }
  TableLock(const TableLock&) = delete;
  TableLock& operator=(const TableLock&) = delete;
  ~TableLock() { reset(); }

 private:
  void reset() {
    if (release_) std::exchange(release_, nullptr)();
    fd_ = Fd();
  }
  Fd fd_;
  std::function<void()> release_;
};

// A service's counters, summed over CPUs. packets and bytes count the
// packet path's flows only (the socket path rewrites connect(), no packets).
struct ServiceCounters {
  uint64_t connections = 0, refused = 0, packets = 0, bytes = 0;
};

// A backend's counters, summed over CPUs; packets and bytes as above.
struct BackendCounters {
  uint64_t connections = 0, packets = 0, bytes = 0;
};

class TableMaps {
 public:
  virtual ~TableMaps() = default;

  // Everything the maps hold, as the planner needs it.
  [[nodiscard]] virtual Result<CurrentState> read() const = 0;
  // A run of operations of one kind (never WaitForReaders), written in one
  // batch where the kernel allows. On error some of the run may be written.
  [[nodiscard]] virtual Result<void> write(std::span<const MapOp> run) = 0;
  // Returns once every BPF program that was running when it was called has
  // finished: values replaced or deleted before it are no longer in use.
  [[nodiscard]] virtual Result<void> waitForReaders() = 0;
  // The same wait, begun now and finished by calling what it returns
  // (which returns at once if the grace period is over by then). Nothing
  // may be written between the two. By default the wait is done then.
  [[nodiscard]] virtual std::function<Result<void>()> startWaitForReaders() {
    return [this] { return waitForReaders(); };
  }

  [[nodiscard]] virtual Result<ServiceCounters> serviceCounters(uint32_t serviceId) const = 0;
  [[nodiscard]] virtual Result<BackendCounters> backendCounters(uint32_t backendId) const = 0;

  // Keeps other writers out while it is held (or, shared, waits for them).
  [[nodiscard]] virtual Result<TableLock> lock(LockMode mode) const = 0;

  // How many entries the maps hold at most (their max_entries).
  [[nodiscard]] virtual Capacity capacity() const { return defaultCapacity(); }

  // A counter every writer bumps before its first write and after its last.
  [[nodiscard]] virtual Result<uint64_t> epoch() const = 0;
  [[nodiscard]] virtual Result<void> setEpoch(uint64_t epoch) = 0;
};

class Table {
 public:
  // Adopts whatever the maps hold; `maps` must outlive the table.
  explicit Table(TableMaps& maps) : maps_(&maps) {}

  // What the maps hold. Kept in memory from the last plan this table
  // applied (its result), and read from the kernel only when another
  // writer has been there since (the epoch moved), after a failure, or the
  // first time.
  [[nodiscard]] Result<CurrentState> read() const;
  // The same without a copy: valid as long as it is held.
  [[nodiscard]] Result<std::shared_ptr<const CurrentState>> view() const;
  // Whether the state view() gives is what this table's own plans made it
  // (not read from the kernel, and nobody wrote since): a plan of a few
  // entries may then trust the rest to be as this table left it.
  [[nodiscard]] bool keepsOwnState() const;

  // Applies the plan's operations in order, a run of one kind at a time.
  // Before its first write, the table waits for readers unless it knows
  // that none can hold a value from before: see settled_. `published` is
  // called once every new value is visible to the datapath (the flips),
  // before the grace period that lets the old ones be cleared.
  [[nodiscard]] Result<void> apply(const Plan& plan, const std::function<void()>& published = {});

  // Deferred reclamation (off by default): apply() returns at the flips,
  // with the grace period under way and what it guards (the plan's
  // operations after its wait: retired ranges, members, backends) left
  // for reclaim(). The next apply() or writeOutsidePlan() reclaims first,
  // so nothing the plan freed is reused before the grace period is over.
  // For a long-running writer: an agent publishes a change without waiting
  // for the grace period that follows the one before.
  void deferReclaim(bool on) { deferReclaim_ = on; }
  // Whether apply() keeps the state its plans leave (the default), to plan
  // the next change from it without reading the kernel. A writer that
  // makes one change and exits (`svcrouter apply`) turns it off: building
  // a large table's state in memory costs about as much as writing it, and
  // view() reads the kernel if it is ever asked again.
  void keepState(bool on) { keepState_ = on; }
  // Whether a plan's reclamation is waiting.
  bool reclaimPending() const { return pending_.has_value(); }
  // Finishes the grace period of the last plan and deletes what it guards,
  // under the table's exclusive lock (held by the caller). When another
  // writer has been there since, the pending deletions are dropped: it read
  // the kernel, waited for readers itself, and its own plan deletes what it
  // found unused.
  [[nodiscard]] Result<void> reclaim();

  [[nodiscard]] Result<ServiceCounters> serviceCounters(uint32_t serviceId) const {
    return maps_->serviceCounters(serviceId);
  }
  [[nodiscard]] Result<BackendCounters> backendCounters(uint32_t backendId) const {
    return maps_->backendCounters(backendId);
  }
  [[nodiscard]] Result<uint64_t> backendConnections(uint32_t backendId) const {
    SVCR_ASSIGN_OR_RETURN(auto c, maps_->backendCounters(backendId));
    return c.connections;
  }
  [[nodiscard]] Result<TableLock> lock(LockMode mode) const { return maps_->lock(mode); }
  [[nodiscard]] Capacity capacity() const { return maps_->capacity(); }

  // A change to the maps outside any plan (the conntrack sweep clearing
  // port marks), made under the exclusive lock as a writer: the epoch is
  // odd while `write` runs, then moves on if it says it changed something
  // (or failed), so that every table that keeps the state reads the kernel
  // again; after a change to nothing the epoch is as it was, and nobody
  // reads the whole table for it.
  [[nodiscard]] Result<void> writeOutsidePlan(const std::function<Result<bool>()>& write);

 private:
  TableMaps* maps_;
  // The state kept; the mutex guards the pointer (not the state it points
  // to, which is never changed while someone else holds it): a scrape's
  // view() may run on another thread beside the agent's (both under the
  // table's lock, but the shared one admits several).
  std::unique_ptr<std::mutex> cacheMu_ = std::make_unique<std::mutex>();  // movable
  mutable std::shared_ptr<const CurrentState> cache_;
  mutable uint64_t cachedEpoch_ = 0;
  mutable bool keptOwn_ = false;  // cache_ came from this table's plans
  // A plan's operations after its wait, and the wait under way.
  struct Pending {
    std::function<Result<void>()> wait;
    std::vector<MapOp> cleanup;
    uint64_t epoch = 0;  // the kernel's epoch while it is pending (odd)
  };
  bool deferReclaim_ = false;
  bool keepState_ = true;
  std::optional<Pending> pending_;
  // Writes runs of operations (none a wait) in order.
  Result<void> writeRuns(std::span<const MapOp> ops);
  // Whether no reader can still hold a value from before this table's last
  // completed plan. False for an adopted table (the previous agent may have
  // died between a flip and its grace period, leaving a retired range that
  // now looks free) and after a failed apply (the same, by our own hand).
  bool settled_ = false;
};

}  // namespace svcrouter::maps
