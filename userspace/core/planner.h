// The planner: compares what the kernel serves with what is desired and
// produces the ordered map operations (maps/plan.h) that get from one to the
// other without a reader ever seeing a half-written backend set (the update
// protocol: DEVELOPING.md). Pure: no kernel access, unit-tested without
// privileges, including a model check of every reader's view.
#pragma once

#include <cstdint>

#include "maps/error.h"
#include "maps/plan.h"
#include "userspace/core/desired.h"

namespace svcrouter {

// Map capacities the plan must fit in (the kernel's max_entries).
struct Capacity {
  uint32_t services, backends, slots;
};
Capacity defaultCapacity();

// The ordered operations that turn `cur` into `want`. Fails, before anything
// is touched, when the result would not fit the maps.
[[nodiscard]] Result<Plan> planUpdate(const CurrentState& cur, const DesiredState& want,
                                      const Capacity& cap = defaultCapacity());

}  // namespace svcrouter
