// Label and field selectors, as the real server reads the labelSelector and
// fieldSelector query parameters of lists and watches.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace apiserver {

// A label selector: comma-joined requirements, all of which must hold.
//   key  !key  key=value  key==value  key!=value  key in (a,b)  key notin (a,b)
// As in Kubernetes, `key!=value` and `notin` also match objects without the label.
class LabelSelector {
 public:
  // The selector, or why the text is not one (the real server's 400).
  static std::expected<LabelSelector, std::string> parse(std::string_view text);

  // Whether an object with these labels (metadata.labels; null if none) matches.
  bool matches(const nlohmann::json& labels) const;

 private:
  enum class Op { kExists, kNotExists, kIn, kNotIn };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;  // for kIn and kNotIn (`=` is `in` with one value)
  };
  std::vector<Requirement> requirements_;
};

// A field selector over metadata.name and metadata.namespace (what every
// resource supports): comma-joined `field=value`, `field==value`, `field!=value`.
class FieldSelector {
 public:
  static std::expected<FieldSelector, std::string> parse(std::string_view text);
  bool matches(std::string_view ns, std::string_view name) const;

 private:
  struct Requirement {
    bool isName;  // metadata.name, else metadata.namespace
    bool equal;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

// What a list or watch asks for: a namespace (from the path) and both selectors.
struct Filter {
  std::optional<std::string> ns;  // nullopt: every namespace
  LabelSelector labels;
  FieldSelector fields;

  bool matches(std::string_view objectNs, std::string_view name,
               const nlohmann::json& objectLabels) const;
};

}  // namespace apiserver
