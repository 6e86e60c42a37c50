// The desired service table, and how it is chosen: Services and
// EndpointSlices in, one entry per (VIP, port, protocol) with its backend set
// out, following kube-proxy's rules (pkg/proxy: endpointslicecache.go,
// topology.go) so that svcrouter and kube-proxy pick the same backends.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "maps/addr.h"
#include "maps/error.h"
#include "maps/plan.h"
#include "userspace/k8s/objects.h"

namespace svcrouter {

struct DesiredBackend {
  BackendAddr addr;
  uint8_t reason = 0;  // SVCR_REASON_* bits
  auto operator<=>(const DesiredBackend&) const = default;
};

// One (VIP, port, protocol) entry of the kernel's service table.
struct DesiredService {
  ServiceKey key;
  std::string ns, name, portName;
  bool affinity = false;
  uint32_t affinityTimeoutSec = 0;
  TrafficPolicy policy = TrafficPolicy::kCluster;
  // Sorted by address: the order round-robin walks them.
  std::vector<DesiredBackend> backends;
  // loadBalancerSourceRanges of the entry's family, on a load balancer IP's
  // external entry only: only clients in them may connect. Empty: anyone.
  std::set<IpCidr> sourceRanges;
  // No backend here but some elsewhere in the cluster (externalTrafficPolicy:
  // Local, scope external): packets are dropped, not refused, so that the
  // load balancer's health checks steer traffic away, as kube-proxy does.
  bool dropWhenEmpty = false;
  // Endpoints of this port and family that the Service still lists but
  // that are not backends here (not ready, terminating, on another node
  // under a Local policy, outside the topology hints): still endpoints, so
  // a connected socket to one is left open (core/sock_term.h). Kept for
  // the UDP entries of the socket path only (scopes cluster and node);
  // sorted.
  std::vector<BackendAddr> otherEndpoints;
  bool operator==(const DesiredService&) const = default;
};

struct DesiredState {
  std::map<ServiceKey, DesiredService> services;
  // Objects ignored on purpose (an EndpointSlice without a service-name label).
  std::vector<std::string> warnings;
};

// kube-proxy's --nodeport-addresses (pkg/proxy/util/nodeport_addresses.go):
// of the node's addresses (every interface's), those its NodePorts are
// served on. Per family: the addresses in one of that family's CIDRs, or
// every address of the family when none of the CIDRs is of it. A loopback
// address only for IPv4, and only when one of the IPv4 CIDRs (also that
// implied 0.0.0.0/0) holds 127.0.0.0 or is a loopback network (the iptables
// mode's default, --iptables-localhost-nodeports). Sorted, each once.
std::vector<IpAddr> nodePortAddresses(const std::vector<IpCidr>& cidrs,
                                      const std::vector<IpAddr>& nodeAddresses);

// The value of --nodeport-addresses that names the primary node IPs.
inline constexpr std::string_view kNodePortAddressesPrimary = "primary";

// --nodeport-addresses primary: each primary node IP (--node-ip) as a host
// network, loopback ones left out (kube-proxy's server.go).
std::vector<IpCidr> primaryCidrs(const std::vector<IpAddr>& nodeIps);

struct SelectOptions {
  std::string nodeName;   // this node, for internalTrafficPolicy: Local and node hints
  std::string proxyName;  // serve objects labelled service-proxy-name=proxyName
  std::string nodeZone;   // this node's topology.kubernetes.io/zone, for zone hints
  // Where NodePorts are served: --node-ip, or what --nodeport-addresses chose.
  std::vector<IpAddr> nodeIps = {};
};

// How to take objects that cannot all be served together (a VIP:port
// claimed twice, a slice of an unknown Service, too many backends).
enum class InputCheck {
  kStrict,   // a manifest file: refuse it all, naming file, document and field
  kLenient,  // the API server's objects: skip the one at fault, with a warning
};

// Turns objects into the kernel's service table. Errors name file/document/field.
[[nodiscard]] Result<DesiredState> buildDesiredState(const Objects& objects,
                                                     const SelectOptions& opts,
                                                     InputCheck check = InputCheck::kStrict);

// One endpoint of one service port, conditions already defaulted.
struct CandidateEndpoint {
  BackendAddr addr;
  bool ready = true, serving = true, terminating = false;
  std::string nodeName;
  std::vector<std::string> hintZones, hintNodes;  // topology hints
};

// Where this agent runs, as backend selection needs it.
struct NodeTopology {
  std::string name, zone;  // zone: "" when the node has no zone label
};

// Pure selection of one service port's backends (kube-proxy's
// CategorizeEndpoints and topologyModeFromHints): ready endpoints, else
// serving+terminating ones. With policy Local only endpoints on this node
// are considered; with Cluster, topology hints narrow the ready set to the
// endpoints meant for this node, or else for its zone, when every ready
// endpoint carries such hints and one is meant for it. Sorted by address.
std::vector<DesiredBackend> selectBackends(const std::vector<CandidateEndpoint>& eps,
                                           TrafficPolicy policy, const NodeTopology& node);

// A Service with a Local traffic policy, and how many of its endpoints are
// on this node: for the health check node port of a LoadBalancer with
// externalTrafficPolicy: Local, and the no-local-endpoints metric.
struct LocalService {
  std::string ns, name;
  bool internalLocal = false;  // internalTrafficPolicy: Local
  bool externalLocal = false;  // externalTrafficPolicy: Local on a NodePort or LoadBalancer
  uint16_t healthCheckNodePort = 0;
  // Endpoints on this node: ready ones, or if none, serving+terminating
  // ones (kube-proxy's local endpoints), counted once per address.
  size_t localEndpoints = 0;
};

// Every proxied Service with a Local policy, with its local endpoint count.
std::vector<LocalService> localServices(const Objects& objects, const SelectOptions& opts);

}  // namespace svcrouter
