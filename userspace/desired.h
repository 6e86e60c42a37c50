// Choosing backend sets: Services and EndpointSlices in, the kernel's service
// table out, following kube-proxy's rules (pkg/proxy: endpointslicecache.go,
// topology.go) so that svcrouter and kube-proxy pick the same backends.
#pragma once

#include <string>
#include <vector>

#include "maps/error.h"
#include "userspace/model.h"

namespace svcrouter {

struct SelectOptions {
  std::string nodeName;   // this node, for internalTrafficPolicy: Local
  std::string proxyName;  // serve objects labelled service-proxy-name=proxyName
};

// Turns objects into the kernel's service table. Errors name file/document/field.
[[nodiscard]] Result<DesiredState> buildDesiredState(const Manifests& m, const SelectOptions& opts);

// One endpoint of one service port, conditions already defaulted.
struct CandidateEndpoint {
  BackendAddr addr;
  bool ready = true, serving = true, terminating = false;
  std::string nodeName;
};

// Pure selection of one service port's backends (kube-proxy's
// CategorizeEndpoints): ready endpoints, else serving+terminating ones; with
// policy Local only endpoints on nodeName are considered. Sorted by address.
std::vector<DesiredBackend> selectBackends(const std::vector<CandidateEndpoint>& eps,
                                           TrafficPolicy policy, const std::string& nodeName);

}  // namespace svcrouter
