// The seam between the agent and the packet path's conntrack sweep, as
// TableMaps is the table's: no libbpf here. maps/conntrack.h's
// PinnedConntrackGc is the real one (over the pinned svcr_ct and
// svcr_ports); unit tests script their own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "maps/error.h"

namespace svcrouter::maps {

// The bits of svcr_ports (SVCR_PORT_F_*, maps/layout/service.h) by port,
// host order; a port not present has none.
using PortMarks = std::map<uint16_t, uint32_t>;

// What one sweep did.
struct SweepReport {
  uint64_t scanned = 0;       // entries looked at
  uint64_t deleted = 0;       // expired entries deleted
  uint64_t entries = 0;       // entries left (scanned - deleted)
  uint64_t portsCleared = 0;  // ports that lost marks
};

class ConntrackGc {
 public:
  virtual ~ConntrackGc() = default;
  // Deletes the conntrack entries past their timeout, then clears every
  // port mark that neither `wanted` (what the service table needs) nor a
  // remaining entry uses. nullopt when the packet path is not loaded.
  // The caller holds the table's lock exclusively: no plan may set marks,
  // nor add a frontend whose flows would need one, meanwhile.
  [[nodiscard]] virtual Result<std::optional<SweepReport>> sweep(const PortMarks& wanted) = 0;
};

}  // namespace svcrouter::maps
