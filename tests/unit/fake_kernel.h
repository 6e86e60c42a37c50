// A model of the kernel's service maps behind maps::TableMaps, for unit
// tests of everything above it (maps::Table, the reconciler, the agent)
// without root. Besides holding the maps as plain containers it:
//
//  - models BPF readers: after every single map operation, every service
//    value that was live since the last grace period may still be held by a
//    running program, which may still walk the slot range it points at.
//    Each step checks that no such range was rewritten and that every
//    backend it names exists; violations are collected, not thrown. The
//    same readers check an entry's source ranges (a flagged entry has some,
//    and none it may be checking against disappears under it) and the
//    port marks its packets need;
//  - models the grace period: waitForReaders() is the only thing that lets
//    readers go (unless the barrier is broken on purpose, to show that the
//    checks catch a table that does not really wait);
//  - can check that the table's lock is held where it must be.
// Faults are injected by wrapping it in faulty_maps.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "maps/layout/service.h"
#include "maps/plan.h"
#include "maps/table.h"

namespace svcrouter::fakes {

class FakeKernel final : public maps::TableMaps {
 public:
  // ---- maps::TableMaps ------------------------------------------------------
  Result<CurrentState> read() const override {
    ++reads_;
    if (checkLocks_ && exclusive_ == 0 && shared_ == 0)
      violations_.push_back("the table was read without its lock");
    CurrentState s;
    std::map<uint32_t, ServiceKey> byId;
    for (const auto& [k, e] : services_) {
      auto& c = s.services[k];
      c.entry = e;
      if (auto m = meta_.find(e.id); m != meta_.end()) c.meta = m->second;
      for (uint32_t i = 0; i < e.count; ++i) {
        auto slot = slots_.find(e.slotBase + i);
        bool ours = slot != slots_.end() && slot->second.svc == e.id && slot->second.gen == e.gen;
        c.slots.push_back(ours ? slot->second.backend : 0);
      }
      byId[e.id] = k;
    }
    for (const auto& [m, reason] : members_) {
      if (byId.contains(m.first))
        s.services[byId.at(m.first)].members[m.second] = reason;
      else
        s.strayMembers.insert(m);
    }
    for (const auto& [id, meta] : meta_)
      if (!byId.contains(id)) s.strayMetas.insert(id);
    for (const auto& [id, range] : srcRanges_) {
      if (byId.contains(id))
        s.services[byId.at(id)].sourceRanges.insert(range);
      else
        s.straySourceRanges.insert({id, range});
    }
    s.backends = backends_;
    s.vips = vips_;
    s.portMarks = ports_;
    return s;
  }

  Result<void> write(std::span<const MapOp> run) override {
    if (checkLocks_ && exclusive_ == 0)
      violations_.push_back("the table was written without the writer lock");
    ++runs_;
    for (const auto& op : run) {
      log_.push_back("write " + describe(op));
      step(op);
      checkReaders();
    }
    return {};
  }

  Result<void> waitForReaders() override {
    if (checkLocks_ && exclusive_ == 0)
      violations_.push_back("a plan was applied without the writer lock");
    ++waits_;
    log_.push_back("wait");
    if (!barrierBroken_) held_.clear();
    return {};
  }

  Result<maps::ServiceCounters> serviceCounters(uint32_t id) const override {
    auto it = serviceCounters_.find(id);
    return it == serviceCounters_.end() ? maps::ServiceCounters{} : it->second;
  }
  Result<maps::BackendCounters> backendCounters(uint32_t id) const override {
    auto it = backendCounters_.find(id);
    return it == backendCounters_.end() ? maps::BackendCounters{} : it->second;
  }
  Result<uint64_t> epoch() const override { return epoch_; }
  Result<void> setEpoch(uint64_t epoch) override {
    epoch_ = epoch;
    return {};
  }
  // Another writer was here (the maps' contents are the same, but the
  // table must not trust what it kept in memory).
  void touchEpoch() { epoch_ += 2; }

  Result<maps::TableLock> lock(maps::LockMode mode) const override {
    ++locks_;
    if (mode == maps::LockMode::kExclusive) ++writerLocks_;
    // The real lock is an flock taken anew each time: a second one, while
    // the first is held, waits for ever.
    if (checkLocks_ && (exclusive_ > 0 || (mode == maps::LockMode::kExclusive && shared_ > 0)))
      violations_.push_back("the table's lock was taken while it was held (a real flock waits "
                            "for ever)");
    int& held = mode == maps::LockMode::kExclusive ? exclusive_ : shared_;
    ++held;
    return maps::TableLock([&held] { --held; });
  }

