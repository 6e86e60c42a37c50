// The agent's Prometheus metrics (prometheus-cpp, text exposition).
// kube-proxy's names where the meaning is the same, so that its dashboards
// and alerts keep working; svcrouter_* for the rest. What the kernel counts
// (connections, refusals, map fill) is read from the table at each scrape.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "maps/table.h"

namespace svcrouter::observe {

// What the DNS responder counted (userspace/dns), as its metrics say it.
struct DnsCounts {
  struct Queries {
    std::string type, rcode;  // "A", "NOERROR"
    uint64_t count = 0;
  };
  std::vector<Queries> queries;  // answered, by query type and response code
  uint64_t forwarded = 0;        // answered through an upstream
  uint64_t cacheHits = 0;        // answered from the cache of forwarded answers
  uint64_t dropped = 0;          // not answered: too short, a response, too big
  uint64_t truncated = 0;        // answered with TC set
  uint64_t cacheEntries = 0;
  struct Upstream {
    std::string upstream;  // "10.0.0.2:53"
    uint64_t failures = 0;
  };
  std::vector<Upstream> upstreams;
};

class Metrics {
 public:
  Metrics();

  // One reconcile that completed (ok) or failed in the kernel.
  void sync(double seconds, bool ok);
  // The part of a sync before the datapath serves its change: what a
  // change waits for in the agent (the grace period that reclaims what the
  // flips retired comes after).
  void published(double seconds);
  // Input that could not be used (a bad file, an object that failed validation).
  void configError();
  // Events from the source: Services and EndpointSlices that changed.
  void serviceChanges(size_t n);
  void endpointChanges(size_t n);
  // From an EndpointSlice's last-change-trigger-time to its programming.
  void networkProgramming(double seconds);
  // Services with a Local traffic policy and no endpoint on this node.
  void noLocalEndpoints(size_t internal, size_t external);
  // The API server connection: a watch resumed, or a list made again, and why.
  void watchRestart(const std::string& resource, const std::string& cause);
  void relist(const std::string& resource, const std::string& cause);

  // A sweep of the packet path's conntrack: how long it took, the expired
  // entries it deleted and how many it left.
  void conntrackSweep(double seconds, uint64_t deleted, uint64_t entries);

  // A pass that closed connected UDP sockets whose backend left its
  // service: how many it closed, and how many it could not.
  void udpSocketsClosed(uint64_t closed, uint64_t failed);

  // Adds the kernel's counters, read from `table` at each scrape.
  void collectFrom(const maps::Table& table);
  // Adds the DNS responder's counters, read at each scrape.
  void collectDnsFrom(std::function<DnsCounts()> read);

  // The text exposition of everything.
  std::string exposition();

 private:
  std::string serialize();

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::mutex mu_;  // prometheus-cpp's Add() on a family is not ours to race
  prometheus::Histogram* syncDuration_;
  prometheus::Histogram* publishDuration_;
  prometheus::Gauge* lastSync_;
  prometheus::Counter* serviceChanges_;
  prometheus::Counter* endpointChanges_;
  prometheus::Histogram* networkProgramming_;
  std::atomic<size_t> noLocalInternal_{0}, noLocalExternal_{0};
  prometheus::Counter* syncErrors_;
  prometheus::Counter* configErrors_;
  prometheus::Counter* conntrackDeleted_;
  prometheus::Gauge* conntrackEntries_;
  prometheus::Histogram* conntrackGcDuration_;
  prometheus::Counter* udpSocketsClosed_;
  prometheus::Counter* udpSocketCloseFailures_;
  prometheus::Family<prometheus::Counter>* watchRestarts_;
  prometheus::Family<prometheus::Counter>* relists_;
};

}  // namespace svcrouter::observe
