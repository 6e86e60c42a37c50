// A small RAII view over libyaml's document API (yaml_parser_load): a stream
// loads every document of a YAML text, and YamlNode reads them in place.
#pragma once

#include <yaml.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "maps/error.h"

namespace svcrouter {

// One node of a loaded document, or no node at all ("absent", e.g. a missing
// map key). Cheap to copy: two pointers, valid while its YamlStream lives.
class YamlNode {
 public:
  YamlNode() = default;
  YamlNode(yaml_document_t* doc, yaml_node_t* node) : doc_(doc), node_(node) {}

  bool isDefined() const { return node_ != nullptr; }
  bool isMap() const { return node_ && node_->type == YAML_MAPPING_NODE; }
  bool isList() const { return node_ && node_->type == YAML_SEQUENCE_NODE; }
  bool isScalar() const { return node_ && node_->type == YAML_SCALAR_NODE; }

  // A scalar written without quotes (or block style): YAML's typed values,
  // such as integers and booleans, are plain scalars.
  bool isPlain() const { return isScalar() && node_->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }

  // The node's tag as libyaml resolved it: the default for its kind
  // ("tag:yaml.org,2002:str" for scalars) unless an explicit tag was given.
  std::string_view tag() const;
  // True when the tag is the default for the node's kind. libyaml's loader
  // gives an untagged node and the non-specific tag "!" the default, so
  // "x", "! x" and "!!str x" cannot be told apart.
  bool hasDefaultTag() const;

  // Unset: absent, or a plain untagged ~, null, Null, NULL or empty scalar.
  bool isNull() const;

  // The text of a scalar; empty for other nodes.
  std::string_view scalar() const;

  // Number of items of a list or pairs of a map; 0 for other nodes.
  size_t size() const;
  // Item i (< size()) of a list.
  YamlNode item(size_t i) const;
  // Key and value of pair i (< size()) of a map.
  YamlNode key(size_t i) const;
  YamlNode value(size_t i) const;
  // The value of the first pair whose key is a non-null scalar equal to
  // `key`; absent when there is none or this is not a map.
  YamlNode get(std::string_view key) const;

  // 1-based line where the node starts; 0 when absent.
  size_t line() const { return node_ ? node_->start_mark.line + 1 : 0; }

 private:
  YamlNode at(int index) const { return {doc_, yaml_document_get_node(doc_, index)}; }

  yaml_document_t* doc_ = nullptr;
  yaml_node_t* node_ = nullptr;
};

// One document of a YAML stream, owned; its nodes are valid while it lives.
class YamlDocument {
 public:
  // The root node; an empty document ("---" alone) has a null root.
  YamlNode root() const;

 private:
  friend class YamlReader;
  struct Deleter {
    void operator()(yaml_document_t* doc) const;
  };
  std::unique_ptr<yaml_document_t, Deleter> doc_;  // on the heap: YamlNodes point into it
};

// What a YAML document may hold, so that hostile input costs bounded time
// and memory (YamlReader checks them as it parses). A file is not bounded:
// it may hold any number of documents.
struct YamlLimits {
  // Collections nested in collections: no Kubernetes object comes near it.
  static constexpr size_t kMaxDepth = 256;
  // A document's size counts its characters (bytes for ASCII text) with
  // every alias counted as the text of the node it repeats, so that aliases
  // cannot make a document that reads as larger than this ("billion
  // laughs"). The API server stores an object in at most 1.5 MiB (etcd's
  // limit), so 64 MiB is a List of tens of thousands of objects; a larger
  // set is a file of several documents.
  static constexpr size_t kMaxDocumentSize = size_t{64} << 20;
  // One scalar, in bytes: no field of a Kubernetes object or a kubeconfig
  // comes near it (etcd's 1.5 MiB bounds a whole object).
  static constexpr size_t kMaxScalarSize = size_t{2} << 20;

  size_t depth = kMaxDepth;
  size_t documentSize = kMaxDocumentSize;
  size_t scalarSize = kMaxScalarSize;
};

// The documents of a YAML text, composed one at a time, so that a reader
// that turns each into objects holds one document's nodes, not the
// stream's.
class YamlReader {
 public:
  // `text` must outlive the reader.
  explicit YamlReader(std::string_view text, const YamlLimits& limits = {});
  YamlReader(const YamlReader&) = delete;
  YamlReader& operator=(const YamlReader&) = delete;
  ~YamlReader();

  // The next document, or nullopt after the last. A syntax error reads
  // "line 7, column 2: invalid YAML: <libyaml's problem> (<its context>)";
  // collections nested deeper than the limit fail the same way ("...:
  // invalid YAML: nested more than 256 collections deep"), and so does an
  // alias inside the node it names (a cycle; kubectl refuses it). A
  // document or a scalar over its limit fails naming the document, the line
  // it starts on and where the limit was passed: "document 3 (line 120):
  // larger than 64 MiB at line 9000; ...". After an error there are no more
  // documents.
  [[nodiscard]] Result<std::optional<YamlDocument>> next();
  static constexpr size_t kMaxDepth = YamlLimits::kMaxDepth;

 private:
  std::string_view text_;
  YamlLimits limits_;
  std::unique_ptr<yaml_parser_t> parser_;
  bool ready_ = false;    // the parser initialized
  bool done_ = false;     // the stream ended, or failed
  size_t documents_ = 0;  // documents started, for messages
};

// Every document of a YAML stream, loaded up front: a syntax error anywhere
// fails the whole stream before any document is read (small inputs, such as
// a kubeconfig; manifests are read with YamlReader).
class YamlStream {
 public:
  // Parses `text` (which need not outlive the stream); errors as YamlReader's.
  [[nodiscard]] static Result<YamlStream> load(std::string_view text,
                                               const YamlLimits& limits = {});
  static constexpr size_t kMaxDepth = YamlLimits::kMaxDepth;

  size_t size() const { return docs_.size(); }
  // The root node of document i (< size()); an empty document ("---" alone)
  // has a null root.
  YamlNode root(size_t i) const { return docs_.at(i).root(); }

 private:
  std::vector<YamlDocument> docs_;
};

}  // namespace svcrouter
