// Values of the command's options that CLI11 does not parse itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace svcrouter {

// A duration as Go (and so kube-proxy's flags) writes them, whole numbers
// only: "30s", "500ms", "1m30s", "2h"; "0" is zero. nullopt if it is not
// one, or if it does not fit in milliseconds.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

// --dns-ttl: whole seconds, as a number ("30") or a duration ("30s",
// "1m"), at most a day. nullopt otherwise.
inline constexpr uint32_t kMaxDnsTtl = 86400;
std::optional<uint32_t> parseDnsTtl(std::string_view text);

}  // namespace svcrouter
