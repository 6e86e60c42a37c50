// The discovery documents kubectl reads before it lists anything: /version,
// /api, /apis and each group version's resource list, in the legacy format.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace apiserver {

// The document served at `path`, or nullopt if `path` is not a discovery
// path. serverAddress (IP:PORT) is what /api tells clients to use.
std::optional<nlohmann::json> discoveryDocument(std::string_view path,
                                                std::string_view serverAddress);

}  // namespace apiserver
