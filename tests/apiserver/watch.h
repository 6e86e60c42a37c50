// Watches: each open watch streams the store's changes after its
// resourceVersion as JSON lines, filtered by its namespace and selectors,
// with bookmarks, a timeout, and the faults the admin port signals to every
// open watch at once. Thread-safe: each watch runs on its connection's thread
// and blocks on the store's condition variable between changes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "faults.h"
#include "objects.h"
#include "selector.h"
#include "store.h"

namespace apiserver {

struct WatchRequest {
  const Resource* resource;
  Filter filter;
  // Changes after this resourceVersion; nullopt ("0" or none): the current
  // objects first, as ADDED events, then the changes after them.
  std::optional<uint64_t> from;
  bool bookmarks;                               // allowWatchBookmarks
  std::optional<std::chrono::seconds> timeout;  // timeoutSeconds: then end cleanly
  int socket = -1;  // the connection, to notice a client that went away (-1: do not)
};

// What the admin port does to every open watch at once.
enum class WatchSignal {
  kGone,      // an ERROR 410 event, then the stream ends
  kCut,       // half an event line, then the connection drops without the final chunk
  kBookmark,  // a BOOKMARK now (to watches that allowed them)
};

class WatchHub {
 public:
  // An idle watch that allowed bookmarks gets one every bookmarkInterval, as
  // from the real server (about 1 s); 0: only when the admin port asks.
  WatchHub(const Store& store, const Faults& faults, std::chrono::milliseconds bookmarkInterval);

  // Streams the watch to sink until it ends; true if it ended cleanly
  // (sink.done() called), false if the connection is to be dropped.
  bool serve(const WatchRequest& req, httplib::DataSink& sink);

  void signal(WatchSignal what);

  // Ends every open watch cleanly, and every later one at once (SIGTERM).
  void shutdown();

  // How many watches are open, per resource.
  std::map<Kind, int> openWatches() const;

 private:
  struct Session;
  class Registration;

  const Store& store_;
  const Faults& faults_;
  const std::chrono::milliseconds bookmarkInterval_;
  mutable std::mutex mutex_;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  uint64_t nextId_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace apiserver
