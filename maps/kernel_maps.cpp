#include "maps/kernel_maps.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <span>

namespace svcrouter::maps {
namespace {

// svcr_ports is indexed by every port number.
constexpr uint32_t kPorts = 65536;

template <size_t N>
void copyName(char (&dst)[N], const std::string& src) {
  std::memset(dst, 0, N);
  std::memcpy(dst, src.data(), std::min(src.size(), N - 1));
}

template <size_t N>
std::string nameOf(const char (&src)[N]) {
  return std::string(src, strnlen(src, N));
}

svcr_svc_value toKernel(const ServiceEntry& e) {
  svcr_svc_value v{};
  v.id = e.id;
  v.count = e.count;
  v.gen = e.gen;
  v.flags = (e.affinity ? SVCR_SVC_F_AFFINITY : 0) |
            (e.sourceRanges ? SVCR_SVC_F_SOURCE_RANGES : 0) |
            (e.dropEmpty ? SVCR_SVC_F_DROP_EMPTY : 0);
  v.affinity_timeout = e.affinityTimeoutSec;
  v.slot_base = e.slotBase;
  return v;
}

ServiceEntry fromKernel(const svcr_svc_value& v) {
  return {.id = v.id,
          .count = v.count,
          .gen = v.gen,
          .affinity = (v.flags & SVCR_SVC_F_AFFINITY) != 0,
          .affinityTimeoutSec = v.affinity_timeout,
          .slotBase = v.slot_base,
          .sourceRanges = (v.flags & SVCR_SVC_F_SOURCE_RANGES) != 0,
          .dropEmpty = (v.flags & SVCR_SVC_F_DROP_EMPTY) != 0};
}

// The id's 32 bits come first in the trie's key.
constexpr uint32_t kIdBits = 32;
// An IPv4 address is the last 32 of the 128 bits (::ffff:a.b.c.d).
constexpr uint32_t kV4Offset = 96;

svcr_svc_meta toKernel(const ServiceMeta& m) {
  svcr_svc_meta k{};
  copyName(k.ns, m.ns);
  copyName(k.name, m.name);
  copyName(k.port_name, m.portName);
  k.policy = m.policy == TrafficPolicy::kLocal ? SVCR_POLICY_LOCAL : SVCR_POLICY_CLUSTER;
  return k;
}

ServiceMeta fromKernel(const svcr_svc_meta& k) {
  return {nameOf(k.ns), nameOf(k.name), nameOf(k.port_name),
          k.policy == SVCR_POLICY_LOCAL ? TrafficPolicy::kLocal : TrafficPolicy::kCluster};
}

}  // namespace

svcr_addr toKernel(const IpAddr& ip) {
  svcr_addr a{};
  std::memcpy(a.w, ip.bytes().data(), sizeof(a.w));
  return a;
}

IpAddr fromKernel(const svcr_addr& a) {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), a.w, b.size());
  return IpAddr::fromBytes(b);
}

svcr_svc_key toKernel(const ServiceKey& key) {
  svcr_svc_key k{};
  k.vip = toKernel(key.vip);
  k.port = htons(key.port);
  k.proto = static_cast<uint8_t>(key.protocol);
  k.scope = static_cast<uint8_t>(key.scope);
  return k;
}

ServiceKey fromKernel(const svcr_svc_key& k) {
  return {fromKernel(k.vip), ntohs(k.port), static_cast<Protocol>(k.proto),
          static_cast<Scope>(k.scope)};
}

svcr_backend toKernel(const BackendAddr& b, uint32_t id) {
  svcr_backend k{};
  k.id = id;
  k.addr = toKernel(b.addr);
  k.port = htons(b.port);
  k.proto = static_cast<uint8_t>(b.protocol);
  return k;
}

BackendAddr fromKernel(const svcr_backend& k) {
  return {fromKernel(k.addr), ntohs(k.port), static_cast<Protocol>(k.proto)};
}

svcr_src_range_key toKernel(uint32_t svcId, const IpCidr& range) {
  svcr_src_range_key k{};
  k.prefixlen = kIdBits + (range.addr.isV4() ? kV4Offset : 0) + range.prefix;
  k.svc_id = svcId;
  k.addr = toKernel(range.addr);
  return k;
}

