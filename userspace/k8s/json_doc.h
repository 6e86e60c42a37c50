// JSON text from the API server (list pages, watch events, Status bodies),
// parsed with the same nesting bound as YAML documents (yaml_doc.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "maps/error.h"

namespace svcrouter {

// The JSON value of `text`. Fails, saying why, when it is not JSON or when
// arrays and objects nest deeper than `maxDepth`: nlohmann's parser has no
// such bound, and each level of "[[[[..." costs it a value on the heap.
[[nodiscard]] Result<nlohmann::json> parseJson(std::string_view text, size_t maxDepth = 256);

}  // namespace svcrouter
