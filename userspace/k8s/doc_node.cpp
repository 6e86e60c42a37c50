#include "userspace/k8s/doc_node.h"

namespace svcrouter {
namespace {

template <class... Ts>
struct Visit : Ts... {
  using Ts::operator()...;
};

}  // namespace

bool DocNode::isNull() const {
  return std::visit(
      Visit{[](std::monostate) { return true; }, [](const YamlNode& n) { return n.isNull(); },
            [](Json j) { return j->is_null(); }},
      node_);
}

bool DocNode::isMap() const {
  return std::visit(
      Visit{[](std::monostate) { return false; }, [](const YamlNode& n) { return n.isMap(); },
            [](Json j) { return j->is_object(); }},
      node_);
}

bool DocNode::isList() const {
  return std::visit(
      Visit{[](std::monostate) { return false; }, [](const YamlNode& n) { return n.isList(); },
            [](Json j) { return j->is_array(); }},
      node_);
}

bool DocNode::isScalar() const {
  return std::visit(Visit{[](std::monostate) { return false; },
                          [](const YamlNode& n) { return n.isScalar() && !n.isNull(); },
                          [](Json j) { return j->is_primitive() && !j->is_null(); }},
                    node_);
}

bool DocNode::isText() const {
  return std::visit(
      Visit{[](std::monostate) { return false; },
            // An explicit non-string tag, as in !!int "80", types it anyway.
            [](const YamlNode& n) { return n.isScalar() && !n.isPlain() && n.hasDefaultTag(); },
            [](Json j) { return j->is_string(); }},
      node_);
}

std::string DocNode::scalar() const {
  return std::visit(Visit{[](std::monostate) { return std::string(); },
                          [](const YamlNode& n) { return std::string(n.scalar()); },
                          [](Json j) {
                            if (j->is_string()) return j->get<std::string>();
                            return j->is_primitive() && !j->is_null() ? j->dump() : std::string();
                          }},
                    node_);
}

size_t DocNode::size() const {
  return std::visit(
      Visit{[](std::monostate) -> size_t { return 0; }, [](const YamlNode& n) { return n.size(); },
            [](Json j) -> size_t { return j->is_array() || j->is_object() ? j->size() : 0; }},
      node_);
}

DocNode DocNode::item(size_t i) const {
  return std::visit(
      Visit{[](std::monostate) { return DocNode(); },
            [i](const YamlNode& n) { return DocNode(n.item(i)); },
            [i](Json j) { return j->is_array() && i < j->size() ? DocNode((*j)[i]) : DocNode(); }},
      node_);
}

DocNode DocNode::get(std::string_view key) const {
  return std::visit(Visit{[](std::monostate) { return DocNode(); },
                          [key](const YamlNode& n) { return DocNode(n.get(key)); },
                          [key](Json j) {
                            if (!j->is_object()) return DocNode();
                            auto it = j->find(key);
                            return it == j->end() ? DocNode() : DocNode(*it);
                          }},
                    node_);
}

std::vector<std::pair<std::optional<std::string>, DocNode>> DocNode::pairs() const {
  std::vector<std::pair<std::optional<std::string>, DocNode>> out;
  std::visit(Visit{[](std::monostate) {},
                   [&out](const YamlNode& n) {
                     if (!n.isMap()) return;
                     for (size_t i = 0; i < n.size(); ++i) {
                       YamlNode k = n.key(i);
                       std::optional<std::string> key;
                       if (k.isScalar() && !k.isNull()) key = std::string(k.scalar());
                       out.emplace_back(std::move(key), DocNode(n.value(i)));
                     }
                   },
                   [&out](Json j) {
                     if (!j->is_object()) return;
                     for (const auto& [k, v] : j->items()) out.emplace_back(k, DocNode(v));
                   }},
             node_);
  return out;
}

std::string_view DocNode::typeName() const {
  if (isMap()) return "a map";
  if (isList()) return "a list";
  return isText() ? "a string" : "a scalar";
}

}  // namespace svcrouter
