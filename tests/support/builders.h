// Desired states in a line, for every test that plans (tests/unit and
// tests/bpf): services named in the default namespace, ready backends
// sorted as the planner expects them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "maps/addr.h"
#include "maps/layout/service.h"
#include "userspace/core/desired.h"

namespace svcrouter::builders {

inline IpAddr ip(const char* text) {
  auto a = IpAddr::parse(text);
  if (!a) throw std::invalid_argument(std::string("not an address: ") + text);
  return *a;
}

// "10.0.0.0/8": a network, its host bits clear.
inline IpCidr cidr(const std::string& text) {
  auto slash = text.find('/');
  return {ip(text.substr(0, slash).c_str()),
          static_cast<uint8_t>(std::stoi(text.substr(slash + 1)))};
}

inline ServiceKey key(const char* vip, uint16_t port, Protocol p = Protocol::kTcp,
                      Scope scope = Scope::kCluster) {
  return {ip(vip), port, p, scope};
}

// Service `name` (namespace default) at `k`, its ready backends listening on
// backendPort.
inline DesiredService service(const char* name, ServiceKey k,
                              const std::vector<const char*>& backends,
                              uint16_t backendPort = 8080) {
  DesiredService d;
  d.key = k;
  d.ns = "default";
  d.name = name;
  for (const char* b : backends)
    d.backends.push_back({{ip(b), backendPort, k.protocol}, SVCR_REASON_READY});
  std::ranges::sort(d.backends);
  return d;
}

inline DesiredState desired(const std::vector<DesiredService>& services) {
  DesiredState s;
  for (const auto& d : services) s.services[d.key] = d;
  return s;
}

// A random service table over three ClusterIPs (one IPv6) and a node
// address (whose entries come in the node and external scopes; external
// ones with source ranges and dropping when empty now and then), two ports
// and both protocols, drawing backends from a small pool so that sets
// overlap and change often: what the randomised tests replay plan after plan.
inline DesiredState randomDesired(std::mt19937& rng) {
  const char* vips[] = {"10.96.0.1", "10.96.0.2", "fd00::1", "192.168.1.10"};
  const std::vector<const char*> v4 = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"};
  const std::vector<const char*> v6 = {"fd77::1", "fd77::2", "fd77::3"};
  DesiredState want;
  for (const char* vip : vips)
    for (uint16_t port : {80, 443})
      for (Protocol p : {Protocol::kTcp, Protocol::kUdp}) {
        if (rng() % 3 == 0) continue;
        std::vector<const char*> chosen;
        bool six = std::string(vip).find(':') != std::string::npos;
        for (const char* b : six ? v6 : v4)
          if (rng() % 2) chosen.push_back(b);
        Scope scope = std::string(vip) == "192.168.1.10"
                          ? (rng() % 2 ? Scope::kNode : Scope::kExternal)
                          : Scope::kCluster;
        auto d = service("s", key(vip, port, p, scope), chosen, 8000 + rng() % 2);
        d.name = "s" + std::to_string(rng() % 3);  // a changed name rewrites the meta only
        d.affinity = rng() % 4 == 0;
        d.affinityTimeoutSec = d.affinity ? 10 : 0;
        if (scope == Scope::kExternal) {  // as a load balancer IP's entry may be
          for (const char* range : {"10.0.0.0/8", "192.168.0.0/16", "172.16.5.0/24"})
            if (rng() % 3 == 0) d.sourceRanges.insert(cidr(range));
          d.dropWhenEmpty = chosen.empty() && rng() % 2;
        }
        want.services[d.key] = d;
      }
  return want;
}

}  // namespace svcrouter::builders
