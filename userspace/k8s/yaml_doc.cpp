#include "userspace/k8s/yaml_doc.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

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

void YamlDocument::Deleter::operator()(yaml_document_t* doc) const {
  yaml_document_delete(doc);
  delete doc;
}

YamlNode YamlDocument::root() const {
  return {doc_.get(), yaml_document_get_root_node(doc_.get())};
}

namespace {

// Frees an event on every path out of the loop that parsed it.
struct EventGuard {
  yaml_event_t* event;
  ~EventGuard() { yaml_event_delete(event); }
};

const yaml_char_t* nonSpecific(const yaml_char_t* tag) {
  // "!" and no tag both mean the default tag of the node's kind (libyaml's loader).
  return tag && std::string_view(reinterpret_cast<const char*>(tag)) != "!" ? tag : nullptr;
}

// "64 MiB", "2 MiB", or bytes for a limit that is not a whole MiB (tests).
std::string sizeText(size_t bytes) {
  if (bytes % (size_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

YamlReader::YamlReader(std::string_view text, const YamlLimits& limits)
    : text_(text), limits_(limits), parser_(std::make_unique<yaml_parser_t>()) {
  ready_ = yaml_parser_initialize(parser_.get()) != 0;
  if (!ready_) return;
  // libyaml asserts a non-null input, which an empty string_view may not have.
  const char* data = text.data() != nullptr ? text.data() : "";
  yaml_parser_set_input_string(parser_.get(), reinterpret_cast<const unsigned char*>(data),
                               text.size());
}

YamlReader::~YamlReader() {
  if (ready_) yaml_parser_delete(parser_.get());
}

// Composes a document from libyaml's events, as yaml_parser_load does, with
// more rules (YamlLimits): collections nest at most `depth` deep, a document
// is at most `documentSize` with its aliases expanded, a scalar at most
// `scalarSize`, and an alias never names a node it is inside. libyaml's own
// loader takes time quadratic in the depth of nested flow collections (a
// 200 KB line of "[" keeps it busy for seconds); here the parse stops at the
// first event past a limit. libyaml reads one token ahead of its events, so
// what it holds beyond a limit is one token of the text, which is in memory.
Result<std::optional<YamlDocument>> YamlReader::next() {
  if (!ready_) return fail("invalid YAML: out of memory");
  if (done_) return std::nullopt;
  yaml_parser_t& parser = *parser_;
  std::string_view text = text_;
  // Any return before the document ends is the end of the stream, or an error.
  struct Finish {
    bool& done;
    bool keep = false;
    ~Finish() { done = done || !keep; }
  } finish{done_};
  YamlDocument result;
  auto& doc = result.doc_;
  struct Open {
    int node;
    size_t start;   // mark index of its start
    size_t extra;   // the document's `extra` when it opened
    bool anchored;  // its size is wanted when it closes
    int key = 0;    // a mapping's key waiting for its value
  };
  std::vector<Open> open;
  std::map<std::string, int, std::less<>> anchors;
  // The expanded size of each anchored node that is complete; an anchored
  // node missing here is still open (an alias to it would be a cycle).
  std::map<int, size_t> anchoredSize;
  // The document's start (mark index and line), and what its aliases add to
  // its text: for each alias, the expanded size of its node minus its own.
  size_t docStart = 0, docLine = 0, extra = 0;
  // "document 2 (line 6): larger than 64 MiB at line 900001; ...".
  auto tooLarge = [&](std::string_view what, size_t line, std::string_view hint) {
    return fail("document " + std::to_string(documents_) + " (line " + std::to_string(docLine + 1) +
                "): " + std::string(what) + " at line " + std::to_string(line + 1) +
                std::string(hint));
  };
  // The document's size up to `end`, aliases expanded, within the limit?
  auto checkSize = [&](const yaml_mark_t& end) -> Result<void> {
    if (end.index - docStart + extra <= limits_.documentSize) return {};
    return tooLarge("larger than " + sizeText(limits_.documentSize), end.line,
                    extra ? " (each alias counted as the node it repeats)"
                          : "; split it into smaller documents");
  };
  // Adds node `id` (just made) where the document is: the root, an item, a key or a value.
  auto place = [&](int id, const yaml_mark_t& start, const yaml_mark_t& end) {
    yaml_node_t* n = yaml_document_get_node(doc.get(), id);
    n->start_mark = start;
    n->end_mark = end;
    if (open.empty()) return true;
    Open& top = open.back();
    yaml_node_t* parent = yaml_document_get_node(doc.get(), top.node);
    if (parent->type == YAML_SEQUENCE_NODE)
      return yaml_document_append_sequence_item(doc.get(), top.node, id) != 0;
    if (top.key == 0) {
      top.key = id;
      return true;
    }
    int key = std::exchange(top.key, 0);
    return yaml_document_append_mapping_pair(doc.get(), top.node, key, id) != 0;
  };
  auto remember = [&](const yaml_char_t* anchor, int id) {
    if (anchor) anchors[reinterpret_cast<const char*>(anchor)] = id;
  };
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) return fail(parseError(parser, text));
    EventGuard guard{&event};
    const yaml_mark_t& at = event.start_mark;
    if (doc) SVCR_RETURN_IF_ERROR(checkSize(event.end_mark));
    int id = 0;
    switch (event.type) {
      case YAML_STREAM_END_EVENT:
        return std::nullopt;
      case YAML_DOCUMENT_START_EVENT:
        doc.reset(new yaml_document_t);
        if (!yaml_document_initialize(doc.get(), nullptr, nullptr, nullptr,
                                      event.data.document_start.implicit, 1)) {
          delete doc.release();  // not initialized: nothing of libyaml's to free
          return fail("invalid YAML: out of memory");
        }
        ++documents_;
        docStart = at.index;
        docLine = at.line;
        break;
      case YAML_DOCUMENT_END_EVENT:
        finish.keep = true;
        return std::optional<YamlDocument>(std::move(result));
      case YAML_SCALAR_EVENT:
        if (event.data.scalar.length > limits_.scalarSize)
          return tooLarge("a scalar larger than " + sizeText(limits_.scalarSize), at.line, "");
        id = yaml_document_add_scalar(
            doc.get(), nonSpecific(event.data.scalar.tag), event.data.scalar.value,
            static_cast<int>(event.data.scalar.length), event.data.scalar.style);
        if (!id || !place(id, at, event.end_mark)) return fail("invalid YAML: out of memory");
        remember(event.data.scalar.anchor, id);
        if (event.data.scalar.anchor) anchoredSize[id] = event.end_mark.index - at.index;
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (open.size() >= limits_.depth)
          return fail(position(at.line, at.column) + ": invalid YAML: nested more than " +
                      std::to_string(limits_.depth) + " collections deep");
        const yaml_char_t* anchor;
        if (event.type == YAML_SEQUENCE_START_EVENT) {
          id = yaml_document_add_sequence(doc.get(), nonSpecific(event.data.sequence_start.tag),
                                          event.data.sequence_start.style);
          anchor = event.data.sequence_start.anchor;
        } else {
          id = yaml_document_add_mapping(doc.get(), nonSpecific(event.data.mapping_start.tag),
                                         event.data.mapping_start.style);
          anchor = event.data.mapping_start.anchor;
        }
        if (!id || !place(id, at, event.end_mark)) return fail("invalid YAML: out of memory");
        remember(anchor, id);
        open.push_back({id, at.index, extra, anchor != nullptr});
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        const Open& closed = open.back();
        // Its text and what the aliases inside it add.
        if (closed.anchored)
          anchoredSize[closed.node] = event.end_mark.index - closed.start + extra - closed.extra;
        open.pop_back();
        break;
      }
      case YAML_ALIAS_EVENT: {
        auto found = anchors.find(reinterpret_cast<const char*>(event.data.alias.anchor));
        if (found == anchors.end())
          return fail(position(at.line, at.column) + ": invalid YAML: found undefined alias");
        auto size = anchoredSize.find(found->second);
        if (size == anchoredSize.end())
          return fail(position(at.line, at.column) + ": invalid YAML: alias *" + found->first +
                      " is inside the node it names");
        size_t own = event.end_mark.index - at.index;
        if (size->second > own) extra += size->second - own;
        SVCR_RETURN_IF_ERROR(checkSize(event.end_mark));
        // The aliased node itself, as libyaml's loader does (a shared node).
        if (!place(found->second, yaml_document_get_node(doc.get(), found->second)->start_mark,
                   yaml_document_get_node(doc.get(), found->second)->end_mark))
          return fail("invalid YAML: out of memory");
        break;
      }
      default:  // STREAM_START, NO_EVENT
        break;
    }
  }
}

Result<YamlStream> YamlStream::load(std::string_view text, const YamlLimits& limits) {
  YamlStream stream;
  YamlReader reader(text, limits);
  for (;;) {
    SVCR_ASSIGN_OR_RETURN(auto doc, reader.next());
    if (!doc) return stream;
    stream.docs_.push_back(std::move(*doc));
  }
}

}  // namespace svcrouter
