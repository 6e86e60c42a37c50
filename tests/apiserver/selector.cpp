#include "selector.h"

#include <algorithm>
#include <cctype>

namespace apiserver {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// Splits at the commas outside parentheses: "a in (x,y),b" -> "a in (x,y)", "b".
std::vector<std::string_view> splitTerms(std::string_view text) {
  std::vector<std::string_view> terms;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); i++) {
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      terms.push_back(trim(text.substr(start, i - start)));
      start = i + 1;
    } else if (text[i] == '(') {
      depth++;
    } else if (text[i] == ')') {
      depth--;
    }
  }
  return terms;
}

// Label keys ([prefix/]name) and values: letters, digits and -_./ (values without '/').
bool validLabelText(std::string_view s, bool isKey) {
  return std::ranges::all_of(s, [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           (isKey && c == '/');
  });
}

}  // namespace

std::expected<LabelSelector, std::string> LabelSelector::parse(std::string_view text) {
  LabelSelector selector;
  if (trim(text).empty()) return selector;
  for (std::string_view term : splitTerms(text)) {
    auto invalid = [&](std::string_view why) {
      return std::unexpected("unable to parse requirement \"" + std::string(term) +
                             "\": " + std::string(why));
    };
    Requirement req;
    if (term.starts_with('!')) {
      req = {std::string(trim(term.substr(1))), Op::kNotExists, {}};
    } else if (size_t op = term.find_first_of("!="); op != std::string_view::npos) {
      // key=value, key==value, key!=value
      bool negated = term[op] == '!';
      size_t valueAt = op + 1;
      if (negated && (valueAt >= term.size() || term[valueAt] != '=')) {
        return invalid("expected != ");
      }
      if (negated || (valueAt < term.size() && term[valueAt] == '=')) valueAt++;
      std::string value(trim(term.substr(valueAt)));
      if (!validLabelText(value, false)) return invalid("invalid label value");
      req = {std::string(trim(term.substr(0, op))), negated ? Op::kNotIn : Op::kIn, {value}};
    } else if (size_t open = term.find('('); open != std::string_view::npos) {
      // key in (a,b), key notin (a,b)
      if (!term.ends_with(')')) return invalid("expected )");
      std::string_view head = trim(term.substr(0, open));
      size_t space = head.rfind(' ');
      if (space == std::string_view::npos) return invalid("expected in or notin");
      std::string_view word = head.substr(space + 1);
      if (word != "in" && word != "notin") return invalid("expected in or notin");
      req = {std::string(trim(head.substr(0, space))), word == "in" ? Op::kIn : Op::kNotIn, {}};
      std::string_view list = term.substr(open + 1, term.size() - open - 2);
      for (std::string_view v : splitTerms(list)) {
        if (!validLabelText(v, false)) return invalid("invalid label value");
        req.values.emplace_back(v);
      }
    } else {
      req = {std::string(term), Op::kExists, {}};
    }
    if (req.key.empty() || !validLabelText(req.key, true)) return invalid("invalid label key");
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool LabelSelector::matches(const nlohmann::json& labels) const {
  return std::ranges::all_of(requirements_, [&](const Requirement& req) {
    const nlohmann::json* value = nullptr;
    if (labels.is_object()) {
      if (auto it = labels.find(req.key); it != labels.end() && it->is_string()) value = &*it;
    }
    auto listed = [&] {
      return value && std::ranges::find(req.values, value->get_ref<const std::string&>()) !=
                          req.values.end();
    };
    switch (req.op) {
      case Op::kExists:
        return value != nullptr;
      case Op::kNotExists:
        return value == nullptr;
      case Op::kIn:
        return listed();
      case Op::kNotIn:
        return !listed();
    }
    return false;
  });
}

std::expected<FieldSelector, std::string> FieldSelector::parse(std::string_view text) {
  FieldSelector selector;
  if (trim(text).empty()) return selector;
  for (std::string_view term : splitTerms(text)) {
    size_t op = term.find_first_of("!=");
    if (op == std::string_view::npos) {
      return std::unexpected("invalid selector: '" + std::string(term) + "'; can't understand '" +
                             std::string(term) + "'");
    }
    bool equal = term[op] == '=';
    size_t valueAt = op + 1;
    bool doubled = valueAt < term.size() && term[valueAt] == '=';
    if (!equal && !doubled) {
      return std::unexpected("invalid selector: '" + std::string(term) + "'; expected !=");
    }
    if (doubled) valueAt++;
    std::string_view field = trim(term.substr(0, op));
    if (field != "metadata.name" && field != "metadata.namespace") {
      return std::unexpected("field label not supported: " + std::string(field));
    }
    selector.requirements_.push_back(
        {field == "metadata.name", equal, std::string(trim(term.substr(valueAt)))});
  }
  return selector;
}

bool FieldSelector::matches(std::string_view ns, std::string_view name) const {
  return std::ranges::all_of(requirements_, [&](const Requirement& req) {
    return ((req.isName ? name : ns) == req.value) == req.equal;
  });
}

bool Filter::matches(std::string_view objectNs, std::string_view name,
                     const nlohmann::json& objectLabels) const {
  return (!ns || *ns == objectNs) && fields.matches(objectNs, name) && labels.matches(objectLabels);
}

}  // namespace apiserver
