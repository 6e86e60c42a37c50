#include "userspace/core/conntrack_gc.h"

#include "maps/layout/service.h"

namespace svcrouter {

Result<std::optional<maps::SweepReport>> sweepConntrack(maps::Table& table, maps::ConntrackGc& gc) {
  SVCR_ASSIGN_OR_RETURN(auto lock, table.lock(maps::LockMode::kExclusive));
  maps::PortMarks wanted;
  {
    SVCR_ASSIGN_OR_RETURN(auto state, table.view());
    wanted = wantedPortMarks(*state);
  }
  std::optional<maps::SweepReport> report;
  SVCR_RETURN_IF_ERROR(table.writeOutsidePlan([&]() -> Result<bool> {
    SVCR_ASSIGN_OR_RETURN(report, gc.sweep(wanted));
    return report && report->portsCleared > 0;
  }));
  return report;
}

}  // namespace svcrouter
