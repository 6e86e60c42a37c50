// Reading Kubernetes objects, from a manifest file's YAML or the API
// server's JSON alike (doc_node.h), into the object model, with the
// validation the API server would apply to the fields svcrouter uses. Every
// error names where the object came from, the object and the field:
// "svc.yaml: document 2 (Service default/web): spec.ports[0].port: 70000 is outside 1-65535".
#pragma once

#include <string>
#include <string_view>

#include "maps/error.h"
#include "userspace/k8s/doc_node.h"
#include "userspace/k8s/objects.h"

namespace svcrouter {

// What a container of objects says for its items, which may then leave it
// out: a typed List of a manifest, or an API server's list response, whose
// items carry no kind and apiVersion.
struct ObjectDefaults {
  std::string_view kind, apiVersion;
};

// Reads a Service or an EndpointSlice into `out` (warnings about what is
// skipped, such as SCTP ports, included); with no defaults also a List,
// ServiceList or EndpointSliceList of them. `where` names the node in
// messages, e.g. "svc.yaml: document 2".
[[nodiscard]] Result<void> readObject(const DocNode& node, const std::string& where, Objects& out,
                                      const ObjectDefaults& defaults = {});

// Reads a v1 Node (its name, labels and whether it is being deleted).
[[nodiscard]] Result<Node> readNode(const DocNode& node, const std::string& where);

}  // namespace svcrouter