std::pair<uint32_t, IpCidr> fromKernel(const svcr_src_range_key& k) {
  IpAddr addr = fromKernel(k.addr);
  uint32_t bits = k.prefixlen - kIdBits - (addr.isV4() ? kV4Offset : 0);
  return {k.svc_id, IpCidr{addr, static_cast<uint8_t>(bits)}};
}

Result<std::unique_ptr<KernelMaps>> KernelMaps::from(const ServiceMapHandles& m,
                                                     std::string lockDir) {
  std::unique_ptr<KernelMaps> k(new KernelMaps());
  SVCR_ASSIGN_OR_RETURN(k->services_, (TypedMap<svcr_svc_key, svcr_svc_value>::from(m.services)));
  SVCR_ASSIGN_OR_RETURN(k->vips_, (TypedMap<svcr_addr, svcr_vip>::from(m.vips)));
  SVCR_ASSIGN_OR_RETURN(k->slots_, (TypedMap<uint32_t, svcr_slot>::from(m.slots)));
  SVCR_ASSIGN_OR_RETURN(k->backends_, (TypedMap<uint32_t, svcr_backend>::from(m.backends)));
  SVCR_ASSIGN_OR_RETURN(k->members_, (TypedMap<svcr_member_key, svcr_member>::from(m.members)));
  SVCR_ASSIGN_OR_RETURN(k->rr_, (TypedMap<uint32_t, uint64_t>::from(m.rr)));
  SVCR_ASSIGN_OR_RETURN(k->meta_, (TypedMap<uint32_t, svcr_svc_meta>::from(m.meta)));
  SVCR_ASSIGN_OR_RETURN(k->serviceStats_, PerCpuArray<svcr_svc_stats>::from(m.serviceStats));
  SVCR_ASSIGN_OR_RETURN(k->backendStats_, PerCpuArray<svcr_backend_stats>::from(m.backendStats));
  SVCR_ASSIGN_OR_RETURN(k->epoch_, (TypedMap<uint32_t, uint64_t>::from(m.epoch)));
  SVCR_ASSIGN_OR_RETURN(k->ports_, (TypedMap<uint32_t, svcr_port>::from(m.ports)));
  SVCR_ASSIGN_OR_RETURN(k->srcRanges_, (TypedMap<svcr_src_range_key, uint32_t>::from(m.srcRanges)));
  k->lockDir_ = std::move(lockDir);
  k->capacity_ = {bpf_map__max_entries(m.services), bpf_map__max_entries(m.backends),
                  bpf_map__max_entries(m.slots), bpf_map__max_entries(m.srcRanges)};
  return k;
}

std::function<Result<void>()> KernelMaps::startWaitForReaders() {
  // shared: std::function must be copyable, a future is not.
  auto done = std::make_shared<std::future<Result<void>>>(
      std::async(std::launch::async, [this] { return barrier_.wait(); }));
  return [done] { return done->get(); };
}

Result<uint64_t> KernelMaps::epoch() const {
  SVCR_ASSIGN_OR_RETURN(auto value, epoch_.lookup(0));
  // Another writer was here: it may have handed out ids (and readers
  // counted on them) that this process does not know of.
  if (value.value_or(0) != lastEpoch_) fresh_ = false;
  return value.value_or(0);
}

Result<void> KernelMaps::setEpoch(uint64_t epoch) {
  SVCR_RETURN_IF_ERROR(epoch_.update(0, epoch));
  lastEpoch_ = epoch;
  return {};
}

std::vector<uint32_t> KernelMaps::dirtyIds(const std::vector<uint32_t>& ids,
                                           uint32_t& used) const {
  std::vector<uint32_t> dirty;
  dirty.reserve(fresh_ ? 0 : ids.size());
  for (uint32_t id : ids) {
    if (!fresh_ || id < used) dirty.push_back(id);
    used = std::max(used, id + 1);
  }
  return dirty;
}

Result<TableLock> KernelMaps::lock(LockMode mode) const {
  if (lockDir_.empty()) return TableLock();
  SVCR_ASSIGN_OR_RETURN(auto fd, lockDirectory(lockDir_, mode));
  return TableLock(std::move(fd));
}

