// The objects and their history: every change gets the next value of one
// global resourceVersion counter, as etcd's revision; the last N changes are
// kept, so that watches can resume from a resourceVersion and paged lists can
// read a consistent snapshot of the past. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "objects.h"

namespace apiserver {

// One object as stored, immutable once made; its JSON text is made once, so
// lists and every watch share it.
struct StoredObject {
  Kind kind;
  std::string ns;  // empty for cluster-scoped objects (Nodes)
  std::string name;
  uint64_t resourceVersion;
  nlohmann::json doc;    // with kind and apiVersion, as watch events carry it
  std::string wire;      // doc as text
  std::string itemWire;  // doc without kind and apiVersion, as list items are

  // metadata.labels, or null.
  const nlohmann::json& labels() const;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

enum class EventType { kAdded, kModified, kDeleted };
std::string_view eventTypeName(EventType type);

struct Change {
  uint64_t resourceVersion;
  EventType type;
  // The new state; for kDeleted the last state, at the deletion's
  // resourceVersion (what the real server sends in a DELETED event).
  ObjectPtr object;
  ObjectPtr previous;  // the state before the change; null for kAdded
};

class Store {
 public:
  // Keeps the last historyLimit changes.
  explicit Store(size_t historyLimit);

  // Creates or replaces each object (kind Service, EndpointSlice or Node), each
  // its own change, under one lock. Fills metadata.resourceVersion, and uid and
  // creationTimestamp if absent (from the replaced object if there is one).
  // Nothing is stored if any object is invalid; the error says which and why.
  std::expected<std::vector<ObjectPtr>, std::string> put(std::vector<nlohmann::json> docs);

  // Deletes an object; what it was, at the deletion's resourceVersion, or
  // null if there was none.
  ObjectPtr remove(Kind kind, std::string_view ns, std::string_view name);

  // The object now, or null.
  ObjectPtr get(Kind kind, std::string_view ns, std::string_view name) const;

  // When a snapshot was taken: its resourceVersion, and how many compactions
  // came before (every compaction expires the snapshots taken before it).
  struct SnapshotId {
    uint64_t resourceVersion;
    uint64_t epoch;
  };
  struct Snapshot {
    SnapshotId id;
    std::vector<ObjectPtr> objects;  // ordered by namespace, then name
  };
  using SnapshotPtr = std::shared_ptr<const Snapshot>;
  // The objects of a kind now, or as they were when snapshot `at` was taken;
  // null if that is no longer known (the history since was compacted or
  // dropped, or `at` is not one this store took). The last few are kept
  // and shared: the pages of a large list (a request each) read one
  // snapshot, made once, not one per page.
  SnapshotPtr snapshot(Kind kind, std::optional<SnapshotId> at = std::nullopt) const;

  // The changes after resourceVersion `after`, oldest first, at most max;
  // nullopt if some of them are no longer kept.
  std::optional<std::vector<Change>> changesAfter(uint64_t after, size_t max) const;

  // Blocks until there is a change after `after`, interrupted() is true, or
  // the deadline passes. interrupted() is evaluated under the store's lock
  // whenever wakeWaiters() is called: set what it reads, then wake.
  void waitForChange(uint64_t after, std::chrono::steady_clock::time_point deadline,
                     const std::function<bool()>& interrupted) const;
  void wakeWaiters() const;

  // Forgets the history, as an etcd compaction: older resourceVersions can
  // no longer be watched from, and every snapshot taken so far expires.
  void compact();

  uint64_t resourceVersion() const;
  // The newest resourceVersion whose change is forgotten: watches and
  // snapshots need at >= this.
  uint64_t compactedVersion() const;

 private:
  using Key = std::tuple<Kind, std::string, std::string>;  // kind, namespace, name

  void record(Change change);  // appends to the history; with mutex_ held

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<Key, ObjectPtr, std::less<>> objects_;
  std::deque<Change> history_;  // resourceVersions strictly increasing
  size_t historyLimit_;
  // Starts at 1, so that a list of the empty store does not answer "0",
  // which a watch reads as "from any version".
  uint64_t resourceVersion_ = 1;
  uint64_t compacted_ = 1;
  uint64_t epoch_ = 0;  // compactions so far
  // The snapshots made last, newest first (a snapshot never changes: the
  // same kind, resourceVersion and epoch always make the same one).
  static constexpr size_t kSnapshotsKept = 4;
  mutable std::deque<std::pair<Kind, SnapshotPtr>> snapshots_;
};

}  // namespace apiserver
