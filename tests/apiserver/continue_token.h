// The `continue` token of paged lists: where the next page starts, and the
// snapshot every page of the list is read from.
// Opaque to clients (base64url of a small JSON document), as the real one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store.h"

namespace apiserver {

struct ContinueToken {
  Store::SnapshotId snapshot;  // the first page's
  std::string ns;              // the last object sent: the next page starts after it
  std::string name;

  std::string encode() const;
  // nullopt if `text` is not a token this server made.
  static std::optional<ContinueToken> decode(std::string_view text);
};

}  // namespace apiserver
