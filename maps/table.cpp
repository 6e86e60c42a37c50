#include "maps/table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <span>

#include "svcr_sock.skel.h"

namespace svcrouter::maps {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};

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
  v.flags = e.affinity ? SVCR_SVC_F_AFFINITY : 0;
  v.affinity_timeout = e.affinityTimeoutSec;
  v.slot_base = e.slotBase;
  return v;
}

ServiceEntry fromKernel(const svcr_svc_value& v) {
  return {v.id,       v.count, v.gen, (v.flags & SVCR_SVC_F_AFFINITY) != 0, v.affinity_timeout,
          v.slot_base};
}

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
  return k;
}

ServiceKey fromKernel(const svcr_svc_key& k) {
  return {fromKernel(k.vip), ntohs(k.port), static_cast<Protocol>(k.proto)};
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

Result<Table> Table::from(const svcr_sock& skel) {
  Table t;
  const auto& m = skel.maps;
  SVCR_ASSIGN_OR_RETURN(t.services_,
                        (TypedMap<svcr_svc_key, svcr_svc_value>::from(m.svcr_services)));
  SVCR_ASSIGN_OR_RETURN(t.vips_, (TypedMap<svcr_addr, svcr_vip>::from(m.svcr_vips)));
  SVCR_ASSIGN_OR_RETURN(t.slots_, (TypedMap<uint32_t, svcr_slot>::from(m.svcr_slots)));
  SVCR_ASSIGN_OR_RETURN(t.backends_, (TypedMap<uint32_t, svcr_backend>::from(m.svcr_backends)));
  SVCR_ASSIGN_OR_RETURN(t.members_, (TypedMap<svcr_member_key, svcr_member>::from(m.svcr_members)));
  SVCR_ASSIGN_OR_RETURN(t.rr_, (TypedMap<uint32_t, uint64_t>::from(m.svcr_rr)));
  SVCR_ASSIGN_OR_RETURN(t.meta_, (TypedMap<uint32_t, svcr_svc_meta>::from(m.svcr_svc_meta)));
  SVCR_ASSIGN_OR_RETURN(t.serviceStats_, PerCpuArray<svcr_svc_stats>::from(m.svcr_svc_stats));
  SVCR_ASSIGN_OR_RETURN(t.backendStats_, PerCpuArray<svcr_backend_stats>::from(m.svcr_be_stats));
  return t;
}

Result<CurrentState> Table::read() const {
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

  SVCR_ASSIGN_OR_RETURN(auto backends, backends_.entries());
  for (const auto& [id, b] : backends) state.backends[id] = fromKernel(b);
  SVCR_ASSIGN_OR_RETURN(auto vips, vips_.entries());
  for (const auto& [a, v] : vips) state.vips[fromKernel(a)] = v.ports;
  return state;
}

Result<void> Table::apply(const Plan& plan) {
  const auto& ops = plan.ops;
  if (ops.empty()) return {};
  if (!settled_) SVCR_RETURN_IF_ERROR(barrier_.wait());
  settled_ = false;
  for (size_t i = 0, j; i < ops.size(); i = j) {
    // A run of operations of one kind (the plan groups them) is one batch.
    for (j = i + 1; j < ops.size() && ops[j].index() == ops[i].index();) ++j;
    auto r = applyRun(std::span(ops).subspan(i, j - i));
    if (!r) {
      std::string what =
          describe(ops[i]) +
          (j - i > 1 ? " and " + std::to_string(j - i - 1) + " more of its kind" : "");
      return fail(r.error().what + " (while applying: " + what + ")", r.error().err);
    }
  }
  settled_ = true;
  return {};
}

namespace {

// The operations of a run, all of kind T.
template <typename T>
std::vector<const T*> as(std::span<const MapOp> run) {
  std::vector<const T*> out;
  for (const auto& op : run) out.push_back(&std::get<T>(op));
  return out;
}

}  // namespace

Result<void> Table::applyRun(std::span<const MapOp> run) {
  if (std::holds_alternative<op::PutBackend>(run[0])) {
    std::vector<uint32_t> ids;
    std::vector<svcr_backend> values;
    for (const auto* o : as<op::PutBackend>(run)) {
      ids.push_back(o->id);
      values.push_back(toKernel(o->addr, o->id));
    }
    return backends_.updateAll(ids, values);
  }
  if (std::holds_alternative<op::ResetBackendStats>(run[0])) {
    std::vector<uint32_t> ids;
    for (const auto* o : as<op::ResetBackendStats>(run)) ids.push_back(o->id);
    return backendStats_.fillAll(ids, {});
  }
  if (std::holds_alternative<op::ResetService>(run[0])) {
    std::vector<uint32_t> ids;
    for (const auto* o : as<op::ResetService>(run)) ids.push_back(o->id);
    SVCR_RETURN_IF_ERROR(rr_.updateAll(ids, std::vector<uint64_t>(ids.size(), 0)));
    return serviceStats_.fillAll(ids, {});
  }
  if (std::holds_alternative<op::PutMeta>(run[0])) {
    std::vector<uint32_t> ids;
    std::vector<svcr_svc_meta> values;
    for (const auto* o : as<op::PutMeta>(run)) {
      ids.push_back(o->id);
      values.push_back(toKernel(o->meta));
    }
    return meta_.updateAll(ids, values);
  }
  if (std::holds_alternative<op::PutMember>(run[0])) {
    std::vector<svcr_member_key> keys;
    std::vector<svcr_member> values;
    for (const auto* o : as<op::PutMember>(run)) {
      keys.push_back({o->svcId, o->backendId});
      values.push_back(svcr_member{o->reason, {}});
    }
    return members_.updateAll(keys, values);
  }
  if (std::holds_alternative<op::PutSlots>(run[0])) {
    std::vector<uint32_t> indices;
    std::vector<svcr_slot> values;
    for (const auto* o : as<op::PutSlots>(run))
      for (uint32_t i = 0; i < o->backends.size(); ++i) {
        indices.push_back(o->base + i);
        values.push_back({toKernel(o->backends[i].addr, o->backends[i].id), o->svcId, o->gen, 0});
      }
    return slots_.updateAll(indices, values);
  }
  if (std::holds_alternative<op::PutService>(run[0])) {
    std::vector<svcr_svc_key> keys;
    std::vector<svcr_svc_value> values;
    for (const auto* o : as<op::PutService>(run)) {
      keys.push_back(toKernel(o->key));
      values.push_back(toKernel(o->entry));
    }
    return services_.updateAll(keys, values);
  }
  if (std::holds_alternative<op::PutVip>(run[0])) {
    std::vector<svcr_addr> keys;
    std::vector<svcr_vip> values;
    for (const auto* o : as<op::PutVip>(run)) {
      keys.push_back(toKernel(o->vip));
      values.push_back(svcr_vip{o->ports});
    }
    return vips_.updateAll(keys, values);
  }
  for (const auto& op : run) SVCR_RETURN_IF_ERROR(applyOne(op));
  return {};
}

// Deletions and the barrier, one at a time; writes go through applyRun.
Result<void> Table::applyOne(const MapOp& mapOp) {
  return std::visit(
      Overloaded{
          [&](const op::WaitForReaders&) { return barrier_.wait(); },
          [&](const op::DeleteService& o) { return services_.erase(toKernel(o.key)); },
          [&](const op::DeleteVip& o) { return vips_.erase(toKernel(o.vip)); },
          [&](const op::ClearSlots& o) -> Result<void> {
            for (uint32_t i = 0; i < o.count; ++i)
              SVCR_RETURN_IF_ERROR(slots_.update(o.base + i, svcr_slot{}));
            return {};
          },
          [&](const op::DeleteMember& o) {
            return members_.erase({o.svcId, o.backendId});
          },
          [&](const op::DeleteMeta& o) { return meta_.erase(o.id); },
          [&](const op::DeleteBackend& o) { return backends_.erase(o.id); },
          [&](const auto&) { return applyRun(std::span(&mapOp, 1)); },
      },
      mapOp);
}

Result<ServiceCounters> Table::serviceCounters(uint32_t serviceId) const {
  SVCR_ASSIGN_OR_RETURN(auto perCpu, serviceStats_.lookup(serviceId));
  ServiceCounters total;
  for (const auto& c : perCpu) {
    total.connections += c.connections;
    total.refused += c.refused;
  }
  return total;
}

Result<uint64_t> Table::backendConnections(uint32_t backendId) const {
  SVCR_ASSIGN_OR_RETURN(auto perCpu, backendStats_.lookup(backendId));
  uint64_t total = 0;
  for (const auto& c : perCpu) total += c.connections;
  return total;
}

}  // namespace svcrouter::maps
