// The packet path's programs (bpf/svcr_tc.bpf.c) on the --tc-dev devices:
// at ingress and egress of each, as tcx links where the kernel has them
// (pinned under PIN_DIR/links, like the cgroup links), else as cls_bpf
// filters on a clsact qdisc (one already there is used and left in place).
// What was attached where is kept in the pinned svcr_devices map, so that
// `unload` leaves every device as it found it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loader/features.h"
#include "loader/sizes.h"
#include "maps/addr.h"
#include "maps/error.h"

namespace svcrouter::loader {

struct TcOptions {
  std::vector<std::string> devices;  // --tc-dev
  // --node-ip: on a device holding one of these, SNAT uses it; else the
  // device's first IPv4 address.
  std::vector<IpAddr> nodeIps;
};

// Loads the packet path over the maps pinned under pinDir (the socket
// programs' must be there: the service table is theirs) and attaches it to
// every device. Held under the pin directory's lock by the caller. The
// conntrack map takes sizes.conntrack when it is created (two entries per
// flow, four with SNAT).
[[nodiscard]] Result<void> attachTc(const std::string& pinDir, const TcOptions& options,
                                    const MapSizes& sizes, const KernelFeatures& features);

// Detaches the packet path from every device it is on (nothing when it is
// on none); the pins themselves are removed by the caller.
[[nodiscard]] Result<void> detachTc(const std::string& pinDir);

// The addresses of a device, IPv4 first; an error names a missing device.
[[nodiscard]] Result<std::vector<IpAddr>> deviceAddresses(const std::string& device);

// Every address of every interface of this network namespace, loopback and
// link-local ones included (kube-proxy's InterfaceAddrs): what
// --nodeport-addresses chooses from.
[[nodiscard]] Result<std::vector<IpAddr>> nodeAddresses();

}  // namespace svcrouter::loader
