// The table's instruction set: what the kernel's maps hold (CurrentState),
// and the ordered operations that change them (Plan). The planner
// (userspace/core/planner.h) produces plans; maps::Table executes them. Pure
// data, no kernel access; vocabulary shared by every layer, so it lives in
// the namespace svcrouter. The protocol the operations follow (flip, grace
// period, slot ownership) is described once, in DEVELOPING.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "maps/addr.h"
#include "maps/compact_map.h"
#include "maps/layout/service.h"

namespace svcrouter {

// A service's internalTrafficPolicy (Kubernetes), kept beside its entry for `list`.
enum class TrafficPolicy { kCluster, kLocal };

// Names of a service entry, stored beside it so a restarted agent can adopt it.
struct ServiceMeta {
  std::string ns, name, portName;
  TrafficPolicy policy = TrafficPolicy::kCluster;
  bool operator==(const ServiceMeta&) const = default;
};

// "ns/name" or "ns/name:port-name".
std::string describe(const ServiceMeta& meta);

// The flip value of a service entry (struct svcr_svc_value).
struct ServiceEntry {
  uint32_t id = 0;
  uint16_t count = 0;
  uint16_t gen = 0;
  bool affinity = false;
  uint32_t affinityTimeoutSec = 0;
  uint32_t slotBase = 0;  // the set is slots [slotBase, slotBase + count)
  // Only clients in the entry's svcr_src_ranges may open a flow
  // (SVCR_SVC_F_SOURCE_RANGES: loadBalancerSourceRanges).
  bool sourceRanges = false;
  // With no backend, packets are dropped rather than refused
  // (SVCR_SVC_F_DROP_EMPTY: externalTrafficPolicy: Local, none on this node).
  bool dropEmpty = false;
  bool operator==(const ServiceEntry&) const = default;
};

// One service entry as read back from the kernel.
struct CurrentService {
  ServiceEntry entry;
  ServiceMeta meta;
  std::vector<uint32_t> slots;          // backend ids of the live generation, in order
  FlatMap<uint32_t, uint8_t> members;   // backend id -> SVCR_REASON_* bits
  std::set<IpCidr> sourceRanges;        // its id's svcr_src_ranges entries
};

// Map capacities a plan must fit in: the kernel's max_entries, set at load
// (--max-services, --max-backends, --max-slots).
struct Capacity {
  uint32_t services = SVCR_MAX_SERVICES, backends = SVCR_MAX_BACKENDS, slots = SVCR_MAX_SLOTS;
  uint32_t sourceRanges = SVCR_MAX_SRC_RANGES;
};
// The sizes maps get when nobody asks for others.
inline Capacity defaultCapacity() { return {}; }

// Lookups the planner needs in a large table, derived from a CurrentState
// (buildIndex) and kept up to date with it (applyDelta), so that a plan for
// a few services costs no walk over all of them.
struct StateIndex {
  struct AddrHash {
    size_t operator()(const BackendAddr& b) const {
      uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a final mix
      for (uint8_t byte : b.addr.bytes()) h = (h ^ byte) * 0x100000001b3ULL;
      h = (h ^ b.port ^ (uint64_t{static_cast<uint8_t>(b.protocol)} << 16)) * 0x100000001b3ULL;
      h ^= h >> 33;
      h *= 0xff51afd7ed558ccdULL;
      return static_cast<size_t>(h ^ (h >> 33));
    }
  };
  HashMap<BackendAddr, uint32_t, AddrHash> backendIds;  // address -> backend id
  IdMap<uint32_t> backendRefs;                          // backend id -> services it is a member of
  std::set<uint32_t> serviceIds;               // ids of live service entries
  std::map<uint32_t, uint32_t> slotRanges;     // slot base -> count, of live entries
  uint64_t slotsUsed = 0;                      // their total
  size_t members = 0;                          // memberships of live entries
  size_t sourceRanges = 0;                     // source ranges of live entries
  // Where the searches for a free id or range start, so that one change
  // does not walk every id and range in use: every backend id and service
  // id below the first two is in use; the slot search starts after the
  // range placed last.
  uint32_t firstFreeBackendId = 1;
  uint32_t firstFreeServiceId = 1;
  uint32_t slotHint = 0;
};

// Everything the kernel's maps hold, keyed the way the planner needs it.
struct CurrentState {
  std::map<ServiceKey, CurrentService> services;
  IdMap<BackendAddr> backends;               // backend id -> address
  std::map<IpAddr, uint32_t> vips;           // VIP -> number of service entries
  // svcr_ports: port -> SVCR_PORT_F_* bits, the ports that have any. Plans
  // only add bits; a conntrack sweeper clears those nobody uses any more.
  std::map<uint16_t, uint32_t> portMarks;
  // Left behind by an update that was interrupted (the agent can die at any
  // point); the next plan deletes them after the readers' grace period.
  // (Slot ranges cannot leak: a range no service points at is free.)
  std::set<std::pair<uint32_t, uint32_t>> strayMembers;     // (svc, backend)
  std::set<uint32_t> strayMetas;                            // service ids
  std::set<std::pair<uint32_t, IpCidr>> straySourceRanges;  // (svc, range)
  // Derived lookups, when someone keeps them (maps::Table does); the
  // planner derives its own from the above when they are absent.
  std::optional<StateIndex> index;
};

StateIndex buildIndex(const CurrentState& state);

// What a plan changes in the state, once all of it is applied: the table
// applies it to the state it keeps instead of reading the kernel back.
struct StateDelta {
  std::map<ServiceKey, std::optional<CurrentService>> services;  // nullopt: gone
  std::map<uint32_t, std::optional<BackendAddr>> backends;       // nullopt: gone
  std::map<IpAddr, uint32_t> vips;                               // new counts; 0: gone
  std::map<uint16_t, uint32_t> portMarks;                        // new bits of a port
};

// The state after `delta` (strays are gone: every plan deletes them).
void applyDelta(CurrentState& state, const StateDelta& delta);

// ---- Map operations, applied in order by maps::Table ------------------------
namespace op {
struct PutBackend {
  uint32_t id;
  BackendAddr addr;
};
struct ResetBackendStats {
  uint32_t id;
};
// Zeroes a new service id's round-robin cursor and counters.
struct ResetService {
  uint32_t id;
};
// The names are shared, not held: they would make every operation of a
// plan (a variant as large as its largest kind) twice as large.
struct PutMeta {
  uint32_t id;
  std::shared_ptr<const ServiceMeta> meta;
};
struct PutMember {
  uint32_t svcId, backendId;
  uint8_t reason;
};
struct SlotBackend {
  uint32_t id;
  BackendAddr addr;
};
// Writes a backend set into a range no service entry points at, each slot
// naming the entry (service id, generation) it is written for.
struct PutSlots {
  uint32_t base;
  uint32_t svcId;
  uint16_t gen;
  std::vector<SlotBackend> backends;
};
// The flip: points the service at its (new) range.
struct PutService {
  ServiceKey key;
  ServiceEntry entry;
};
struct PutVip {
  IpAddr vip;
  uint32_t ports;
};
// Sets bits (SVCR_PORT_F_*) of a port in svcr_ports, keeping those it has:
// before any entry can send a packet through the port.
struct MarkPort {
  uint16_t port;  // host order
  uint32_t flags;
};
// A loadBalancerSourceRange of a service entry (svcr_src_ranges): written
// before the flip that sets SVCR_SVC_F_SOURCE_RANGES on the entry, deleted
// after the grace period that follows the flip that clears it (or deletes
// the entry).
struct PutSourceRange {
  uint32_t svcId;
  IpCidr range;
};
// Waits until no BPF program can still hold a value replaced above.
struct WaitForReaders {};
struct DeleteService {
  ServiceKey key;
};
struct DeleteVip {
  IpAddr vip;
};
// Clears a range no service entry points at any more.
struct ClearSlots {
  uint32_t base;
  uint32_t count;
};
struct DeleteMember {
  uint32_t svcId, backendId;
};
struct DeleteMeta {
  uint32_t id;
};
struct DeleteBackend {
  uint32_t id;
};
struct DeleteSourceRange {
  uint32_t svcId;
  IpCidr range;
};
}  // namespace op

using MapOp =
    std::variant<op::PutBackend, op::ResetBackendStats, op::ResetService, op::PutMeta,
                 op::PutMember, op::PutSlots, op::PutService, op::PutVip, op::WaitForReaders,
                 op::DeleteService, op::DeleteVip, op::ClearSlots, op::DeleteMember, op::DeleteMeta,
                 op::DeleteBackend, op::MarkPort, op::PutSourceRange, op::DeleteSourceRange>;

struct Plan {
  std::vector<MapOp> ops;
  // Human summary for logs: "+ default/web 10.96.0.10:80/TCP (3 backends)".
  std::vector<std::string> changes;
  // What the operations change, and the state they were planned from: the
  // table that keeps that state applies the delta to it.
  StateDelta delta;
  const CurrentState* base = nullptr;
  bool empty() const { return ops.empty(); }
};

// "frontend", "backend", "frontend,backend": SVCR_PORT_F_* bits by name.
std::string portMarkNames(uint32_t flags);

// One-line description of an operation, for logs and tests.
std::string describe(const MapOp& op);

// "ns/name:port 10.96.0.10:80/TCP": how plans, logs and reports name a
// service entry.
std::string describe(const ServiceMeta& meta, const ServiceKey& key);

// Visits a MapOp (or any variant) with one lambda per alternative.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

}  // namespace svcrouter
