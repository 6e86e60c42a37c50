// `run --kubernetes`: the API server as the agent's source. Three
// reflectors (k8s/reflector.h), each on its own thread, keep a cache of the
// Services and EndpointSlices kube-proxy would see (its label selector) and
// of this node's Node object (for its zone and whether it is being
// deleted). The agent thread waits in next(): bursts of changes are
// coalesced into one sync, and nothing is synced before both first lists
// have arrived. It is its reflectors' sink (a public base, so that tests
// can feed it what a reflector would).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "userspace/agent/packed_objects.h"
#include "userspace/agent/signals.h"
#include "userspace/agent/source.h"
#include "userspace/k8s/api_client.h"
#include "userspace/k8s/reflector.h"
#include "userspace/observe/metrics.h"

namespace svcrouter {

class KubeSource final : public Source, public ReflectorSink {
 public:
  struct Options {
    std::string nodeName;
    std::string proxyName;  // --proxy-name: also objects labelled with it
    ReflectorOptions reflector;
    // A change waits this long for more to come, and never longer than
    // maxCoalesce in all: one sync per burst, a lone change synced at once.
    std::chrono::milliseconds quiet{5}, maxCoalesce{20};
    // Counts the changes seen (may be null).
    observe::Metrics* metrics = nullptr;
    // Every Service and EndpointSlice, not only those kube-proxy selects:
    // the DNS responder names headless Services and those of other proxies
    // too (the datapath still serves only kube-proxy's, core/desired.cpp).
    bool allObjects = false;
  };

  KubeSource(ApiConfig config, Options options);
  ~KubeSource() override;  // stops the reflectors
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  // Starts listing and watching.
  void start();

  const std::string& name() const override { return name_; }
  Event next(int timeoutMs) override;
  bool synced() const override { return servicesSynced_ && slicesSynced_; }
  Result<Objects> objects() override;
  std::optional<Changes> changes() override;
  InputCheck inputCheck() const override { return InputCheck::kLenient; }
  std::vector<std::chrono::system_clock::time_point> takeTriggerTimes() override;

  // Whether this node's Node object is being deleted (healthz says so).
  bool nodeDeleting() const;

  // kube-proxy's informer label selector, or ours with --proxy-name (which
  // also serves objects labelled with it: filtered in core/desired.cpp).
  static std::string labelSelector(const std::string& proxyName);

 private:
  void listPage(const std::string& resource, std::vector<nlohmann::json> items,
                bool first) override;
  void listDone(const std::string& resource) override;
  // One object of `resource`, read; nullopt (said in the log) if invalid.
  std::optional<Objects> decode(const std::string& resource, const nlohmann::json& object);
  void change(const std::string& resource, Change change, nlohmann::json object) override;
  // Decodes one object of `resource` into the cache (under mu_); false if invalid.
  bool store(const std::string& resource, const nlohmann::json& object);
  void erase(const std::string& resource, const nlohmann::json& object);
  // Drops a slice from the cache and its index, marking its Service changed.
  void forgetSlice(const std::string& key);
  void wake();

  ApiClient client_;
  Options options_;
  std::string name_;
  Signals signals_;
  int wake_ = -1;  // an eventfd the reflectors write to
  std::atomic<bool> stop_{false}, servicesSynced_{false}, slicesSynced_{false};
  std::vector<std::thread> threads_;

  // A list in progress, one per resource (each touched by its reflector's
  // thread only), swapped into the cache when the list is done.
  std::map<std::string, PackedService> listedServices_;
  std::map<std::string, PackedSlice> listedSlices_;
  std::optional<Node> listedNode_;
  size_t listedCount_[3] = {0, 0, 0};

  mutable std::mutex mu_;
  // Kept packed (packed_objects.h): the cache holds every Service and
  // endpoint of the cluster for as long as the agent runs.
  std::map<std::string, PackedService> services_;  // by "ns/name"
  std::map<std::string, PackedSlice> slices_;      // by "ns/name"
  std::optional<Node> node_;
  // The slices of each Service ("ns/service" -> "ns/slice"), and the
  // Services changed since the last objects() or changes(); all of them
  // after a (re)list or a change of this node's zone.
  std::map<std::string, std::set<std::string>> slicesOf_;
  std::set<std::pair<std::string, std::string>> dirty_;
  bool allDirty_ = true;
  // Trigger times of EndpointSlice changes not yet programmed; only those
  // after the source started count (as in kube-proxy's change tracker).
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  std::vector<std::chrono::system_clock::time_point> triggers_;
};

}  // namespace svcrouter
