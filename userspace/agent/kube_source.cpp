#include "userspace/agent/kube_source.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "userspace/k8s/object_reader.h"
#include "userspace/observe/health.h"

namespace svcrouter {
namespace {

constexpr const char* kServices = "services";
constexpr const char* kSlices = "endpointslices";
constexpr const char* kNodes = "nodes";
constexpr ObjectDefaults kServiceItem{"Service", "v1"};
constexpr ObjectDefaults kSliceItem{"EndpointSlice", "discovery.k8s.io/v1"};

// This node's zone, "" when unknown.
std::string zoneOf(const std::optional<Node>& node) {
  if (!node) return "";
  auto it = node->labels.find("topology.kubernetes.io/zone");
  return it == node->labels.end() ? "" : it->second;
}

// metadata.namespace and metadata.name of an object from the API server,
// "" where unset or not a string: a deleted object is only named, never
// read (decode()), so nothing else of it is checked.
std::pair<std::string, std::string> nameOf(const nlohmann::json& object) {
  auto text = [](const nlohmann::json& map, const char* key) {
    auto it = map.is_object() ? map.find(key) : map.end();
    return it != map.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto md = object.is_object() ? object.find("metadata") : object.end();
  if (md == object.end()) return {};
  return {text(*md, "namespace"), text(*md, "name")};
}

// "ns/name" of an object's metadata.
std::string keyOf(const nlohmann::json& object) {
  auto [ns, name] = nameOf(object);
  return ns + "/" + name;
}

}  // namespace

std::string KubeSource::labelSelector(const std::string& proxyName) {
  if (!proxyName.empty()) return "!service.kubernetes.io/headless";
  return "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";
}

KubeSource::KubeSource(ApiConfig config, Options options)
    : client_(std::move(config)),
      options_(std::move(options)),
      name_("the API server at " + client_.config().server),
      wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

KubeSource::~KubeSource() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  if (wake_ >= 0) close(wake_);
}

void KubeSource::start() {
  std::string selector = options_.allObjects ? "" : labelSelector(options_.proxyName);
  std::vector<Resource> resources = {
      {kServices, "/api/v1/services", selector, ""},
      {kSlices, "/apis/discovery.k8s.io/v1/endpointslices", selector, ""},
      {kNodes, "/api/v1/nodes", "", "metadata.name=" + options_.nodeName},
  };
  for (auto& r : resources) {
    threads_.emplace_back([this, r] {
      Reflector reflector(client_, r, *this, options_.reflector);
      reflector.run(stop_);
    });
  }
}

void KubeSource::wake() {
  uint64_t one = 1;
  (void)!write(wake_, &one, sizeof(one));
}

std::optional<Objects> KubeSource::decode(const std::string& resource,
                                          const nlohmann::json& object) {
  std::string where = "API server";
  Objects one;
  if (resource == kNodes) {
    auto node = readNode(DocNode(object), where);
    if (!node) {
      spdlog::warn("{}; ignored", node.error().message());
      return std::nullopt;
    }
    one.node = std::move(*node);
    return one;
  }
  auto read =
      readObject(DocNode(object), where, one, resource == kServices ? kServiceItem : kSliceItem);
  for (const auto& w : one.warnings) spdlog::warn("{}", w);
  if (!read) {
    // The API server validated it: svcrouter cannot serve it as it is.
    spdlog::warn("{}; ignored", read.error().message());
    if (options_.metrics) options_.metrics->configError();
    return std::nullopt;
  }
  return one;
}

bool KubeSource::store(const std::string& resource, const nlohmann::json& object) {
  auto one = decode(resource, object);
  if (!one) return false;
  if (resource == kNodes) {
    if (zoneOf(node_) != zoneOf(one->node)) allDirty_ = true;  // topology hints read it
    node_ = std::move(one->node);
  } else if (resource == kServices) {
    auto& s = one->services.at(0);
    dirty_.insert({s.ns, s.name});
    services_[s.ns + "/" + s.name] = PackedService(s);
  } else {
    auto& s = one->slices.at(0);
    if (auto t = observe::parseRfc3339(s.lastChangeTriggerTime); t && *t > started_)
      triggers_.push_back(*t);
    std::string key = s.ns + "/" + s.name;
    forgetSlice(key);  // its Service may have changed too
    dirty_.insert({s.ns, s.serviceName});
    slicesOf_[s.ns + "/" + s.serviceName].insert(key);
    slices_[key] = PackedSlice(s);
  }
  return true;
}

void KubeSource::forgetSlice(const std::string& key) {
  auto old = slices_.find(key);
  if (old == slices_.end()) return;
  std::string ns(old->second.ns()), service(old->second.serviceName());
  auto of = slicesOf_.find(ns + "/" + service);
  dirty_.insert({std::move(ns), std::move(service)});
  if (of != slicesOf_.end()) {
    of->second.erase(key);
    if (of->second.empty()) slicesOf_.erase(of);
  }
  slices_.erase(old);
}

void KubeSource::erase(const std::string& resource, const nlohmann::json& object) {
  if (resource == kServices) {
    dirty_.insert(nameOf(object));
    services_.erase(keyOf(object));
  } else if (resource == kSlices) {
    forgetSlice(keyOf(object));
  } else {
    if (zoneOf(node_) != "") allDirty_ = true;
    node_.reset();
  }
}

void KubeSource::listPage(const std::string& resource, std::vector<nlohmann::json> items,
                          bool first) {
  size_t which = resource == kServices ? 0 : resource == kSlices ? 1 : 2;
  if (first) {  // only this resource's: the other reflectors list theirs meanwhile
    if (resource == kServices) listedServices_.clear();
    if (resource == kSlices) listedSlices_.clear();
    if (resource == kNodes) listedNode_.reset();
    listedCount_[which] = 0;
  }
  listedCount_[which] += items.size();
  // Decoded here, page by page, outside the cache's lock.
  for (const auto& item : items) {
    auto one = decode(resource, item);
    if (!one) continue;
    if (resource == kNodes) {
      listedNode_ = std::move(one->node);
    } else if (resource == kServices) {
      auto& s = one->services.at(0);
      listedServices_[s.ns + "/" + s.name] = PackedService(s);
    } else {
      auto& s = one->slices.at(0);
      std::string key = s.ns + "/" + s.name;
      listedSlices_[key] = PackedSlice(s);
    }
  }
}

void KubeSource::listDone(const std::string& resource) {
  size_t count = 0;
  {
    std::lock_guard lock(mu_);
    // Converge by difference: whatever the list does not hold is gone.
    if (resource == kServices) {
      services_ = std::exchange(listedServices_, {});
      count = listedCount_[0];
    } else if (resource == kSlices) {
      slices_ = std::exchange(listedSlices_, {});
      slicesOf_.clear();
      for (const auto& [key, packed] : slices_) {
        slicesOf_[std::string(packed.ns()) + "/" + std::string(packed.serviceName())].insert(key);
      }
      count = listedCount_[1];
    } else {
      node_ = std::exchange(listedNode_, std::nullopt);
      count = listedCount_[2];
    }
    allDirty_ = true;
  }
  spdlog::info("{}: listed {} objects", resource, count);
  if (resource == kServices) servicesSynced_ = true;
  if (resource == kSlices) slicesSynced_ = true;
  wake();
}

void KubeSource::change(const std::string& resource, Change change, nlohmann::json object) {
  if (options_.metrics && resource == kServices) options_.metrics->serviceChanges(1);
  if (options_.metrics && resource == kSlices) options_.metrics->endpointChanges(1);
  {
    std::lock_guard lock(mu_);
    if (change == Change::kDeleted || !store(resource, object)) erase(resource, object);
  }
  wake();
}

Result<Objects> KubeSource::objects() {
  Objects out;
  std::lock_guard lock(mu_);
  dirty_.clear();
  allDirty_ = false;
  out.services.reserve(services_.size());
  for (const auto& [key, s] : services_) out.services.push_back(s.unpack());
  out.slices.reserve(slices_.size());
  for (const auto& [key, s] : slices_) out.slices.push_back(s.unpack());
  out.node = node_;
  return out;
}

std::optional<Source::Changes> KubeSource::changes() {
  std::lock_guard lock(mu_);
  if (allDirty_) return std::nullopt;
  Changes out;
  out.services = std::exchange(dirty_, {});
  for (const auto& [ns, name] : out.services) {
    std::string key = ns + "/" + name;
    if (auto s = services_.find(key); s != services_.end())
      out.objects.services.push_back(s->second.unpack());
    if (auto of = slicesOf_.find(key); of != slicesOf_.end())
      for (const auto& slice : of->second) out.objects.slices.push_back(slices_.at(slice).unpack());
  }
  out.objects.node = node_;
  return out;
}

std::vector<std::chrono::system_clock::time_point> KubeSource::takeTriggerTimes() {
  std::lock_guard lock(mu_);
  return std::exchange(triggers_, {});
}

bool KubeSource::nodeDeleting() const {
  std::lock_guard lock(mu_);
  return node_ && node_->deleting;
}

Source::Event KubeSource::next(int timeoutMs) {
  using Clock = std::chrono::steady_clock;
  auto drain = [this] {
    uint64_t n;
    return read(wake_, &n, sizeof(n)) == sizeof(n);
  };
  pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {wake_, POLLIN, 0}};
  for (;;) {
    int n = poll(fds, 2, timeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Event::kStop;
    if (n == 0) return Event::kTimeout;
    if (fds[0].revents) {
      auto sig = signals_.take();
      if (sig == Signals::Signal::kStop) return Event::kStop;
      if (sig == Signals::Signal::kReload) return Event::kReload;
      continue;
    }
    drain();
    // Coalesce a burst: wait while changes keep coming, within bounds.
    auto until = Clock::now() + options_.maxCoalesce;
    while (Clock::now() < until) {
      pollfd more{wake_, POLLIN, 0};
      if (poll(&more, 1, static_cast<int>(options_.quiet.count())) <= 0) break;
      drain();
    }
    return Event::kChanged;
  }
}

}  // namespace svcrouter
