// Kubernetes objects as svcrouter reads them: Services and EndpointSlices,
// with the fields the service table needs. Pure data, no YAML and no kernel:
// the manifest reader (manifest.h) fills them from files, and the API
// watch will fill them from the API server; userspace/core turns them into
// the desired table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maps/addr.h"
#include "maps/error.h"
#include "maps/plan.h"  // TrafficPolicy

namespace svcrouter {

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 0;
  uint16_t nodePort = 0;  // 0 when unset
  // Index in spec.ports, for messages: dropped SCTP ports shift the vector.
  size_t specIndex = 0;
};

enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer, kExternalName };

// An IpCidr (maps/addr.h) from "10.0.0.0/8" or "fd00::/64", read as Go's
// net.ParseCIDR: the network, with the address's host bits cleared. The error says what is wrong
// with the text (the caller names where it came from).
[[nodiscard]] Result<IpCidr> parseCidr(std::string_view text);

std::string quote(std::string_view s);    // "s", in double quotes, for messages
std::string familyName(const IpAddr& a);  // "IPv4" or "IPv6"

struct Service {
  std::string ns;  // metadata.namespace, "default" when unset
  std::string name;
  std::map<std::string, std::string> labels;
  ServiceType type = ServiceType::kClusterIP;
  bool headless = false;  // spec.clusterIP: None
  // spec.clusterIPs (or spec.clusterIP when clusterIPs is absent), at most one
  // per family; empty for headless/ExternalName.
  std::vector<IpAddr> clusterIPs;
  // spec.externalName of an ExternalName Service, lowercased and without a
  // final dot: the name its DNS record aliases (never proxied).
  std::string externalName;
  std::vector<ServicePort> ports;
  // spec.externalIPs, either family, in order (the datapath picks per family).
  std::vector<IpAddr> externalIPs;
  // status.loadBalancer.ingress[].ip of the entries whose ipMode is unset or
  // VIP, as kube-proxy: hostname-only and ipMode Proxy entries are skipped.
  std::vector<IpAddr> loadBalancerIPs;
  // spec.loadBalancerSourceRanges, trimmed of spaces; empty: any source.
  std::vector<IpCidr> loadBalancerSourceRanges;
  bool affinityClientIP = false;        // spec.sessionAffinity: ClientIP
  uint32_t affinityTimeoutSec = 10800;  // sessionAffinityConfig.clientIP.timeoutSeconds
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::kCluster;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::kCluster;
  uint16_t healthCheckNodePort = 0;  // 0 when unset
  std::string trafficDistribution;   // "" when unset
  std::string resourceVersion;       // metadata.resourceVersion, from the API server
  std::string where;                 // where it was read, for messages: "FILE: document N"
};

struct EndpointConditions {
  std::optional<bool> ready, serving, terminating;  // nullopt = unset
};

struct Endpoint {
  std::vector<IpAddr> addresses;
  EndpointConditions conditions;
  std::string nodeName;  // empty when unset
  std::string zone;      // empty when unset
  // hostname: the endpoint's DNS label under its Service (StatefulSet
  // pods set it); empty when unset.
  std::string hostname;
  // hints.forZones[].name and hints.forNodes[].name: where the EndpointSlice
  // controller suggests this endpoint be used (topology-aware routing).
  std::vector<std::string> hintZones, hintNodes;
};

struct EndpointPort {
  std::string name;  // empty when unset
  Protocol protocol = Protocol::kTcp;
  std::optional<uint16_t> port;  // nullopt: port with no number (ignored)
};

enum class AddressType { kIPv4, kIPv6, kFQDN };

struct EndpointSlice {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;
  std::string serviceName;  // label kubernetes.io/service-name, empty if none
  AddressType addressType = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  // Annotation endpoints.kubernetes.io/last-change-trigger-time (RFC 3339),
  // for the network programming latency metric; empty when unset.
  std::string lastChangeTriggerTime;
  std::string resourceVersion;
  std::string where;
};

// The node this agent programs, as far as routing cares.
struct Node {
  std::string name;
  std::map<std::string, std::string> labels;  // topology.kubernetes.io/zone among them
  bool deleting = false;                      // metadata.deletionTimestamp is set
  std::string resourceVersion;
};

// The Services and EndpointSlices a source knows of, in the order it read them.
struct Objects {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
  // This node, when the source follows it (its zone guides topology hints).
  std::optional<Node> node;
  // Legal input svcrouter skips (SCTP ports), one message each.
  std::vector<std::string> warnings;
};

// "Service default/web": how every message names an object.
std::string objectName(std::string_view kind, std::string_view ns, std::string_view name);

// "FILE: document N (Service default/web)": where an object came from and
// which it is, the prefix of every message about it. `object` may be empty
// (not known yet): then only where.
std::string origin(std::string_view where, std::string_view object);
std::string origin(const Service& s);
std::string origin(const EndpointSlice& s);

}  // namespace svcrouter
