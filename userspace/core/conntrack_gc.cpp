#include "userspace/core/conntrack_gc.h"

#include "maps/layout/service.h"

namespace svcrouter {

maps::PortMarks wantedPortMarks(const CurrentState& state) {
  maps::PortMarks marks;
  for (const auto& [key, svc] : state.services) {
    if (key.scope != Scope::kExternal) continue;
    marks[key.port] |= SVCR_PORT_F_FRONTEND;
    for (uint32_t id : svc.slots)
      if (auto it = state.backends.find(id); it != state.backends.end())
        marks[it->second.port] |= SVCR_PORT_F_BACKEND;
  }
  return marks;
}

Result<std::optional<maps::SweepReport>> sweepConntrack(maps::Table& table, maps::ConntrackGc& gc) {
  SVCR_ASSIGN_OR_RETURN(auto lock, table.lock(maps::LockMode::kExclusive));
  maps::PortMarks wanted;
  {
    SVCR_ASSIGN_OR_RETURN(auto state, table.view());
    wanted = wantedPortMarks(*state);
  }
  return gc.sweep(wanted);
}

}  // namespace svcrouter
