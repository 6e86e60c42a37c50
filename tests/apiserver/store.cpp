#include "store.h"

#include <algorithm>

namespace apiserver {
namespace {

// An object checked and placed, before it gets its resourceVersion.
struct Placed {
  const Resource* resource;
  std::string ns;
  std::string name;
  nlohmann::json doc;
};

std::expected<Placed, std::string> place(nlohmann::json doc, size_t index) {
  auto invalid = [&](const std::string& why) {
    return std::unexpected("object " + std::to_string(index) + ": " + why);
  };
  if (!doc.is_object()) return invalid("not a JSON object");
  const Resource* resource = nullptr;
  if (auto kind = doc.find("kind"); kind != doc.end() && kind->is_string()) {
    resource = resourceByKindName(kind->get_ref<const std::string&>());
  }
  if (!resource) return invalid("kind must be Service, EndpointSlice or Node");
  auto& meta = doc["metadata"];
  if (meta.is_null()) meta = nlohmann::json::object();
  if (!meta.is_object()) return invalid("metadata is not an object");
  auto nameField = meta.find("name");
  if (nameField == meta.end() || !nameField->is_string() ||
      nameField->get_ref<const std::string&>().empty()) {
    return invalid("metadata.name is missing");
  }
  std::string name = nameField->get<std::string>();
  std::string ns;
  if (resource->namespaced) {
    auto& nsField = meta["namespace"];
    if (nsField.is_null()) nsField = "default";
    if (!nsField.is_string()) return invalid("metadata.namespace is not a string");
    ns = nsField.get<std::string>();
  } else {
    meta.erase("namespace");
  }
  // Canonical spelling, whatever case the caller used.
  doc["kind"] = resource->kindName;
  doc["apiVersion"] = resource->apiVersion;
  return Placed{resource, std::move(ns), std::move(name), std::move(doc)};
}

// Freezes a document at a resourceVersion into a StoredObject.
ObjectPtr freeze(Kind kind, std::string ns, std::string name, nlohmann::json doc,
                 uint64_t resourceVersion) {
  doc["metadata"]["resourceVersion"] = std::to_string(resourceVersion);
  auto object = std::make_shared<StoredObject>();
  object->kind = kind;
  object->ns = std::move(ns);
  object->name = std::move(name);
  object->resourceVersion = resourceVersion;
  object->wire = doc.dump();
  nlohmann::json item = doc;
  item.erase("kind");
  item.erase("apiVersion");
  object->itemWire = item.dump();
  object->doc = std::move(doc);
  return object;
}

}  // namespace

const nlohmann::json& StoredObject::labels() const {
  static const nlohmann::json kNone;
  auto meta = doc.find("metadata");
  if (meta == doc.end()) return kNone;
  auto labels = meta->find("labels");
  return labels == meta->end() ? kNone : *labels;
}

std::string_view eventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "";
}

Store::Store(size_t historyLimit) : historyLimit_(historyLimit) {}

std::expected<std::vector<ObjectPtr>, std::string> Store::put(std::vector<nlohmann::json> docs) {
  // Check everything before taking the lock: a bad object stores nothing.
  std::vector<Placed> placed;
  placed.reserve(docs.size());
  for (size_t i = 0; i < docs.size(); i++) {
    auto p = place(std::move(docs[i]), i);
    if (!p) return std::unexpected(p.error());
    placed.push_back(std::move(*p));
  }
  std::vector<ObjectPtr> stored;
  stored.reserve(placed.size());
  {
    std::lock_guard lock(mutex_);
    for (Placed& p : placed) {
      Key key{p.resource->kind, p.ns, p.name};
      auto it = objects_.find(key);
      ObjectPtr previous = it == objects_.end() ? nullptr : it->second;
      auto& meta = p.doc["metadata"];
      // A replacement keeps the identity of the object it replaces, as an update does.
      for (const char* field : {"uid", "creationTimestamp"}) {
        if (meta.contains(field)) continue;
        if (previous && previous->doc.at("metadata").contains(field)) {
          meta[field] = previous->doc.at("metadata").at(field);
        } else {
          meta[field] = std::string_view(field) == "uid" ? newUid() : nowTimestamp();
        }
      }
      ObjectPtr object = freeze(p.resource->kind, std::move(p.ns), std::move(p.name),
                                std::move(p.doc), ++resourceVersion_);
      objects_.insert_or_assign(std::move(key), object);
      record({object->resourceVersion, previous ? EventType::kModified : EventType::kAdded, object,
              previous});
      stored.push_back(std::move(object));
    }
  }
  changed_.notify_all();
  return stored;
}