  // ---- for tests --------------------------------------------------------------
  // A barrier that returns at once without waiting for anybody.
  void breakBarrier() { barrierBroken_ = true; }
  // From now on a read without a lock, or a write or wait without the
  // exclusive one, is a violation (for tests of what takes the lock).
  void checkLocks() { checkLocks_ = true; }

  // Whether someone holds the writer lock now.
  bool writerLockHeld() const { return exclusive_ > 0; }

  // Counters as BPF programs would have left them.
  void count(uint32_t serviceId, maps::ServiceCounters c) { serviceCounters_[serviceId] = c; }
  void countBackend(uint32_t backendId, maps::BackendCounters c) {
    backendCounters_[backendId] = c;
  }

  // What the readers' model caught, in order; empty when every reader was safe.
  const std::vector<std::string>& violations() const { return violations_; }
  // "wait" and "write <op>" in the order the kernel saw them.
  const std::vector<std::string>& log() const { return log_; }
  void clearLog() { log_.clear(); }
  size_t waits() const { return waits_; }
  // Calls of read(): the whole table read back.
  size_t reads() const { return reads_; }
  // Calls of write(): one per run of operations of one kind.
  size_t runs() const { return runs_; }
  size_t locks() const { return locks_; }
  // Of those, exclusive ones: one per reconcile.
  size_t writerLocks() const { return writerLocks_; }

  // What is left once everything is deleted (port marks stay: only the
  // conntrack sweeper clears them).
  size_t leftovers() const {
    return services_.size() + slots_.size() + members_.size() + backends_.size() + meta_.size() +
           vips_.size() + srcRanges_.size();
  }
  const std::map<uint16_t, uint32_t>& portMarks() const { return ports_; }
  // Another writer (a conntrack sweeper) cleared a port's bits.
  void clearPortMarks(uint16_t port) { ports_.erase(port); }

 private:
  struct Slot {
    uint32_t backend, svc;
    uint16_t gen;
    bool operator==(const Slot&) const = default;
  };

  void step(const MapOp& mapOp) {
    std::visit(
        Overloaded{
            [&](const op::PutBackend& o) { backends_[o.id] = o.addr; },
            [&](const op::ResetBackendStats& o) { backendCounters_.erase(o.id); },
            [&](const op::ResetService& o) { serviceCounters_.erase(o.id); },
            [&](const op::PutMeta& o) { meta_[o.id] = *o.meta; },
            [&](const op::PutMember& o) {
              members_[{o.svcId, o.backendId}] = o.reason;
            },
            [&](const op::PutSlots& o) {
              for (uint32_t i = 0; i < o.backends.size(); ++i)
                slots_[o.base + i] = {o.backends[i].id, o.svcId, o.gen};
            },
            [&](const op::PutService& o) { services_[o.key] = o.entry; },
            [&](const op::PutVip& o) { vips_[o.vip] = o.ports; },
            [&](const op::WaitForReaders&) { violations_.push_back("a wait was sent as a write"); },
            [&](const op::DeleteService& o) { services_.erase(o.key); },
            [&](const op::DeleteVip& o) { vips_.erase(o.vip); },
            [&](const op::ClearSlots& o) {
              for (uint32_t i = 0; i < o.count; ++i) slots_.erase(o.base + i);
            },
            [&](const op::DeleteMember& o) {
              members_.erase({o.svcId, o.backendId});
            },
            [&](const op::DeleteMeta& o) { meta_.erase(o.id); },
            [&](const op::DeleteBackend& o) { backends_.erase(o.id); },
            [&](const op::MarkPort& o) { ports_[o.port] |= o.flags; },
            [&](const op::PutSourceRange& o) {
              srcRanges_.insert({o.svcId, o.range});
            },
            [&](const op::DeleteSourceRange& o) {
              srcRanges_.erase({o.svcId, o.range});
            },
        },
        mapOp);
  }

  // The slots a service value points at, as they are now; nullopt for an
  // empty slot or one that names another entry (bpf/lib/lb.h checks that).
  std::vector<std::optional<Slot>> range(const ServiceEntry& e) const {
    std::vector<std::optional<Slot>> out;
    for (uint32_t i = 0; i < e.count; ++i) {
      auto slot = slots_.find(e.slotBase + i);
      bool ours = slot != slots_.end() && slot->second.svc == e.id && slot->second.gen == e.gen;
      out.push_back(ours ? std::optional(slot->second) : std::nullopt);
    }
    return out;
  }

  void violation(const ServiceKey& k, const std::string& what) {
    violations_.push_back(describe(k) + ": " + what +
                          " (after: " + (log_.empty() ? "nothing" : log_.back()) + ")");
  }

