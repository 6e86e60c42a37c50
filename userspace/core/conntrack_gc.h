// The packet path's conntrack sweep, as the agent and `svcrouter conntrack
// --gc` run it: serialized with the table's writers, and told which port
// marks the table needs, so that it clears only the others. Knows the
// kernel only through maps::Table and the maps::ConntrackGc seam.
#pragma once

#include <optional>

#include "maps/conntrack_gc.h"
#include "maps/error.h"
#include "maps/plan.h"
#include "maps/table.h"
#include "userspace/core/planner.h"

namespace svcrouter {

// The port marks the table needs: wantedPortMarks() of the planner, which
// only ever adds marks.

// Under the table's exclusive lock (no plan sets marks or adds a frontend
// meanwhile): the marks the table needs now, then the sweep, as a writer
// outside plans (Table::writeOutsidePlan: when it clears marks, tables
// that keep the state read them again). nullopt when the packet path is
// not loaded.
[[nodiscard]] Result<std::optional<maps::SweepReport>> sweepConntrack(maps::Table& table,
                                                                      maps::ConntrackGc& gc);

}  // namespace svcrouter
