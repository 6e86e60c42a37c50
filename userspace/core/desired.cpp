#include "userspace/core/desired.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "maps/layout/service.h"

namespace svcrouter {

namespace {

constexpr std::string_view kHeadlessLabel = "service.kubernetes.io/headless";
constexpr std::string_view kProxyNameLabel = "service.kubernetes.io/service-proxy-name";

using NsName = std::pair<std::string, std::string>;

// kube-proxy's informer label selector (cmd/kube-proxy/app/server.go): no
// headless label, and no service-proxy-name label, except that we also serve
// objects that name us.
bool selected(const std::map<std::string, std::string>& labels, const std::string& proxyName) {
  if (labels.contains(std::string(kHeadlessLabel))) return false;
  auto it = labels.find(std::string(kProxyNameLabel));
  return it == labels.end() || (!proxyName.empty() && it->second == proxyName);
}

// pkg/proxy/util ShouldSkipService: headless and ExternalName are not proxied.
bool proxied(const Service& s, const std::string& proxyName) {
  return selected(s.labels, proxyName) && s.type != ServiceType::kExternalName && !s.headless &&
         !s.clusterIPs.empty();
}

std::string portPath(const ServicePort& p) {
  return "spec.ports[" + std::to_string(p.specIndex) + "]";
}

// One address and port where a service port is reached, the scope of its
// entry, and the traffic policy that chooses its backends.
struct Frontend {
  ServiceKey key;
  TrafficPolicy policy;
  bool loadBalancerIp = false;  // from status.loadBalancer.ingress
};

// kube-proxy's ExternalPolicyLocal: only NodePort and LoadBalancer services
// have an external policy.
bool externalLocal(const Service& s) {
  return (s.type == ServiceType::kNodePort || s.type == ServiceType::kLoadBalancer) &&
         s.externalTrafficPolicy == TrafficPolicy::kLocal;
}

// Where service port sp of s is reached: its ClusterIPs; its NodePort on
// the node's addresses; its external IPs and load balancer IPs. Each of the
// last three twice: for local processes (kube-proxy sends their traffic to
// all endpoints) and for packets from outside (the external policy). A
// family the service has no ClusterIP of is not served, as kube-proxy's
// per-family proxiers do not.
std::vector<Frontend> frontends(const Service& s, const ServicePort& sp,
                                const SelectOptions& opts) {
  std::vector<Frontend> out;
  bool v4 = false, v6 = false;
  for (const IpAddr& vip : s.clusterIPs) {
    (vip.isV4() ? v4 : v6) = true;
    out.push_back({{vip, sp.port, sp.protocol, Scope::kCluster}, s.internalTrafficPolicy});
  }
  const TrafficPolicy external = externalLocal(s) ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  auto outside = [&](const IpAddr& addr, uint16_t port, bool loadBalancerIp) {
    if (!(addr.isV4() ? v4 : v6)) return;
    out.push_back({{addr, port, sp.protocol, Scope::kNode}, TrafficPolicy::kCluster});
    out.push_back({{addr, port, sp.protocol, Scope::kExternal}, external, loadBalancerIp});
  };
  bool nodePorts = s.type == ServiceType::kNodePort || s.type == ServiceType::kLoadBalancer;
  if (nodePorts && sp.nodePort != 0)
    for (const IpAddr& node : opts.nodeIps) outside(node, sp.nodePort, false);
  for (const IpAddr& ip : s.externalIPs) outside(ip, sp.port, false);
  if (s.type == ServiceType::kLoadBalancer)
    for (const IpAddr& ip : s.loadBalancerIPs) outside(ip, sp.port, true);
  return out;
}

bool isLoopback(const IpAddr& a) {
  static const IpAddr kIpv6Loopback = *IpAddr::parse("::1");
  return a.isV4() ? a.bytes()[12] == 127 : a == kIpv6Loopback;
}

}  // namespace

std::vector<IpAddr> nodePortAddresses(const std::vector<IpCidr>& cidrs,
                                      const std::vector<IpAddr>& nodeAddresses) {
  static const IpAddr kIpv4LoopbackStart = *IpAddr::parse("127.0.0.0");
  std::set<IpAddr> out;
  for (bool v4 : {true, false}) {
    std::vector<IpCidr> family;
    for (const IpCidr& c : cidrs)
      if (c.addr.isV4() == v4) family.push_back(c);
    // No CIDR of this family: all of its addresses (kube-proxy's zero CIDR).
    if (family.empty()) family.push_back({*IpAddr::parse(v4 ? "0.0.0.0" : "::"), 0});
    bool localhost = v4 && std::ranges::any_of(family, [&](const IpCidr& c) {
                       return isLoopback(c.addr) || c.contains(kIpv4LoopbackStart);
                     });
    for (const IpAddr& a : nodeAddresses) {
      if (a.isV4() != v4 || (isLoopback(a) && !localhost)) continue;
      if (std::ranges::any_of(family, [&](const IpCidr& c) { return c.contains(a); }))
        out.insert(a);
    }
  }
  return {out.begin(), out.end()};
}

std::vector<IpCidr> primaryCidrs(const std::vector<IpAddr>& nodeIps) {
  std::vector<IpCidr> out;
  for (const IpAddr& ip : nodeIps)
    if (!isLoopback(ip)) out.push_back({ip, static_cast<uint8_t>(ip.isV4() ? 32 : 128)});
  return out;
}

namespace {

// The endpoints of one service port and family, merged over the service's
// slices: each endpoint's first address, with the slice port's number.
std::vector<CandidateEndpoint> candidates(const std::vector<const EndpointSlice*>& slices,
                                          const ServicePort& sp, bool v4) {
  std::map<BackendAddr, CandidateEndpoint> byAddr;
  for (const EndpointSlice* slice : slices) {
    if ((slice->addressType == AddressType::kIPv4) != v4) continue;
    for (const EndpointPort& port : slice->ports) {
      // Matched by name and protocol, like kube-proxy's ServicePortName.
      if (port.name != sp.name || port.protocol != sp.protocol || !port.port) continue;
      for (const Endpoint& ep : slice->endpoints) {
        if (ep.addresses.empty()) continue;
        CandidateEndpoint c{.addr = {ep.addresses[0], *port.port, sp.protocol},
                            .ready = ep.conditions.ready.value_or(true),
                            .serving = ep.conditions.serving.value_or(true),
                            .terminating = ep.conditions.terminating.value_or(false),
                            .nodeName = ep.nodeName,
                            .hintZones = ep.hintZones,
                            .hintNodes = ep.hintNodes};
        // Same IP:port twice (an endpoint moving between slices, or a new pod
        // reusing a terminating pod's IP): as in kube-proxy's addEndpoints, a
        // later copy replaces an earlier one unless it is terminating.
        auto [it, added] = byAddr.try_emplace(c.addr, c);
        if (!added && !c.terminating) it->second = std::move(c);
      }
    }
  }
  std::vector<CandidateEndpoint> out;
  for (auto& [addr, c] : byAddr) out.push_back(std::move(c));
  return out;
}

enum class Topology { kNone, kSameNode, kSameZone };

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::ranges::find(names, name) != names.end();
}

// kube-proxy's topologyModeFromHints (pkg/proxy/topology.go): node hints
// when every ready endpoint has one and one is for this node; else zone
// hints when every ready endpoint has one and one is for this node's zone;
// else none. The EndpointSlice controller writes the hints (for
// trafficDistribution, or the topology-mode annotation); the proxy follows
// only them.
Topology topologyFromHints(const std::vector<CandidateEndpoint>& eps, const NodeTopology& node) {
  bool anyReady = false, allNodeHints = true, forNode = false, allZoneHints = true, forZone = false;
  for (const auto& e : eps) {
    if (!e.ready) continue;
    anyReady = true;
    if (e.hintNodes.empty())
      allNodeHints = false;
    else if (contains(e.hintNodes, node.name))
      forNode = true;
    if (e.hintZones.empty())
      allZoneHints = false;
    else if (contains(e.hintZones, node.zone))
      forZone = true;
  }
  if (!anyReady) return Topology::kNone;
  if (allNodeHints && forNode) return Topology::kSameNode;
  if (allZoneHints && forZone) return Topology::kSameZone;
  return Topology::kNone;
}

bool availableFor(const CandidateEndpoint& e, Topology topology, const NodeTopology& node) {
  switch (topology) {
    case Topology::kSameNode:
      return contains(e.hintNodes, node.name);
    case Topology::kSameZone:
      return contains(e.hintZones, node.zone);
    case Topology::kNone:
      break;
  }
  return true;
}

// kube-proxy's loadBalancerSourceRanges, for the packets from outside to a
// load balancer IP: only the ranges of the address's family (its proxiers
// are per family, and one without ranges of its own lets anyone in).
std::set<IpCidr> sourceRangesFor(const Service& s, const Frontend& f) {
  std::set<IpCidr> out;
  if (!f.loadBalancerIp || f.key.scope != Scope::kExternal) return out;
  for (const IpCidr& range : s.loadBalancerSourceRanges)
    if (range.addr.isV4() == f.key.vip.isV4()) out.insert(range);
  return out;
}

// The endpoints of eps (sorted by address) that are not in backends
// (sorted by address): listed by the Service, but not chosen.
std::vector<BackendAddr> otherEndpoints(const std::vector<CandidateEndpoint>& eps,
                                        const std::vector<DesiredBackend>& backends) {
  std::vector<BackendAddr> out;
  auto chosen = backends.begin();
  for (const auto& e : eps) {
    while (chosen != backends.end() && chosen->addr < e.addr) ++chosen;
    if (chosen == backends.end() || chosen->addr != e.addr) out.push_back(e.addr);
  }
  out.shrink_to_fit();
  return out;
}

}  // namespace

