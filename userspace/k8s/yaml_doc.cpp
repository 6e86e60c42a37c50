#include "userspace/k8s/yaml_doc.h"

#include <string>
#include <utility>

namespace svcrouter {

namespace {

std::string_view defaultTag(yaml_node_type_t type) {
  switch (type) {
    case YAML_SCALAR_NODE:
      return YAML_DEFAULT_SCALAR_TAG;
    case YAML_SEQUENCE_NODE:
      return YAML_DEFAULT_SEQUENCE_TAG;
    case YAML_MAPPING_NODE:
      return YAML_DEFAULT_MAPPING_TAG;
    default:
      return "";
  }
}

// "line 7, column 2" from a 0-based mark.
std::string position(size_t line, size_t column) {
  return "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1);
}

// A reader error (bad encoding, control character) carries a byte offset,
// not a mark: count lines and characters up to it.
std::string positionOfOffset(std::string_view text, size_t offset) {
  size_t line = 0, column = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 0;
    } else if ((c & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
      ++column;
    }
  }
  return position(line, column);
}

// libyaml's own words: "line 7, column 2: invalid YAML: did not find
// expected key (while parsing a block mapping at line 6, column 1)".
std::string parseError(const yaml_parser_t& parser, std::string_view text) {
  if (parser.error == YAML_MEMORY_ERROR || parser.problem == nullptr) {
    return "invalid YAML: out of memory";
  }
  std::string at = parser.error == YAML_READER_ERROR
                       ? positionOfOffset(text, parser.problem_offset)
                       : position(parser.problem_mark.line, parser.problem_mark.column);
  std::string message = at + ": invalid YAML: " + parser.problem;
  if (parser.context != nullptr) {
    message += std::string(" (") + parser.context + " at " +
               position(parser.context_mark.line, parser.context_mark.column) + ")";
  }
  return message;
}

}  // namespace

std::string_view YamlNode::tag() const {
  return node_ && node_->tag ? reinterpret_cast<const char*>(node_->tag) : "";
}

bool YamlNode::hasDefaultTag() const { return node_ && tag() == defaultTag(node_->type); }

bool YamlNode::isNull() const {
  if (!node_) return true;
  if (!isPlain()) return false;
  std::string_view s = scalar();
  return (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") && hasDefaultTag();
}

std::string_view YamlNode::scalar() const {
  if (!isScalar()) return {};
  return {reinterpret_cast<const char*>(node_->data.scalar.value), node_->data.scalar.length};
}

size_t YamlNode::size() const {
  if (isList()) return node_->data.sequence.items.top - node_->data.sequence.items.start;
  if (isMap()) return node_->data.mapping.pairs.top - node_->data.mapping.pairs.start;
  return 0;
}

YamlNode YamlNode::item(size_t i) const {
  if (i >= size() || !isList()) return {};
  return at(node_->data.sequence.items.start[i]);
}

YamlNode YamlNode::key(size_t i) const {
  if (i >= size() || !isMap()) return {};
  return at(node_->data.mapping.pairs.start[i].key);
}

YamlNode YamlNode::value(size_t i) const {
  if (i >= size() || !isMap()) return {};
  return at(node_->data.mapping.pairs.start[i].value);
}

YamlNode YamlNode::get(std::string_view key) const {
  if (!isMap()) return {};
  for (const yaml_node_pair_t* p = node_->data.mapping.pairs.start;
       p != node_->data.mapping.pairs.top; ++p) {
    YamlNode k = at(p->key);
    if (k.isScalar() && k.scalar() == key && !k.isNull()) return at(p->value);
  }
  return {};
}

void YamlStream::DocumentDeleter::operator()(yaml_document_t* doc) const {
  yaml_document_delete(doc);
  delete doc;
}

Result<YamlStream> YamlStream::load(std::string_view text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return fail("invalid YAML: out of memory");
  std::unique_ptr<yaml_parser_t, decltype(&yaml_parser_delete)> parserGuard(&parser,
                                                                            &yaml_parser_delete);
  // libyaml asserts a non-null input, which an empty string_view may not have.
  const char* data = text.data() != nullptr ? text.data() : "";
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(data), text.size());
  YamlStream stream;
  for (;;) {
    auto loading = std::make_unique<yaml_document_t>();
    // On failure libyaml has already freed what it loaded of the document.
    if (!yaml_parser_load(&parser, loading.get())) return fail(parseError(parser, text));
    Document doc(loading.release());
    if (yaml_document_get_root_node(doc.get()) == nullptr) break;  // the end of the stream
    stream.docs_.push_back(std::move(doc));
  }
  return stream;
}

YamlNode YamlStream::root(size_t i) const {
  yaml_document_t* doc = docs_.at(i).get();
  return {doc, yaml_document_get_root_node(doc)};
}

}  // namespace svcrouter
