// The planner: compares what the kernel serves with what is desired and
// produces the ordered map operations (maps/plan.h) that get from one to the
// other without a reader ever seeing a half-written backend set (the update
// protocol: DEVELOPING.md). Pure: no kernel access, unit-tested without
// privileges, including a model check of every reader's view.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "maps/error.h"
#include "maps/layout/service.h"
#include "maps/plan.h"
#include "userspace/core/desired.h"

namespace svcrouter {


// The svcr_ports bits the entries of `state` need: each external-scope
// entry's frontend port SVCR_PORT_F_FRONTEND, the ports of its backends
// SVCR_PORT_F_BACKEND. Plans only ever add bits; whoever clears them (the
// conntrack sweeper) keeps these and those of tracked flows, writes under
// the table's exclusive lock and moves its epoch as every writer does, so
// that a table that keeps its state reads the marks back.
std::map<uint16_t, uint32_t> wantedPortMarks(const CurrentState& state);

// The ordered operations that turn `cur` into `want`. Fails, before anything
// is touched, when the result would not fit the maps.
[[nodiscard]] Result<Plan> planUpdate(const CurrentState& cur, const DesiredState& want,
                                      const Capacity& cap = defaultCapacity());

// The same for the service entries in `keys` only (changed, added or
// removed; the rest of `want` must be what `cur` holds): for one change in
// a large table, a plan that costs that change, not the table.
[[nodiscard]] Result<Plan> planChanges(const CurrentState& cur, const DesiredState& want,
                                       const std::set<ServiceKey>& keys,
                                       const Capacity& cap = defaultCapacity());

}  // namespace svcrouter
