// One node of a parsed Kubernetes object, whichever format it came in: a
// manifest file's YAML (libyaml, yaml_doc.h) or the API server's JSON
// (nlohmann-json). The object readers (object_reader.h) read both through
// this one view, so a Service from a file and one from the API server are
// validated by the same code.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "userspace/k8s/yaml_doc.h"

namespace svcrouter {

class DocNode {
 public:
  // No node at all: a missing field.
  DocNode() = default;
  explicit DocNode(YamlNode node) : node_(node) {}
  // Valid while `json` lives.
  explicit DocNode(const nlohmann::json& json) : node_(&json) {}

  // Unset: absent, or null (YAML: a plain ~, null or empty scalar).
  bool isNull() const;
  bool isMap() const;
  bool isList() const;
  bool isScalar() const;  // not null
  // A scalar that is text by its form, never a typed value: quoted YAML
  // (without an explicit tag), a JSON string. "80" is text, 80 is a number.
  bool isText() const;

  // What a scalar says: the text, or the number or boolean as written
  // (YAML) or as printed (JSON); empty for other nodes.
  std::string scalar() const;

  // Items of a list or pairs of a map; 0 for other nodes.
  size_t size() const;
  DocNode item(size_t i) const;
  // The value of key `key` in a map; absent if none or not a map.
  DocNode get(std::string_view key) const;
  // Every pair of a map, in order; a key that is not a scalar is nullopt.
  std::vector<std::pair<std::optional<std::string>, DocNode>> pairs() const;

  // "a map", "a list", "a string" or "a scalar", for messages.
  std::string_view typeName() const;

 private:
  using Json = const nlohmann::json*;
  std::variant<std::monostate, YamlNode, Json> node_;
};

}  // namespace svcrouter