std::vector<DesiredBackend> selectBackends(const std::vector<CandidateEndpoint>& eps,
                                           TrafficPolicy policy, const NodeTopology& node) {
  const bool local = policy == TrafficPolicy::kLocal;
  // Topology narrows cluster-wide traffic only, as in kube-proxy.
  const Topology topology = local ? Topology::kNone : topologyFromHints(eps, node);
  const uint8_t policyBit = local                         ? SVCR_REASON_LOCAL
                            : topology != Topology::kNone ? SVCR_REASON_TOPOLOGY
                                                          : 0;
  auto eligible = [&](const CandidateEndpoint& e) {
    return !local || (!node.name.empty() && e.nodeName == node.name);
  };
  std::vector<DesiredBackend> out;
  for (const auto& e : eps) {
    if (eligible(e) && e.ready && availableFor(e, topology, node))
      out.push_back({e.addr, uint8_t(SVCR_REASON_READY | policyBit)});
  }
  // No ready endpoint: fall back to those still serving while terminating
  // (KEP-1669), so connections drain instead of being refused. Topology
  // played no part: it is only used when a ready endpoint matches it.
  if (out.empty()) {
    const uint8_t localBit = local ? SVCR_REASON_LOCAL : 0;
    for (const auto& e : eps) {
      if (eligible(e) && e.serving && e.terminating) {
        out.push_back({e.addr, uint8_t(SVCR_REASON_TERMINATING | localBit)});
      }
    }
  }
  std::ranges::sort(out, {}, &DesiredBackend::addr);
  // Kept for as long as the agent runs (its desired table): no spare room.
  out.shrink_to_fit();
  return out;
}

