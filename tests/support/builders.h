// Desired states in a line, for every test that plans (tests/unit and
// tests/bpf): services named in the default namespace, ready backends
// sorted as the planner expects them.
#pragma once

#include <algorithm>
#include <cstdint>
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

inline ServiceKey key(const char* vip, uint16_t port, Protocol p = Protocol::kTcp) {
  return {ip(vip), port, p};
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

}  // namespace svcrouter::builders