  // A program may have looked up any service value live since the last
  // grace period and still be walking its slot range: that range must not
  // change under it, and every backend it names must exist. A live value
  // must find all its slots and have every backend in them a member.
  void checkReaders() {
    for (const auto& [k, e] : services_) held_.try_emplace({k, e}, Held{range(e), {}});
    for (auto& [h, held] : held_) {
      const auto& [k, e] = h;
      const auto& snapshot = held.slots;
      if (range(e) != snapshot) violation(k, "a range a reader may hold was rewritten");
      for (const auto& slot : snapshot)
        if (slot && !backends_.contains(slot->backend))
          violation(k, "backend " + std::to_string(slot->backend) + " deleted under a reader");
      // A reader may still check a client against the source ranges of a
      // flagged value that was replaced or deleted: they stay until the
      // grace period. (Those of the live value change as its Service does.)
      auto now = e.sourceRanges ? rangesOf(e.id) : Ranges{};
      auto live = services_.find(k);
      if (live != services_.end() && !(HeldKey{k, live->second} < h) &&
          !(h < HeldKey{k, live->second})) {
        held.ranges = std::move(now);
      } else {
        for (const auto& r : held.ranges)
          if (!now.contains(r))
            violation(k, "source range " + describe(r) + " deleted under a reader");
      }
      // A packet of the entry's flows is not skipped by the prefilter.
      if (k.scope == Scope::kExternal) {
        if (!marked(k.port, SVCR_PORT_F_FRONTEND))
          violation(k, "frontend port " + std::to_string(k.port) + " is not marked");
        for (const auto& slot : snapshot)
          if (slot && backends_.contains(slot->backend) &&
              !marked(backends_.at(slot->backend).port, SVCR_PORT_F_BACKEND))
            violation(k, "backend port " + std::to_string(backends_.at(slot->backend).port) +
                             " is not marked");
      }
    }
    for (const auto& [k, e] : services_)
      if (e.sourceRanges && rangesOf(e.id).empty())
        violation(k, "a live entry has the source range flag and no range");
    for (const auto& [k, e] : services_)
      for (const auto& slot : range(e)) {
        if (!slot)
          violation(k, "a live entry points at a slot that is not its own");
        else if (!members_.contains({e.id, slot->backend}))
          violation(k, "backend " + std::to_string(slot->backend) + " is not a member");
      }
  }

  using Ranges = std::set<IpCidr>;
  Ranges rangesOf(uint32_t id) const {
    Ranges out;
    for (auto it = srcRanges_.lower_bound({id, IpCidr{}});
         it != srcRanges_.end() && it->first == id; ++it)
      out.insert(it->second);
    return out;
  }
  bool marked(uint16_t port, uint32_t bit) const {
    auto it = ports_.find(port);
    return it != ports_.end() && (it->second & bit);
  }

  struct HeldKey {
    ServiceKey key;
    ServiceEntry entry;
    bool operator<(const HeldKey& o) const {
      return std::tie(key, entry.id, entry.gen, entry.count, entry.slotBase, entry.sourceRanges) <
             std::tie(o.key, o.entry.id, o.entry.gen, o.entry.count, o.entry.slotBase,
                      o.entry.sourceRanges);
    }
  };
  // What a reader holding an entry may still be walking or checking.
  struct Held {
    std::vector<std::optional<Slot>> slots;
    Ranges ranges;  // of an entry with the flag
  };

  std::map<ServiceKey, ServiceEntry> services_;
  std::map<uint32_t, Slot> slots_;  // the slot array
  std::map<std::pair<uint32_t, uint32_t>, uint8_t> members_;
  std::map<uint32_t, BackendAddr> backends_;
  std::map<uint32_t, ServiceMeta> meta_;
  std::map<IpAddr, uint32_t> vips_;
  std::map<uint16_t, uint32_t> ports_;               // svcr_ports, the ports marked
  std::set<std::pair<uint32_t, IpCidr>> srcRanges_;  // svcr_src_ranges
  std::map<uint32_t, maps::ServiceCounters> serviceCounters_;
  std::map<uint32_t, maps::BackendCounters> backendCounters_;

  std::map<HeldKey, Held> held_;  // what readers may hold
  mutable std::vector<std::string> violations_;
  std::vector<std::string> log_;
  size_t waits_ = 0, runs_ = 0;
  mutable size_t locks_ = 0, writerLocks_ = 0, reads_ = 0;
  mutable int exclusive_ = 0, shared_ = 0;  // locks held now
  bool checkLocks_ = false;
  uint64_t epoch_ = 0;
  bool barrierBroken_ = false;
};

}  // namespace svcrouter::fakes
