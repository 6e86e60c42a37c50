// Reading Kubernetes manifests (Services and EndpointSlices, bare or in
// Lists) into the model, with the validation the API server would apply to
// the fields svcrouter uses.
#pragma once

#include <string>
#include <string_view>

#include "maps/error.h"
#include "userspace/k8s/objects.h"
#include "userspace/k8s/yaml_doc.h"

namespace svcrouter {

// Reads FILE; errors name the file, document and field, e.g.
// "svc.yaml: document 2 (Service default/web): spec.ports[0].port: 70000 is outside 1-65535".
[[nodiscard]] Result<Objects> readManifestFile(const std::string& path);

// A file's whole content; the error names the file.
[[nodiscard]] Result<std::string> readTextFile(const std::string& path);

// Parses YAML text; fileName only labels messages and Service/EndpointSlice::where.
// The limits are YamlReader's (the fuzz target reads with smaller ones).
[[nodiscard]] Result<Objects> parseManifests(std::string_view yaml, const std::string& fileName,
                                             const YamlLimits& limits = {});

}  // namespace svcrouter