Result<CurrentState> KernelMaps::read() const {
  CurrentState state;
  SVCR_ASSIGN_OR_RETURN(auto services, services_.entries());
  std::map<uint32_t, CurrentService*> byId;
  for (const auto& [k, v] : services) {
    auto& svc = state.services[fromKernel(k)];
    svc.entry = fromKernel(v);
    byId[v.id] = &svc;
  }

  SVCR_ASSIGN_OR_RETURN(auto metas, meta_.entries());
  for (const auto& [id, m] : metas) {
    auto it = byId.find(id);
    if (it == byId.end())
      state.strayMetas.insert(id);
    else
      it->second->meta = fromKernel(m);
  }

  for (auto& [key, svc] : state.services) {
    for (uint32_t i = 0; i < svc.entry.count; ++i) {
      SVCR_ASSIGN_OR_RETURN(auto slot, slots_.lookup(svc.entry.slotBase + i));
      bool ours =
          slot && slot->be.id != 0 && slot->svc_id == svc.entry.id && slot->gen == svc.entry.gen;
      // Cannot happen short of a bug; 0 makes the next plan rewrite the range.
      svc.slots.push_back(ours ? slot->be.id : 0);
    }
  }

  SVCR_ASSIGN_OR_RETURN(auto members, members_.entries());
  for (const auto& [k, m] : members) {
    auto it = byId.find(k.svc_id);
    if (it == byId.end())
      state.strayMembers.insert({k.svc_id, k.backend_id});
    else
      it->second->members[k.backend_id] = m.reason;
  }

  SVCR_ASSIGN_OR_RETURN(auto ranges, srcRanges_.entries());
  for (const auto& [k, one] : ranges) {
    auto [id, range] = fromKernel(k);
    auto it = byId.find(id);
    if (it == byId.end())
      state.straySourceRanges.insert({id, range});
    else
      it->second->sourceRanges.insert(range);
  }

  SVCR_ASSIGN_OR_RETURN(auto ports, ports_.arrayValues(kPorts));
  for (uint32_t port = 0; port < ports.size(); ++port)
    if (ports[port].flags) state.portMarks[static_cast<uint16_t>(port)] = ports[port].flags;

  SVCR_ASSIGN_OR_RETURN(auto backends, backends_.entries());
  for (const auto& [id, b] : backends) state.backends[id] = fromKernel(b);
  SVCR_ASSIGN_OR_RETURN(auto vips, vips_.entries());
  for (const auto& [a, v] : vips) state.vips[fromKernel(a)] = v.ports;
  return state;
}

namespace {

// Writes a run of operations of kind T into `map` in one batch; `add` turns
// one operation into the entries it writes.
template <typename T, typename Map, typename Add>
Result<void> writeRun(std::span<const MapOp> run, Map& map, Add add) {
  std::vector<typename Map::Key> keys;
  std::vector<typename Map::Value> values;
  auto put = [&](const typename Map::Key& k, const typename Map::Value& v) {
    keys.push_back(k);
    values.push_back(v);
  };
  for (const auto& op : run) add(std::get<T>(op), put);
  return map.updateAll(keys, values);
}

// Applies `erase` to each operation of a run of kind T.
template <typename T, typename Erase>
Result<void> eraseRun(std::span<const MapOp> run, Erase erase) {
  for (const auto& op : run) SVCR_RETURN_IF_ERROR(erase(std::get<T>(op)));
  return {};
}

}  // namespace

