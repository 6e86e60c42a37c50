#include "watch.h"

#include <poll.h>

#include <string>
#include <string_view>

namespace apiserver {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle watch goes without checking that its client is still there.
constexpr auto kLivenessInterval = std::chrono::seconds(1);
// Changes taken from the store per lock.
constexpr size_t kBatch = 1000;

std::string eventLine(std::string_view type, std::string_view objectJson) {
  std::string line;
  line.reserve(objectJson.size() + 32);
  line.append(R"({"type":")").append(type).append(R"(","object":)");
  line.append(objectJson).append("}\n");
  return line;
}

std::string bookmarkLine(const Resource& resource, uint64_t resourceVersion) {
  nlohmann::json object = {{"kind", resource.kindName},
                           {"apiVersion", resource.apiVersion},
                           {"metadata", {{"resourceVersion", std::to_string(resourceVersion)}}}};
  return eventLine("BOOKMARK", object.dump());
}

std::string errorLine(const nlohmann::json& status) { return eventLine("ERROR", status.dump()); }

bool matches(const Filter& filter, const StoredObject& object) {
  return filter.matches(object.ns, object.name, object.labels());
}

// How a change looks through a watch's filter, as the real server shows it:
// an object that starts matching is ADDED, one that stops matching DELETED.
std::optional<EventType> seenAs(const Change& change, const Filter& filter) {
  bool before = change.previous && matches(filter, *change.previous);
  bool after = change.type != EventType::kDeleted && matches(filter, *change.object);
  if (before && after) return EventType::kModified;
  if (after) return EventType::kAdded;
  if (before) return EventType::kDeleted;
  return std::nullopt;
}

// Whether the client closed its end (or the connection failed); a watch only
// writes, so nothing else arrives on it.
bool peerGone(int socket) {
  if (socket < 0) return false;
  pollfd p{socket, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace

// One open watch: what the admin port signalled to it, not yet acted on.
struct WatchHub::Session {
  Kind kind;
  std::atomic<bool> gone{false};
  std::atomic<bool> cut{false};
  std::atomic<bool> bookmark{false};
};

// Registers a session for the lifetime of one serve() call.
class WatchHub::Registration {
 public:
  Registration(WatchHub& hub, Kind kind) : hub_(hub), session_(std::make_shared<Session>()) {
    session_->kind = kind;
    std::lock_guard lock(hub_.mutex_);
    id_ = hub_.nextId_++;
    hub_.sessions_.emplace(id_, session_);
  }
  ~Registration() {
    std::lock_guard lock(hub_.mutex_);
    hub_.sessions_.erase(id_);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  Session& operator*() const { return *session_; }

 private:
  WatchHub& hub_;
  std::shared_ptr<Session> session_;
  uint64_t id_;
};

WatchHub::WatchHub(const Store& store, const Faults& faults,
                   std::chrono::milliseconds bookmarkInterval)
    : store_(store), faults_(faults), bookmarkInterval_(bookmarkInterval) {}

bool WatchHub::serve(const WatchRequest& req, httplib::DataSink& sink) {
  Registration registration(*this, req.resource->kind);
  Session& session = *registration;
  const Resource& resource = *req.resource;
  const auto deadline = req.timeout ? Clock::now() + *req.timeout : Clock::time_point::max();
  // What ends the stream; and what else wakes an idle watch.
  auto mustStop = [&] { return stopping_ || session.gone || session.cut; };
  auto interrupted = [&] { return mustStop() || (req.bookmarks && session.bookmark); };
  auto write = [&](const std::string& line) { return sink.write(line.data(), line.size()); };
  auto end = [&](const std::string& lastLine) {
    if (!lastLine.empty() && !write(lastLine)) return false;
    sink.done();
    return true;
  };
  // The slow fault's delay before each event; false if the watch is to stop waiting.
  auto delay = [&] {
    auto slow = faults_.slow();
    if (slow.count() == 0) return true;
    // No change is after UINT64_MAX: this waits for the time, or for the end.
    store_.waitForChange(UINT64_MAX, Clock::now() + slow, mustStop);
    return !mustStop();
  };

  // Every event up to `cursor` has been sent (or filtered out): a bookmark
  // names it, and a client that resumes from it misses nothing.
  uint64_t cursor;
  auto lastWrite = Clock::now();
  if (req.from) {
    cursor = *req.from;
  } else {
    auto now = store_.snapshot(resource.kind);  // the present is always kept
    cursor = now->id.resourceVersion;
    for (const ObjectPtr& object : now->objects) {
      if (!matches(req.filter, *object)) continue;
      if (!delay()) break;
      if (!write(eventLine("ADDED", object->wire))) return false;
    }
  }

  for (;;) {
    if (stopping_ || Clock::now() >= deadline) return end("");
    if (session.cut) {
      // A client must cope with a stream that breaks anywhere: here inside a
      // line, and without the chunked encoding's last chunk.
      std::string line = bookmarkLine(resource, cursor);
      write(line.substr(0, line.size() / 2));
      return false;
    }
    if (session.gone) return end(errorLine(tooOldStatus(cursor, store_.resourceVersion())));
    if (session.bookmark.exchange(false) && req.bookmarks) {
      if (!write(bookmarkLine(resource, cursor))) return false;
      lastWrite = Clock::now();
    }

    auto changes = store_.changesAfter(cursor, kBatch);
    if (!changes) return end(errorLine(tooOldStatus(cursor, store_.compactedVersion())));
    for (const Change& change : *changes) {
      auto type = change.object->kind == resource.kind ? seenAs(change, req.filter) : std::nullopt;
      if (type) {
        if (!delay()) break;
        if (!write(eventLine(eventTypeName(*type), change.object->wire))) return false;
        lastWrite = Clock::now();
      }
      cursor = change.resourceVersion;
    }
    if (!changes->empty()) continue;

    auto now = Clock::now();
    if (peerGone(req.socket)) return false;
    bool periodic = req.bookmarks && bookmarkInterval_.count() > 0;
    if (periodic && now - lastWrite >= bookmarkInterval_) {
      if (!write(bookmarkLine(resource, cursor))) return false;
      lastWrite = now;
    }
    auto wake = std::min(deadline, now + kLivenessInterval);
    if (periodic) wake = std::min(wake, lastWrite + bookmarkInterval_);
    store_.waitForChange(cursor, wake, interrupted);
  }
}

void WatchHub::signal(WatchSignal what) {
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, session] : sessions_) {
      switch (what) {
        case WatchSignal::kGone:
          session->gone = true;
          break;
        case WatchSignal::kCut:
          session->cut = true;
          break;
        case WatchSignal::kBookmark:
          session->bookmark = true;
          break;
      }
    }
  }
  store_.wakeWaiters();
}

void WatchHub::shutdown() {
  stopping_ = true;
  store_.wakeWaiters();
}

std::map<Kind, int> WatchHub::openWatches() const {
  std::map<Kind, int> counts;
  for (const Resource& r : resources()) counts[r.kind] = 0;
  std::lock_guard lock(mutex_);
  for (auto& [id, session] : sessions_) counts[session->kind]++;
  return counts;
}

}  // namespace apiserver
