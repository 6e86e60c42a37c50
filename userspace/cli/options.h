// Values of the command's options that CLI11 does not parse itself.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace svcrouter {

// A duration as Go (and so kube-proxy's flags) writes them, whole numbers
// only: "30s", "500ms", "1m30s", "2h"; "0" is zero. nullopt if it is not
// one, or if it does not fit in milliseconds.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

}  // namespace svcrouter
