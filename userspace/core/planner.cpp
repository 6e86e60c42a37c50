#include "userspace/core/planner.h"

#include <algorithm>
#include <array>
#include <iterator>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "maps/layout/service.h"

namespace svcrouter {
namespace {

struct BackendAddrHash {
  size_t operator()(const BackendAddr& b) const {
    const auto& bytes = b.addr.bytes();
    std::string_view raw(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return std::hash<std::string_view>()(raw) ^ (size_t{b.port} << 8) ^
           static_cast<size_t>(b.protocol);
  }
};

// Hands out the lowest ids not in use, from `first` (all below it are in
// use) up to limit-1. Ids freed in this plan are not handed out again by it:
// a reader may still hold them.
class IdAllocator {
 public:
  // inUse(id): whether the table holds the id now (without copying its set).
  IdAllocator(std::function<bool(uint32_t)> inUse, uint32_t first, uint32_t limit)
      : inUse_(std::move(inUse)), limit_(limit), next_(std::max(first, 1u)) {}
  std::optional<uint32_t> take() {
    while (next_ < limit_ && inUse_(next_)) ++next_;
    if (next_ >= limit_) return std::nullopt;
    return next_++;
  }

 private:
  std::function<bool(uint32_t)> inUse_;
  uint32_t limit_;
  uint32_t next_;
};

// Hands out contiguous ranges of the slot array, next fit: the search goes
// on from the previous allocation and wraps around once, so a plan that adds
// many services does not rescan the whole table for each. A range retired
// by this plan stays taken: readers may still be walking it until the grace
// period that follows the plan. The ranges in use are the table's (looked up
// in place, not copied) and those taken here.
class SlotAllocator {
 public:
  SlotAllocator(uint32_t size, const std::map<uint32_t, uint32_t>& busy, uint32_t hint)
      : size_(size), hint_(hint < size ? hint : 0), busy_(busy) {}
  std::optional<uint32_t> take(uint32_t count) {
    for (uint32_t from : {hint_, 0u}) {
      uint64_t start = from;
      while (start + count <= size_) {
        auto overlap = firstOverlap(start, count);
        if (!overlap) {
          taken_[static_cast<uint32_t>(start)] = count;
          hint_ = static_cast<uint32_t>(start + count);
          return static_cast<uint32_t>(start);
        }
        start = *overlap;
      }
    }
    return std::nullopt;
  }

 private:
  using Ranges = std::map<uint32_t, uint32_t>;  // base -> count
  static uint64_t end(const Ranges::value_type& range) {
    return uint64_t{range.first} + range.second;
  }
  // The end of a range that overlaps [start, start+count), if one does.
  static std::optional<uint64_t> overlapIn(const Ranges& ranges, uint64_t start, uint32_t count) {
    auto it = ranges.upper_bound(static_cast<uint32_t>(start));
    if (it != ranges.begin() && end(*std::prev(it)) > start) return end(*std::prev(it));
    if (it != ranges.end() && it->first < start + count) return end(*it);
    return std::nullopt;
  }
  std::optional<uint64_t> firstOverlap(uint64_t start, uint32_t count) const {
    auto a = overlapIn(busy_, start, count), b = overlapIn(taken_, start, count);
    if (a && b) return std::max(*a, *b);
    return a ? a : b;
  }

