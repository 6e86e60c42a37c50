#include "userspace/k8s/json_doc.h"

#include <string>

namespace svcrouter {

namespace {

// How deep arrays and objects nest in `text`, strings skipped; stops
// counting past `limit`. Brackets that do not match are the parser's
// business, not this count's.
size_t nesting(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

Result<nlohmann::json> parseJson(std::string_view text, size_t maxDepth) {
  if (nesting(text, maxDepth) > maxDepth)
    return fail("invalid JSON: nested more than " + std::to_string(maxDepth) +
                " arrays and objects deep");
  constexpr bool kAllowExceptions = false;  // errors are values: a discarded value
  auto json = nlohmann::json::parse(text, nullptr, kAllowExceptions);
  if (json.is_discarded()) return fail("invalid JSON");
  return json;
}

}  // namespace svcrouter