ObjectPtr Store::remove(Kind kind, std::string_view ns, std::string_view name) {
  ObjectPtr deleted;
  {
    std::lock_guard lock(mutex_);
    auto it = objects_.find(std::make_tuple(kind, ns, name));
    if (it == objects_.end()) return nullptr;
    ObjectPtr last = it->second;
    objects_.erase(it);
    deleted = freeze(kind, last->ns, last->name, last->doc, ++resourceVersion_);
    record({deleted->resourceVersion, EventType::kDeleted, deleted, last});
  }
  changed_.notify_all();
  return deleted;
}

void Store::record(Change change) {
  history_.push_back(std::move(change));
  while (history_.size() > historyLimit_) {
    compacted_ = history_.front().resourceVersion;
    history_.pop_front();
  }
}

ObjectPtr Store::get(Kind kind, std::string_view ns, std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = objects_.find(std::make_tuple(kind, ns, name));
  return it == objects_.end() ? nullptr : it->second;
}

Store::SnapshotPtr Store::snapshot(Kind kind, std::optional<SnapshotId> at) const {
  std::lock_guard lock(mutex_);
  uint64_t version = at ? at->resourceVersion : resourceVersion_;
  if (at && at->epoch != epoch_) return nullptr;
  if (version < compacted_ || version > resourceVersion_) return nullptr;
  for (auto it = snapshots_.begin(); it != snapshots_.end(); ++it) {
    const auto& [k, kept] = *it;
    if (k != kind || kept->id.resourceVersion != version || kept->id.epoch != epoch_) continue;
    auto found = *it;
    snapshots_.erase(it);
    snapshots_.push_front(found);
    return found.second;
  }
  auto first = objects_.lower_bound(std::make_tuple(kind, std::string_view(), std::string_view()));
  auto isKind = [&](const auto& entry) { return std::get<0>(entry.first) == kind; };
  auto snap = std::make_shared<Snapshot>(Snapshot{{version, epoch_}, {}});
  auto keep = [&] {
    snapshots_.emplace_front(kind, snap);
    if (snapshots_.size() > kSnapshotsKept) snapshots_.pop_back();
    return snap;
  };
  if (version == resourceVersion_) {
    for (auto it = first; it != objects_.end() && isKind(*it); ++it) {
      snap->objects.push_back(it->second);
    }
    return keep();
  }
  // The past: undo the changes after `version`, newest first, so that each
  // object ends up as the oldest undone change found it.
  // Keyed by views of the objects' own names: they outlive this call.
  using NameKey = std::pair<std::string_view, std::string_view>;
  auto nameKey = [](const ObjectPtr& object) { return NameKey(object->ns, object->name); };
  std::map<NameKey, ObjectPtr> state;
  for (auto it = first; it != objects_.end() && isKind(*it); ++it) {
    state.emplace(nameKey(it->second), it->second);
  }
  for (auto it = history_.rbegin(); it != history_.rend() && it->resourceVersion > version; ++it) {
    if (it->object->kind != kind) continue;
    NameKey key = nameKey(it->object);
    if (it->previous) {
      state.insert_or_assign(key, it->previous);
    } else {
      state.erase(key);
    }
  }
  for (auto& [key, object] : state) snap->objects.push_back(object);
  return keep();
}

std::optional<std::vector<Change>> Store::changesAfter(uint64_t after, size_t max) const {
  std::lock_guard lock(mutex_);
  if (after < compacted_) return std::nullopt;
  auto it = std::ranges::upper_bound(history_, after, {}, &Change::resourceVersion);
  std::vector<Change> changes;
  for (; it != history_.end() && changes.size() < max; ++it) changes.push_back(*it);
  return changes;
}

void Store::waitForChange(uint64_t after, std::chrono::steady_clock::time_point deadline,
                          const std::function<bool()>& interrupted) const {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return resourceVersion_ > after || interrupted(); });
}

void Store::wakeWaiters() const {
  // Taking the lock orders the waker's writes before the waiters' next check.
  { std::lock_guard lock(mutex_); }
  changed_.notify_all();
}

void Store::compact() {
  {
    std::lock_guard lock(mutex_);
    history_.clear();
    compacted_ = resourceVersion_;
    epoch_++;
    snapshots_.clear();
  }
  changed_.notify_all();
}

uint64_t Store::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return resourceVersion_;
}

uint64_t Store::compactedVersion() const {
  std::lock_guard lock(mutex_);
  return compacted_;
}

}  // namespace apiserver