  uint32_t size_;
  uint32_t hint_;
  const Ranges& busy_;
  Ranges taken_;
};

// The order of the kinds of operations in a plan.
int phase(const MapOp& op) {
  return std::visit(Overloaded{
                        [](const op::ResetBackendStats&) { return 0; },
                        [](const op::PutBackend&) { return 1; },
                        [](const op::ResetService&) { return 2; },
                        [](const op::PutMeta&) { return 3; },
                        [](const op::PutMember&) { return 4; },  // a backend is a member before
                        [](const op::PutSlots&) { return 5; },   // it is in a slot, and in a slot
                        // Ranges and port marks are there before an entry uses them.
                        [](const op::PutSourceRange&) { return 6; },
                        [](const op::MarkPort&) { return 7; },
                        [](const op::PutService&) { return 8; },  // before a service points at it
                        [](const op::DeleteService&) { return 9; },
                        [](const op::PutVip&) { return 10; },
                        [](const op::DeleteVip&) { return 11; },
                        [](const op::WaitForReaders&) { return 12; },
                        [](const op::ClearSlots&) { return 13; },
                        [](const op::DeleteMember&) { return 14; },
                        [](const op::DeleteSourceRange&) { return 15; },
                        [](const op::DeleteMeta&) { return 16; },
                        [](const op::DeleteBackend&) { return 17; },
                    },
                    op);
}

constexpr int kPhases = 18;

// A vector of each kind of operation.
template <class Variant>
struct RunsOf;
template <class... Ops>
struct RunsOf<std::variant<Ops...>> {
  using type = std::tuple<std::vector<Ops>...>;
};

// Operations grouped by phase as they are planned, in the order they came
// within each: the plan's order without sorting a large plan. Each kind is
// kept as itself until the plan is assembled: a MapOp is as large as its
// largest kind (a member is 12 bytes, a MapOp 48), and a large plan's
// memory is costly to touch.
class Phased {
 public:
  template <class Op>
  void push_back(Op op) {
    std::get<std::vector<Op>>(runs_).push_back(std::move(op));
  }
  // Room for n operations of kind Op: a large plan's runs then grow in
  // place instead of being copied at each doubling (room reserved and
  // never used is never touched).
  template <class Op>
  void reserve(size_t n) {
    std::get<std::vector<Op>>(runs_).reserve(n);
  }
  bool empty() const { return size() == 0; }
  size_t size() const {
    return std::apply([](const auto&... run) { return (run.size() + ...); }, runs_);
  }
  // Appends every operation to ops, phase by phase.
  void moveTo(std::vector<MapOp>& ops) {
    for (int p = 0; p < kPhases; ++p)
      std::apply([&](auto&... run) { (moveRun(run, p, ops), ...); }, runs_);
  }