Result<void> KernelMaps::write(std::span<const MapOp> run) {
  return std::visit(
      Overloaded{
          [&](const op::PutBackend&) {
            return writeRun<op::PutBackend>(
                run, backends_, [](const auto& o, auto put) { put(o.id, toKernel(o.addr, o.id)); });
          },
          [&](const op::PutMeta&) {
            return writeRun<op::PutMeta>(
                run, meta_, [](const auto& o, auto put) { put(o.id, toKernel(*o.meta)); });
          },
          [&](const op::PutMember&) {
            return writeRun<op::PutMember>(run, members_, [](const auto& o, auto put) {
              put({o.svcId, o.backendId}, svcr_member{o.reason, {}});
            });
          },
          [&](const op::PutSlots&) {
            return writeRun<op::PutSlots>(run, slots_, [](const auto& o, auto put) {
              for (uint32_t i = 0; i < o.backends.size(); ++i)
                put(o.base + i,
                    {toKernel(o.backends[i].addr, o.backends[i].id), o.svcId, o.gen, 0});
            });
          },
          [&](const op::ClearSlots&) {
            return writeRun<op::ClearSlots>(run, slots_, [](const auto& o, auto put) {
              for (uint32_t i = 0; i < o.count; ++i) put(o.base + i, svcr_slot{});
            });
          },
          [&](const op::PutService&) {
            return writeRun<op::PutService>(run, services_, [](const auto& o, auto put) {
              put(toKernel(o.key), toKernel(o.entry));
            });
          },
          [&](const op::PutVip&) {
            return writeRun<op::PutVip>(run, vips_, [](const auto& o, auto put) {
              put(toKernel(o.vip), svcr_vip{o.ports});
            });
          },
          [&](const op::ResetService&) -> Result<void> {
            std::vector<uint32_t> ids;
            for (const auto& op : run) ids.push_back(std::get<op::ResetService>(op).id);
            ids = dirtyIds(ids, serviceIdsUsed_);
            SVCR_RETURN_IF_ERROR(rr_.updateAll(ids, std::vector<uint64_t>(ids.size(), 0)));
            return serviceStats_.fillAll(ids, {});
          },
          [&](const op::ResetBackendStats&) {
            std::vector<uint32_t> ids;
            for (const auto& op : run) ids.push_back(std::get<op::ResetBackendStats>(op).id);
            return backendStats_.fillAll(dirtyIds(ids, backendIdsUsed_), {});
          },
          // Table::apply waits for readers itself: a run of them is no write.
          [&](const op::WaitForReaders&) -> Result<void> {
            return fail("WaitForReaders is not a map write");
          },
          // Deletions: one at a time.
          [&](const op::DeleteService&) {
            return eraseRun<op::DeleteService>(
                run, [&](const auto& o) { return services_.erase(toKernel(o.key)); });
          },
          [&](const op::DeleteVip&) {
            return eraseRun<op::DeleteVip>(
                run, [&](const auto& o) { return vips_.erase(toKernel(o.vip)); });
          },
          [&](const op::DeleteMember&) {
            return eraseRun<op::DeleteMember>(run, [&](const auto& o) {
              return members_.erase({o.svcId, o.backendId});
            });
          },
          [&](const op::DeleteMeta&) {
            return eraseRun<op::DeleteMeta>(run, [&](const auto& o) { return meta_.erase(o.id); });
          },
          [&](const op::DeleteBackend&) {
            return eraseRun<op::DeleteBackend>(
                run, [&](const auto& o) { return backends_.erase(o.id); });
          },
          [&](const op::MarkPort&) -> Result<void> {
            // Bits are added to what the port has (a sweeper may have
            // cleared some meanwhile, or another plan set them).
            std::map<uint32_t, uint32_t> bits;
            for (const auto& op : run) {
              const auto& o = std::get<op::MarkPort>(op);
              bits[o.port] |= o.flags;
            }
            std::vector<uint32_t> keys;
            std::vector<svcr_port> values;
            for (const auto& [port, add] : bits) {
              SVCR_ASSIGN_OR_RETURN(auto have, ports_.lookup(port));
              keys.push_back(port);
              values.push_back({(have ? have->flags : 0) | add});
            }
            return ports_.updateAll(keys, values);
          },
          [&](const op::PutSourceRange&) {
            return writeRun<op::PutSourceRange>(run, srcRanges_, [](const auto& o, auto put) {
              put(toKernel(o.svcId, o.range), 1u);
            });
          },
          [&](const op::DeleteSourceRange&) {
            return eraseRun<op::DeleteSourceRange>(
                run, [&](const auto& o) { return srcRanges_.erase(toKernel(o.svcId, o.range)); });
          },
      },
      run[0]);
}

Result<ServiceCounters> KernelMaps::serviceCounters(uint32_t serviceId) const {
  SVCR_ASSIGN_OR_RETURN(auto perCpu, serviceStats_.lookup(serviceId));
  ServiceCounters total;
  for (const auto& c : perCpu) {
    total.connections += c.connections;
    total.refused += c.refused;
    total.packets += c.packets;
    total.bytes += c.bytes;
  }
  return total;
}

Result<BackendCounters> KernelMaps::backendCounters(uint32_t backendId) const {
  SVCR_ASSIGN_OR_RETURN(auto perCpu, backendStats_.lookup(backendId));
  BackendCounters total;
  for (const auto& c : perCpu) {
    total.connections += c.connections;
    total.packets += c.packets;
    total.bytes += c.bytes;
  }
  return total;
}

}  // namespace svcrouter::maps
