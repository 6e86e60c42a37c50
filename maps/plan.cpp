#include "maps/plan.h"

#include <sstream>

namespace svcrouter {

std::string describe(const ServiceMeta& meta) {
  std::string s = meta.ns + "/" + meta.name;
  if (!meta.portName.empty()) s += ":" + meta.portName;
  return s;
}

std::string describe(const ServiceMeta& meta, const ServiceKey& key) {
  return describe(meta) + " " + describe(key);
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
          [&](const op::PutMeta& o) { out << "put meta " << o.id << " " << describe(o.meta); },
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
      },
      mapOp);
  return out.str();
}

}  // namespace svcrouter