 private:
  template <class Op>
  static void moveRun(std::vector<Op>& run, int p, std::vector<MapOp>& ops) {
    if (run.empty() || phase(MapOp(std::in_place_type<Op>)) != p) return;
    for (auto& o : run) ops.emplace_back(std::in_place_type<Op>, std::move(o));
    run = {};
  }
  RunsOf<MapOp>::type runs_;
};

std::string tooManySlots(uint64_t needed, uint32_t size) {
  return "too many backend slots: the update needs " + std::to_string(needed) +
         ", the table holds " + std::to_string(size) + " (--max-slots, set at load)";
}

ServiceMeta metaOf(const DesiredService& d) { return {d.ns, d.name, d.portName, d.policy}; }

}  // namespace

std::map<uint16_t, uint32_t> wantedPortMarks(const CurrentState& state) {
  std::map<uint16_t, uint32_t> marks;
  for (const auto& [key, svc] : state.services) {
    if (key.scope != Scope::kExternal) continue;
    marks[key.port] |= SVCR_PORT_F_FRONTEND;
    // Members and slots are the same set once a plan is complete; both, in
    // case one was interrupted.
    auto backend = [&](uint32_t id) {
      if (auto it = state.backends.find(id); it != state.backends.end())
        marks[it->second.port] |= SVCR_PORT_F_BACKEND;
    };
    for (uint32_t id : svc.slots) backend(id);
    for (const auto& [id, reason] : svc.members) backend(id);
  }
  return marks;
}

namespace {

// Plans the service entries in `keys` (every entry when null): the rest of
// `want` is taken to be what `cur` holds already.
Result<Plan> plan(const CurrentState& cur, const DesiredState& want, const Capacity& cap,
                  const std::set<ServiceKey>* keys) {
  Plan plan;
  plan.base = &cur;
  StateDelta& delta = plan.delta;
  std::optional<StateIndex> own;
  if (!cur.index) own = buildIndex(cur);
  const StateIndex& x = cur.index ? *cur.index : *own;
  Phased publish, cleanup;  // before and after the readers' grace period

  // The entries to plan: wanted ones, then ones no longer wanted.
  std::vector<const ServiceKey*> wantedKeys, goneKeys;
  auto consider = [&](const ServiceKey& key) {
    if (want.services.contains(key))
      wantedKeys.push_back(&key);
    else if (cur.services.contains(key))
      goneKeys.push_back(&key);
  };
  if (keys) {
    for (const auto& key : *keys) consider(key);
  } else {
    for (const auto& [key, d] : want.services) wantedKeys.push_back(&key);
    for (const auto& [key, c] : cur.services)
      if (!want.services.contains(key)) goneKeys.push_back(&key);
  }

  // Backends: one id per address, shared by every service that uses it. The
  // references the planned entries drop and take decide which come and go.
  // Each reference taken (+1) or dropped (-1), summed per id at the end.
  std::vector<std::pair<uint32_t, int32_t>> refEvents;
  // The id of each backend of the planned entries, in their order, where
  // the table has its address already (0 where it does not: `added`).
  std::vector<uint32_t> knownIds;
  std::vector<BackendAddr> added;  // addresses the table does not have yet, sorted, once each
  size_t wantedBackends = 0;
  for (const ServiceKey* key : wantedKeys) wantedBackends += want.services.at(*key).backends.size();
  knownIds.reserve(wantedBackends);
  for (const ServiceKey* key : wantedKeys)
    for (const auto& b : want.services.at(*key).backends) {
      auto it = x.backendIds.find(b.addr);
      knownIds.push_back(it == x.backendIds.end() ? 0 : it->second);
      if (it == x.backendIds.end()) added.push_back(b.addr);
    }
  std::ranges::sort(added);
  added.erase(std::ranges::unique(added).begin(), added.end());
  std::vector<uint32_t> addedIds;  // the id given to added[i]
  addedIds.reserve(added.size());
  // At most this many of each kind are published.
  publish.reserve<op::ResetBackendStats>(added.size());
  publish.reserve<op::PutBackend>(added.size());
  publish.reserve<op::PutMember>(wantedBackends);
  publish.reserve<op::ResetService>(wantedKeys.size());
  publish.reserve<op::PutMeta>(wantedKeys.size());
  publish.reserve<op::PutSlots>(wantedKeys.size());
  publish.reserve<op::PutService>(wantedKeys.size());
  publish.reserve<op::PutVip>(wantedKeys.size() + goneKeys.size());
  IdAllocator backendIds([&](uint32_t id) { return cur.backends.contains(id); },
                         x.firstFreeBackendId, cap.backends);
  for (const auto& addr : added) {
    auto id = backendIds.take();
    if (!id) return fail("too many backends: the table holds " + std::to_string(cap.backends - 1) +
                         " (--max-backends, set at load)");
    addedIds.push_back(*id);
    publish.push_back(op::ResetBackendStats{*id});
    publish.push_back(op::PutBackend{*id, addr});
    delta.backends[*id] = addr;
  }
  // The id of the next backend of the planned entries, in the order above.
  size_t nextBackend = 0;
  auto idOf = [&](const BackendAddr& addr) {
    if (uint32_t id = knownIds[nextBackend++]) return id;
    return addedIds[std::ranges::lower_bound(added, addr) - added.begin()];
  };

  // Ids that strays of an interrupted update still carry stay taken until
  // this plan's cleanup has deleted them.
  std::set<uint32_t> strayIds = cur.strayMetas;
  for (const auto& [svc, backend] : cur.strayMembers) strayIds.insert(svc);
  for (const auto& [svc, range] : cur.straySourceRanges) strayIds.insert(svc);
  IdAllocator serviceIds(
      [&](uint32_t id) { return x.serviceIds.contains(id) || strayIds.contains(id); },
      x.firstFreeServiceId, cap.services);
  SlotAllocator slots(cap.slots, x.slotRanges, x.slotHint);
  uint64_t slotsNeeded = x.slotsUsed;
  size_t membersInUse = x.members;
  // Source ranges are added before the ones they replace are deleted.
  size_t rangesInUse = x.sourceRanges + cur.straySourceRanges.size();

  // Port marks: the bits the planned external entries need that the
  // table does not have yet, set before any flip.
  std::map<uint16_t, uint32_t> newMarks;
  auto mark = [&](uint16_t port, uint32_t bits) {
    auto have = cur.portMarks.find(port);
    uint32_t missing = bits & ~(have == cur.portMarks.end() ? 0u : have->second);
    if (missing) newMarks[port] |= missing;
  };

  for (const ServiceKey* keyp : wantedKeys) {
    const ServiceKey& key = *keyp;
    const DesiredService& d = want.services.at(key);
    std::vector<uint32_t> ids;
    ids.reserve(d.backends.size());
    std::map<uint32_t, uint8_t> members;
    for (const auto& b : d.backends) {
      ids.push_back(idOf(b.addr));
      members[ids.back()] = b.reason;
    }
    ServiceMeta meta = metaOf(d);
    auto found = cur.services.find(key);
    const CurrentService* c = found == cur.services.end() ? nullptr : &found->second;

    ServiceEntry entry;
    entry.count = static_cast<uint16_t>(ids.size());
    entry.affinity = d.affinity;
    entry.affinityTimeoutSec = d.affinity ? d.affinityTimeoutSec : 0;
    entry.sourceRanges = !d.sourceRanges.empty();
    entry.dropEmpty = d.dropWhenEmpty;
    if (key.scope == Scope::kExternal) {
      mark(key.port, SVCR_PORT_F_FRONTEND);
      for (const auto& b : d.backends) mark(b.addr.port, SVCR_PORT_F_BACKEND);
    }
    if (c) {
      entry.id = c->entry.id;
      entry.gen = c->entry.gen;
    } else {
      auto id = serviceIds.take();
      if (!id)
        return fail("too many service entries: the table holds " +
                    std::to_string(cap.services - 1) + " (--max-services, set at load)");
      entry.id = *id;
      publish.push_back(op::ResetService{*id});
    }
    if (!c || c->meta != meta) publish.push_back(op::PutMeta{entry.id, std::make_shared<const ServiceMeta>(meta)});

    // Members first: a reader that finds a backend in the new slots can
    // already confirm it belongs to the service.
    for (const auto& [id, reason] : members) {
      auto old = c ? c->members.find(id) : decltype(c->members.find(id)){};
      if (!c || old == c->members.end() || old->second != reason) {
        if (!c || old == c->members.end()) {
          ++membersInUse;
          refEvents.emplace_back(id, 1);
        }
        publish.push_back(op::PutMember{entry.id, id, reason});
      }
    }
    // Ranges before the flip that needs them; the ones it no longer has
    // are deleted after the grace period below.
    for (const auto& range : d.sourceRanges)
      if (!c || !c->sourceRanges.contains(range)) {
        ++rangesInUse;
        publish.push_back(op::PutSourceRange{entry.id, range});
      }
    bool setChanged = !c || c->slots != ids;
    if (c && setChanged) entry.gen = static_cast<uint16_t>(c->entry.gen + 1);
    if (setChanged) {
      entry.slotBase = 0;
      if (!ids.empty()) {
        slotsNeeded += ids.size();
        auto base = slots.take(static_cast<uint32_t>(ids.size()));
        if (!base) return fail(tooManySlots(slotsNeeded, cap.slots));
        entry.slotBase = *base;
        std::vector<op::SlotBackend> backends;
        for (size_t i = 0; i < ids.size(); ++i) backends.push_back({ids[i], d.backends[i].addr});
        publish.push_back(op::PutSlots{*base, entry.id, entry.gen, std::move(backends)});
      }
    } else {
      entry.slotBase = c->entry.slotBase;
    }
    if (!c || c->entry != entry) publish.push_back(op::PutService{key, entry});

    if (c) {
      if (setChanged && c->entry.count)
        cleanup.push_back(op::ClearSlots{c->entry.slotBase, c->entry.count});
      for (const auto& [id, reason] : c->members)
        if (!members.contains(id)) {
          cleanup.push_back(op::DeleteMember{entry.id, id});
          refEvents.emplace_back(id, -1);
        }
      for (const auto& range : c->sourceRanges)
        if (!d.sourceRanges.contains(range))
          cleanup.push_back(op::DeleteSourceRange{entry.id, range});
    }
    bool changed = !c || setChanged || c->entry != entry || c->meta != meta ||
                   c->sourceRanges != d.sourceRanges;
    if (changed) {  // formatted only then: most services of a large table are unchanged
      std::string what = describe(meta, key) + " (" + std::to_string(ids.size()) + " backends)";
      plan.changes.push_back((c ? "~ " : "+ ") + what);
      delta.services[key] = CurrentService{entry, std::move(meta), std::move(ids),
                                           std::move(members), d.sourceRanges};
    } else if (c->members != members) {
      delta.services[key] = CurrentService{entry, std::move(meta), std::move(ids),
                                           std::move(members), d.sourceRanges};
    }
  }
  if (membersInUse > cap.slots) return fail(tooManySlots(membersInUse, cap.slots));
  if (rangesInUse > cap.sourceRanges)
    return fail("too many load balancer source ranges: the update needs " +
                std::to_string(rangesInUse) + ", the table holds " +
                std::to_string(cap.sourceRanges));
  for (const auto& [port, bits] : newMarks) {
    publish.push_back(op::MarkPort{port, bits});
    delta.portMarks[port] = bits;
  }

  // Services that are no longer wanted: unpublish now, free after the grace period.
  for (const ServiceKey* keyp : goneKeys) {
    const ServiceKey& key = *keyp;
    const CurrentService& c = cur.services.at(key);
    publish.push_back(op::DeleteService{key});
    if (c.entry.count) cleanup.push_back(op::ClearSlots{c.entry.slotBase, c.entry.count});
    for (const auto& [id, reason] : c.members) {
      cleanup.push_back(op::DeleteMember{c.entry.id, id});
      refEvents.emplace_back(id, -1);
    }
    for (const auto& range : c.sourceRanges)
      cleanup.push_back(op::DeleteSourceRange{c.entry.id, range});
    cleanup.push_back(op::DeleteMeta{c.entry.id});
    plan.changes.push_back("- " + describe(c.meta, key));
    delta.services[key] = std::nullopt;
  }

  // VIPs, for refusing ports a service does not define: the counts of the
  // VIPs of planned entries change.
  // Only ClusterIPs are VIPs: a node address or an external IP also
  // carries traffic that is none of ours.
  std::map<IpAddr, int64_t> vipChange;
  auto isVip = [](const ServiceKey& key) { return key.scope == Scope::kCluster; };
  if (keys) {
    for (const ServiceKey* key : wantedKeys)
      if (isVip(*key) && !cur.services.contains(*key)) ++vipChange[key->vip];
    for (const ServiceKey* key : goneKeys)
      if (isVip(*key)) --vipChange[key->vip];
  }
  for (const auto& [vip, change] : vipChange) {
    auto it = cur.vips.find(vip);
    uint32_t before = it == cur.vips.end() ? 0 : it->second;
    uint32_t after = static_cast<uint32_t>(int64_t{before} + change);
    if (after == before) continue;
    delta.vips[vip] = after;
    if (after)
      publish.push_back(op::PutVip{vip, after});
    else
      publish.push_back(op::DeleteVip{vip});
  }
  if (!keys) {
    // A full plan counts them all, which also puts right what an
    // interrupted update left.
    std::map<IpAddr, uint32_t> vips;
    for (const auto& [key, d] : want.services)
      if (isVip(key)) ++vips[key.vip];
    for (const auto& [vip, n] : vips) {
      auto it = cur.vips.find(vip);
      if (it == cur.vips.end() || it->second != n) {
        publish.push_back(op::PutVip{vip, n});
        delta.vips[vip] = n;
      }
    }
    for (const auto& [vip, n] : cur.vips)
      if (!vips.contains(vip)) {
        publish.push_back(op::DeleteVip{vip});
        delta.vips[vip] = 0;
      }
  }

  // Backends no service refers to any more, or never did (left by an
  // interrupted update): deleted after the grace period.
  // A full plan looks at every backend; one for a few entries only at those
  // whose references it changed (orphans of an interrupted update wait for
  // a full plan, which the agent makes after adopting or failing).
  auto drop = [&](uint32_t id, int64_t after) {
    if (after > 0) return;
    cleanup.push_back(op::DeleteBackend{id});
    delta.backends[id] = std::nullopt;
  };
  // The change of each id's references, by id.
  std::ranges::sort(refEvents);
  std::vector<std::pair<uint32_t, int64_t>> refChange;
  for (const auto& [id, change] : refEvents) {
    if (refChange.empty() || refChange.back().first != id) refChange.emplace_back(id, 0);
    refChange.back().second += change;
  }
  refEvents = {};
  if (keys) {
    for (const auto& [id, change] : refChange) {
      auto refs = x.backendRefs.find(id);
      if (refs != x.backendRefs.end()) drop(id, int64_t{refs->second} + change);
    }
  } else {
    auto change = refChange.begin();  // both sorted by id: one walk
    for (const auto& [id, refs] : x.backendRefs) {
      while (change != refChange.end() && change->first < id) ++change;
      drop(id, int64_t{refs} + (change != refChange.end() && change->first == id ? change->second : 0));
    }
  }
  for (const auto& [svc, backend] : cur.strayMembers)
    cleanup.push_back(op::DeleteMember{svc, backend});
  for (uint32_t id : cur.strayMetas) cleanup.push_back(op::DeleteMeta{id});
  for (const auto& [svc, range] : cur.straySourceRanges)
    cleanup.push_back(op::DeleteSourceRange{svc, range});

  // Grouped by kind, so the table can write each group in one batch. Every
  // service's members and slots still precede every flip.
  plan.ops.reserve(publish.size() + 1 + cleanup.size());
  publish.moveTo(plan.ops);
  if (!cleanup.empty()) {
    plan.ops.push_back(op::WaitForReaders{});
    cleanup.moveTo(plan.ops);
  }
  return plan;
}

}  // namespace

Result<Plan> planUpdate(const CurrentState& cur, const DesiredState& want, const Capacity& cap) {
  return plan(cur, want, cap, nullptr);
}

Result<Plan> planChanges(const CurrentState& cur, const DesiredState& want,
                         const std::set<ServiceKey>& keys, const Capacity& cap) {
  return plan(cur, want, cap, &keys);
}

}  // namespace svcrouter
