#include "userspace/core/sock_term.h"

#include <algorithm>
#include <cstdio>

namespace svcrouter {

bool isEndpointOf(const DesiredService& d, const BackendAddr& backend) {
  // Both sorted by address.
  auto chosen = std::ranges::lower_bound(d.backends, backend, {}, &DesiredBackend::addr);
  if (chosen != d.backends.end() && chosen->addr == backend) return true;
  return std::ranges::binary_search(d.otherEndpoints, backend);
}

bool backendLeft(const DesiredState& want, const maps::TranslatedSocket& socket) {
  if (socket.backend.protocol != Protocol::kUdp) return false;  // never TCP
  // The socket path's lookup order: a ClusterIP's entry, else a node's.
  for (Scope scope : {Scope::kCluster, Scope::kNode}) {
    auto it = want.services.find(ServiceKey{socket.vip, socket.vipPort, Protocol::kUdp, scope});
    if (it != want.services.end()) return !isEndpointOf(it->second, socket.backend);
  }
  return true;  // the service, or its port, is gone
}

bool udpEndpointsLeft(const DesiredService& before, const DesiredService* after) {
  if (before.key.protocol != Protocol::kUdp || before.key.scope == Scope::kExternal) return false;
  if (!after) return true;
  auto lost = [&](const BackendAddr& b) { return !isEndpointOf(*after, b); };
  return std::ranges::any_of(before.backends, lost, &DesiredBackend::addr) ||
         std::ranges::any_of(before.otherEndpoints, lost);
}

Result<maps::SockTermReport> closeStaleUdpSockets(maps::Table& table, const DesiredState& want,
                                                  maps::SockTerm& term) {
  SVCR_ASSIGN_OR_RETURN(auto lock, table.lock(maps::LockMode::kExclusive));
  return term.closeUdp(
      [&](const maps::TranslatedSocket& socket) { return backendLeft(want, socket); });
}

std::string describe(const maps::SockTermReport& r, double ms) {
  char line[256];
  std::snprintf(line, sizeof(line),
                "closed %llu connected UDP socket%s whose backend left (%s, %llu UDP "
                "translation%s, %llu namespace%s, %.1f ms)",
                static_cast<unsigned long long>(r.closed), r.closed == 1 ? "" : "s",
                r.mechanism.c_str(), static_cast<unsigned long long>(r.sockets),
                r.sockets == 1 ? "" : "s", static_cast<unsigned long long>(r.namespaces),
                r.namespaces == 1 ? "" : "s", ms);
  std::string out = line;
  if (r.skippedNetns)
    out += "; " + std::to_string(r.skippedNetns) +
           " namespaces not entered (entering one needs CAP_SYS_ADMIN)";
  if (r.failed) out += "; " + std::to_string(r.failed) + " could not be closed: " + r.firstError;
  return out;
}

}  // namespace svcrouter
