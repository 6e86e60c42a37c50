// One resource kept in step with the API server, as client-go's reflector
// does: list it (in pages), then watch from the list's resourceVersion, so
// no change between the two is lost. A watch that ends is resumed from the
// last resourceVersion seen (events and bookmarks); one that fails (a cut
// stream, 5xx, 429, no connection) is resumed after a jittered exponential
// backoff that honours Retry-After; 410 Gone (the server no longer has that
// resourceVersion) means list again, and the sink converges by difference.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "userspace/k8s/api_client.h"

namespace svcrouter {

// What the reflector follows: "/api/v1/services" and its selectors.
struct Resource {
  std::string name;  // "services": for logs and metrics
  std::string path;
  std::string labelSelector;  // "" for none
  std::string fieldSelector;  // "" for none
};

// Receives the resource's objects; called from the reflector's thread.
class ReflectorSink {
 public:
  enum class Change { kAdded, kModified, kDeleted };
  virtual ~ReflectorSink() = default;
  // A (re)list, a page at a time (so that a large list is never held whole
  // as JSON): listPage for each page, then listDone. What the sink had and
  // the list does not hold is gone at listDone; a list that fails part-way
  // (listPage with first again) starts over and changes nothing.
  virtual void listPage(const std::string& resource, std::vector<nlohmann::json> items,
                        bool first) = 0;
  virtual void listDone(const std::string& resource) = 0;
  // One change, in the order the server made them.
  virtual void change(const std::string& resource, Change change, nlohmann::json object) = 0;
};

struct ReflectorOptions {
  size_t pageSize = 500;  // client-go's reflector pages lists by 500
  // Watches ask the server to end them after a random time in [min, 2*min):
  // their connections are spread over time and over API servers.
  std::chrono::seconds minWatchTimeout{300};
  std::chrono::milliseconds backoffInitial{800}, backoffMax{30000};
  // Why the reflector listed again ("relist") or resumed a watch ("watch
  // restart"), by cause category ("gone", "http_500", "transport",
  // "error_event", "continue_expired", "list_failed", "ended_at_once"), for
  // metrics. May be empty.
  std::function<void(const std::string& resource, const std::string& what,
                     const std::string& cause)>
      observe;
};

class Reflector {
 public:
  Reflector(const ApiClient& client, Resource resource, ReflectorSink& sink,
            ReflectorOptions options);

  // Lists and watches until `stop` is true.
  void run(const std::atomic<bool>& stop);

 private:
  enum class WatchEnd { kExpired, kGone, kFailed, kStopped };

  // Lists every page; the list's resourceVersion, or why not.
  Result<std::string> list(const std::atomic<bool>& stop);
  WatchEnd watch(const std::atomic<bool>& stop);
  std::string query(std::initializer_list<std::pair<std::string, std::string>> params) const;
  // what: "relist" or "watch restart"; cause: a short category for
  // metrics ("gone", "http_500", "transport"...); detail: for the log.
  void observe(const std::string& what, const std::string& cause, const std::string& detail);
  // Sleeps for the next backoff step (at least retryAfter), unless stopped.
  void backoff(const std::atomic<bool>& stop, std::optional<int> retryAfterSec);

  const ApiClient& client_;
  Resource resource_;
  ReflectorSink& sink_;
  ReflectorOptions options_;
  std::string resourceVersion_;
  int failures_ = 0;               // in a row, for the backoff
  std::optional<int> retryAfter_;  // the server's Retry-After on the last failure
};

// Percent-encodes a query parameter's value.
std::string urlEncode(std::string_view text);

// One page of a list response.
struct ListPage {
  std::vector<nlohmann::json> items;  // none when the page has no list of items
  std::string resourceVersion;        // metadata.resourceVersion, "" when unset
  std::string continueToken;          // metadata.continue: "" on the last page
};

// Reads a list response's body (a JSON object; anything else is an error).
// Fields of the wrong type read as unset: what the server says is data,
// never a reason to throw.
[[nodiscard]] Result<ListPage> parseListPage(std::string_view body);

// One line of a watch stream: {"type": ..., "object": {...}}.
struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError, kUnknown };
  Type type = Type::kUnknown;  // kUnknown: a type from a newer server, to skip
  nlohmann::json object;
  std::string resourceVersion;  // the object's metadata.resourceVersion, "" when unset
  long code = 0;                // kError: the Status's code
  std::string message;          // kError: the Status's message
};

// Reads one watch event; an error when it is not an object with a string
// type and an object.
[[nodiscard]] Result<WatchEvent> parseWatchEvent(std::string_view line);

}  // namespace svcrouter
