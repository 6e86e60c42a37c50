// The reconciler: makes the kernel's table equal to the desired one. Reads
// the table, plans (planner.h), applies (maps::Table), all under the table's
// writer lock so that two agents never interleave. Knows the table only
// through maps::Table, so it runs against a fake kernel in unit tests.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "maps/error.h"
#include "maps/plan.h"
#include "maps/table.h"
#include "userspace/core/desired.h"
#include "userspace/core/planner.h"

namespace svcrouter {

// Plans within `cap`, by default the table's own sizes (Table::capacity).
// Returns the plan it applied (empty when nothing changed). With debug
// logging on, logs every operation and how long each step took.
// `published`: see maps::Table::apply. With `changed`, only those service
// entries are planned (planChanges): the rest of `want` is what the table
// holds.
[[nodiscard]] Result<Plan> reconcile(maps::Table& table, const DesiredState& want,
                                     std::optional<Capacity> cap = std::nullopt,
                                     const std::function<void()>& published = {},
                                     const std::set<ServiceKey>* changed = nullptr);

// "applied SOURCE: N service entries, M backends" and the plan's changes
// (the first 20 unless `all`), one line each, for people.
std::string summarize(const std::string& source, const DesiredState& want, const Plan& plan,
                      bool all);

}  // namespace svcrouter
