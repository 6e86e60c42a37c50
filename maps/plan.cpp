#include "maps/plan.h"

#include <sstream>

#include "maps/layout/service.h"

namespace svcrouter {

std::string describe(const ServiceMeta& meta) {
  std::string s = meta.ns + "/" + meta.name;
  if (!meta.portName.empty()) s += ":" + meta.portName;
  return s;
}

std::string describe(const ServiceMeta& meta, const ServiceKey& key) {
  return describe(meta) + " " + describe(key);
}

StateIndex buildIndex(const CurrentState& state) {
  StateIndex x;
  for (const auto& [id, addr] : state.backends) {
    x.backendIds[addr] = id;
    x.backendRefs[id] = 0;
  }
  for (const auto& [key, svc] : state.services) {
    x.serviceIds.insert(svc.entry.id);
    if (svc.entry.count) x.slotRanges[svc.entry.slotBase] = svc.entry.count;
    x.slotsUsed += svc.entry.count;
    x.members += svc.members.size();
    x.sourceRanges += svc.sourceRanges.size();
    for (const auto& [id, reason] : svc.members) ++x.backendRefs[id];
  }
  while (state.backends.contains(x.firstFreeBackendId)) ++x.firstFreeBackendId;
  while (x.serviceIds.contains(x.firstFreeServiceId)) ++x.firstFreeServiceId;
  return x;
}

namespace {

// Counts a service entry into (sign +1) or out of (-1) an index.
void account(StateIndex& x, const CurrentService& svc, int sign) {
  if (sign > 0) {
    x.serviceIds.insert(svc.entry.id);
    if (svc.entry.count) x.slotRanges[svc.entry.slotBase] = svc.entry.count;
    x.slotsUsed += svc.entry.count;
    x.members += svc.members.size();
    x.sourceRanges += svc.sourceRanges.size();
  } else {
    x.serviceIds.erase(svc.entry.id);
    x.firstFreeServiceId = std::min(x.firstFreeServiceId, svc.entry.id);
    if (svc.entry.count) x.slotRanges.erase(svc.entry.slotBase);
    x.slotsUsed -= svc.entry.count;
    x.members -= svc.members.size();
    x.sourceRanges -= svc.sourceRanges.size();
  }
  for (const auto& [id, reason] : svc.members) x.backendRefs[id] += sign;
}

}  // namespace

void applyDelta(CurrentState& state, const StateDelta& delta) {
  auto* x = state.index ? &*state.index : nullptr;
  for (const auto& [key, svc] : delta.services) {
    auto old = state.services.find(key);
    if (old != state.services.end()) {
      if (x) account(*x, old->second, -1);
      state.services.erase(old);
    }
    if (svc) {
      if (x) {
        account(*x, *svc, +1);
        if (svc->entry.count) x->slotHint = svc->entry.slotBase + svc->entry.count;
      }
      state.services.emplace(key, *svc);
    }
  }
  for (const auto& [id, addr] : delta.backends) {
    auto old = state.backends.find(id);
    if (x && old != state.backends.end()) x->backendIds.erase(old->second);
    if (addr) {
      state.backends[id] = *addr;
      if (x) {
        x->backendIds[*addr] = id;
        x->backendRefs.try_emplace(id, 0);
      }
    } else {
      state.backends.erase(id);
      if (x) {
        x->backendRefs.erase(id);
        x->firstFreeBackendId = std::min(x->firstFreeBackendId, id);
      }
    }
  }
  if (x) {
    while (state.backends.contains(x->firstFreeBackendId)) ++x->firstFreeBackendId;
    while (x->serviceIds.contains(x->firstFreeServiceId)) ++x->firstFreeServiceId;
  }
  for (const auto& [vip, n] : delta.vips) {
    if (n)
      state.vips[vip] = n;
    else
      state.vips.erase(vip);
  }
  for (const auto& [port, flags] : delta.portMarks) state.portMarks[port] |= flags;
  state.strayMembers.clear();
  state.strayMetas.clear();
  state.straySourceRanges.clear();
}

std::string portMarkNames(uint32_t flags) {
  std::string out;
  auto add = [&](uint32_t bit, const char* name) {
    if (flags & bit) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(SVCR_PORT_F_FRONTEND, "frontend");
  add(SVCR_PORT_F_BACKEND, "backend");
  if (uint32_t other = flags & ~(SVCR_PORT_F_FRONTEND | SVCR_PORT_F_BACKEND))
    out += (out.empty() ? "other " : ",other ") + std::to_string(other);
  return out;
}

std::string describe(const MapOp& mapOp) {
  std::ostringstream out;
  std::visit(
      Overloaded{
          [&](const op::PutBackend& o) {
            out << "put backend " << o.id << " " << describe(o.addr);
          },
          [&](const op::ResetBackendStats& o) { out << "reset backend stats " << o.id; },
          [&](const op::ResetService& o) { out << "reset service " << o.id; },
          [&](const op::PutMeta& o) { out << "put meta " << o.id << " " << describe(*o.meta); },
          [&](const op::PutMember& o) {
            out << "put member " << o.svcId << " " << o.backendId << " reason " << int(o.reason);
          },
          [&](const op::PutSlots& o) {
            out << "put slots " << o.base << " [";
            for (size_t i = 0; i < o.backends.size(); ++i)
              out << (i ? " " : "") << o.backends[i].id;
            out << "]";
          },
          [&](const op::PutService& o) {
            out << "put service " << describe(o.key) << " id " << o.entry.id << " count "
                << o.entry.count << " gen " << o.entry.gen << " slots " << o.entry.slotBase;
            if (o.entry.affinity) out << " affinity " << o.entry.affinityTimeoutSec << "s";
            if (o.entry.sourceRanges) out << " source-ranges";
            if (o.entry.dropEmpty) out << " drop-empty";
          },
          [&](const op::PutVip& o) { out << "put vip " << o.vip.str() << " " << o.ports; },
          [&](const op::WaitForReaders&) { out << "wait for readers"; },
          [&](const op::DeleteService& o) { out << "delete service " << describe(o.key); },
          [&](const op::DeleteVip& o) { out << "delete vip " << o.vip.str(); },
          [&](const op::ClearSlots& o) { out << "clear slots " << o.base << " count " << o.count; },
          [&](const op::DeleteMember& o) {
            out << "delete member " << o.svcId << " " << o.backendId;
          },
          [&](const op::DeleteMeta& o) { out << "delete meta " << o.id; },
          [&](const op::DeleteBackend& o) { out << "delete backend " << o.id; },
          [&](const op::MarkPort& o) {
            out << "mark port " << o.port << " " << portMarkNames(o.flags);
          },
          [&](const op::PutSourceRange& o) {
            out << "put source range " << o.svcId << " " << describe(o.range);
          },
          [&](const op::DeleteSourceRange& o) {
            out << "delete source range " << o.svcId << " " << describe(o.range);
          },
      },
      mapOp);
  return out.str();
}

}  // namespace svcrouter