Result<DesiredState> buildDesiredState(const Objects& m, const SelectOptions& opts,
                                       InputCheck check) {
  DesiredState st;
  const bool strict = check == InputCheck::kStrict;
  // A problem: the whole input is refused (strict), or the object is
  // skipped with a warning (lenient).
  auto problem = [&](std::string message) -> std::optional<Error> {
    if (strict) return Error{std::move(message), 0};
    st.warnings.push_back(std::move(message) + "; skipped");
    return std::nullopt;
  };

  std::map<NsName, const Service*> services;
  for (const Service& s : m.services) {
    auto [it, added] = services.try_emplace(NsName{s.ns, s.name}, &s);
    if (!added) {
      if (auto e = problem(origin(s) + ": metadata.name: " + objectName("Service", s.ns, s.name) +
                           " is also defined in " + it->second->where))
        return std::unexpected(*e);
    }
  }

  std::map<NsName, std::vector<const EndpointSlice*>> slicesOf;
  for (const EndpointSlice& slice : m.slices) {
    if (!selected(slice.labels, opts.proxyName) || slice.addressType == AddressType::kFQDN) {
      continue;
    }
    if (slice.serviceName.empty()) {
      st.warnings.push_back(origin(slice) + ": no kubernetes.io/service-name label; ignored");
      continue;
    }
    NsName svc{slice.ns, slice.serviceName};
    if (!services.contains(svc)) {
      // From the API server this is ordinary (a slice outlives its Service
      // until garbage collection): its endpoints serve nothing.
      if (!strict) continue;
      return fail(origin(slice) + ": metadata.labels[kubernetes.io/service-name]: " +
                  objectName("Service", slice.ns, slice.serviceName) + " is not in the input");
    }
    slicesOf[svc].push_back(&slice);
  }

  std::map<ServiceKey, std::pair<const Service*, const ServicePort*>> owners;
  for (const Service& s : m.services) {
    if (!proxied(s, opts.proxyName)) continue;  // its slices were collected and are unused
    if (services.at(NsName{s.ns, s.name}) != &s) continue;  // a duplicate, skipped
    const auto& slices = slicesOf[NsName{s.ns, s.name}];
    for (const ServicePort& sp : s.ports) {
      // A port's endpoints, per family, once for all of its frontends; and
      // whether any of them is usable anywhere in the cluster.
      std::optional<std::vector<CandidateEndpoint>> eps[2];
      std::optional<bool> usable[2];
      for (const Frontend& frontend : frontends(s, sp, opts)) {
        const ServiceKey& key = frontend.key;
        const TrafficPolicy policy = frontend.policy;
        auto [it, added] = owners.try_emplace(key, &s, &sp);
        if (!added) {
          const auto& [other, otherPort] = it->second;
          if (auto e =
                  problem(origin(s) + ": " + portPath(sp) + ": " + describe(key) +
                          " is already served by " + objectName("Service", other->ns, other->name) +
                          " (" + other->where + ", " + portPath(*otherPort) + ")"))
            return std::unexpected(*e);
          continue;
        }
        // Each family's address is served by that family's slices only.
        auto& family = eps[key.vip.isV4()];
        if (!family) family = candidates(slices, sp, key.vip.isV4());
        const NodeTopology node{opts.nodeName, opts.nodeZone};
        auto backends = selectBackends(*family, policy, node);
        // kube-proxy (CategorizeEndpoints' hasAnyEndpoints): external
        // traffic with a Local policy and no endpoint here is dropped when
        // the Service has usable endpoints elsewhere; refused when none.
        bool dropWhenEmpty = false;
        if (key.scope == Scope::kExternal && policy == TrafficPolicy::kLocal && backends.empty()) {
          auto& any = usable[key.vip.isV4()];
          if (!any) any = !selectBackends(*family, TrafficPolicy::kCluster, node).empty();
          dropWhenEmpty = *any;
        }
        if (backends.size() > SVCR_MAX_BACKENDS_PER_SERVICE) {
          if (auto e = problem(origin(s) + ": " + portPath(sp) + ": " +
                               std::to_string(backends.size()) + " backends for " + describe(key) +
                               ", at most " + std::to_string(SVCR_MAX_BACKENDS_PER_SERVICE)))
            return std::unexpected(*e);
          owners.erase(key);
          continue;
        }
        std::vector<BackendAddr> others;
        if (key.protocol == Protocol::kUdp && key.scope != Scope::kExternal)
          others = otherEndpoints(*family, backends);
        st.services.emplace(key,
                            DesiredService{
                                .key = key,
                                .ns = s.ns,
                                .name = s.name,
                                .portName = sp.name,
                                .affinity = s.affinityClientIP,
                                .affinityTimeoutSec = s.affinityClientIP ? s.affinityTimeoutSec : 0,
                                .policy = policy,
                                .backends = std::move(backends),
                                .sourceRanges = sourceRangesFor(s, frontend),
                                .dropWhenEmpty = dropWhenEmpty,
                                .otherEndpoints = std::move(others),
                            });
      }
    }
  }
  return st;
}

std::vector<LocalService> localServices(const Objects& objects, const SelectOptions& opts) {
  std::map<NsName, std::vector<const EndpointSlice*>> slicesOf;
  for (const EndpointSlice& slice : objects.slices)
    if (selected(slice.labels, opts.proxyName) && slice.addressType != AddressType::kFQDN)
      slicesOf[{slice.ns, slice.serviceName}].push_back(&slice);
  std::vector<LocalService> out;
  for (const Service& s : objects.services) {
    if (!proxied(s, opts.proxyName)) continue;
    bool external = s.type == ServiceType::kNodePort || s.type == ServiceType::kLoadBalancer;
    LocalService ls{.ns = s.ns,
                    .name = s.name,
                    .internalLocal = s.internalTrafficPolicy == TrafficPolicy::kLocal,
                    .externalLocal = external && s.externalTrafficPolicy == TrafficPolicy::kLocal,
                    .healthCheckNodePort = s.healthCheckNodePort,
                    .localEndpoints = 0};
    if (!ls.internalLocal && !ls.externalLocal) continue;
    std::set<IpAddr> ready, draining;
    for (const EndpointSlice* slice : slicesOf[{s.ns, s.name}])
      for (const Endpoint& ep : slice->endpoints) {
        if (ep.addresses.empty() || opts.nodeName.empty() || ep.nodeName != opts.nodeName) continue;
        bool isReady = ep.conditions.ready.value_or(true);
        if (isReady)
          ready.insert(ep.addresses[0]);
        else if (ep.conditions.serving.value_or(true) && ep.conditions.terminating.value_or(false))
          draining.insert(ep.addresses[0]);
      }
    ls.localEndpoints = ready.empty() ? draining.size() : ready.size();
    out.push_back(std::move(ls));
  }
  return out;
}

}  // namespace svcrouter
