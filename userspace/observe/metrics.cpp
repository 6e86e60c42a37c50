#include "userspace/observe/metrics.h"

#include <malloc.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <sstream>

#include "maps/layout/service.h"

namespace svcrouter::observe {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// start, start*factor, ... (count of them): Prometheus' exponential buckets.
prometheus::Histogram::BucketBoundaries exponential(double start, double factor, int count) {
  prometheus::Histogram::BucketBoundaries b;
  for (int i = 0; i < count; ++i, start *= factor) b.push_back(start);
  return b;
}

// kube-proxy's network programming buckets (0.25 s to 5 min), with
// millisecond ones before them: svcrouter programs in milliseconds.
prometheus::Histogram::BucketBoundaries programmingBuckets() {
  auto b = exponential(0.001, 2, 8);  // 1 ms .. 128 ms
  b.push_back(0.25);
  b.push_back(0.5);
  for (int s = 1; s <= 59; ++s) b.push_back(s);
  for (int s = 60; s <= 115; s += 5) b.push_back(s);
  for (int s = 120; s <= 300; s += 30) b.push_back(s);
  return b;
}

prometheus::MetricFamily family(const std::string& name, const std::string& help,
                                prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void addSample(prometheus::MetricFamily& f, std::vector<prometheus::ClientMetric::Label> labels,
               double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

// Reads the kernel's table at scrape time: per-service counters and how
// full the maps are.
class TableCollector final : public prometheus::Collectable {
 public:
  explicit TableCollector(const maps::Table& table) : table_(table) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    auto lock = table_.lock(maps::LockMode::kShared);
    auto view = table_.view();  // the table kept in memory, not a copy
    if (!lock || !view) return {};
    const CurrentState& state = **view;
    auto conns = family("svcrouter_service_connections_total",
                        "Connections (and UDP flows) sent to a backend, per service entry.",
                        prometheus::MetricType::Counter);
    auto refused = family("svcrouter_service_refused_total",
                          "Connections refused for want of a usable backend, per service entry.",
                          prometheus::MetricType::Counter);
    auto packets = family("svcrouter_service_packets_total",
                          "Packets of the packet path's flows, per service entry.",
                          prometheus::MetricType::Counter);
    auto bytes = family("svcrouter_service_bytes_total",
                        "Bytes (IP header and payload) of the packet path's flows, per service "
                        "entry.",
                        prometheus::MetricType::Counter);
    uint64_t slots = 0, members = 0;
    for (const auto& [key, svc] : state.services) {
      auto c = table_.serviceCounters(svc.entry.id);
      if (!c) continue;
      std::vector<prometheus::ClientMetric::Label> labels = {{"namespace", svc.meta.ns},
                                                             {"service", svc.meta.name},
                                                             {"port_name", svc.meta.portName},
                                                             {"address", describe(key)}};
      addSample(conns, labels, static_cast<double>(c->connections));
      addSample(refused, labels, static_cast<double>(c->refused));
      addSample(packets, labels, static_cast<double>(c->packets));
      addSample(bytes, labels, static_cast<double>(c->bytes));
      slots += svc.entry.count;
      members += svc.members.size();
    }
    auto entries = family("svcrouter_map_entries", "Entries in use in each BPF map.",
                          prometheus::MetricType::Gauge);
    auto capacity = family("svcrouter_map_capacity", "Entries each BPF map can hold.",
                           prometheus::MetricType::Gauge);
    auto fill = [&](const char* map, uint64_t used, uint64_t cap) {
      addSample(entries, {{"map", map}}, static_cast<double>(used));
      addSample(capacity, {{"map", map}}, static_cast<double>(cap));
    };
    const auto cap = table_.capacity();
    fill("svcr_services", state.services.size(), cap.services);
    fill("svcr_backends", state.backends.size(), cap.backends);
    fill("svcr_slots", slots, cap.slots);
    fill("svcr_members", members, cap.slots);
    fill("svcr_vips", state.vips.size(), cap.services);
    return {conns, refused, packets, bytes, entries, capacity};
  }

 private:
  const maps::Table& table_;
};

// The DNS responder's counters, read at scrape time.
class DnsCollector final : public prometheus::Collectable {
 public:
  explicit DnsCollector(std::function<DnsCounts()> read) : read_(std::move(read)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    DnsCounts c = read_();
    using prometheus::MetricType;
    auto queries =
        family("svcrouter_dns_queries_total",
               "DNS queries answered, by query type and response code", MetricType::Counter);
    for (const auto& q : c.queries)
      addSample(queries, {{"type", q.type}, {"rcode", q.rcode}}, static_cast<double>(q.count));
    auto counter = [](const char* name, const char* help, uint64_t value) {
      auto f = family(name, help, MetricType::Counter);
      addSample(f, {}, static_cast<double>(value));
      return f;
    };
    auto upstream = family("svcrouter_dns_upstream_failures_total",
                           "Questions to an upstream server that timed out, were refused or "
                           "broke (the next upstream is tried; SERVFAIL after the last)",
                           MetricType::Counter);
    for (const auto& u : c.upstreams)
      addSample(upstream, {{"upstream", u.upstream}}, static_cast<double>(u.failures));
    auto entries =
        family("svcrouter_dns_cache_entries", "Forwarded answers in the cache", MetricType::Gauge);
    addSample(entries, {}, static_cast<double>(c.cacheEntries));
    return {queries,
            counter("svcrouter_dns_forwarded_total",
                    "DNS queries answered through an upstream server (not from the zone or the "
                    "cache)",
                    c.forwarded),
            counter("svcrouter_dns_cache_hits_total",
                    "DNS queries answered from the cache of forwarded answers", c.cacheHits),
            counter("svcrouter_dns_dropped_total",
                    "DNS messages not answered: too short, a response, over the buffer", c.dropped),
            counter("svcrouter_dns_truncated_total",
                    "DNS answers truncated (TC) to the client's UDP buffer", c.truncated),
            upstream,
            entries};
  }

 private:
  std::function<DnsCounts()> read_;
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  syncDuration_ = &BuildHistogram()
                       .Name("kubeproxy_sync_proxy_rules_duration_seconds")
                       .Help("SyncProxyRules latency in seconds")
                       .Register(r)
                       .Add({}, exponential(0.001, 2, 15));
  publishDuration_ = &BuildHistogram()
                          .Name("svcrouter_sync_publish_duration_seconds")
                          .Help("From a sync's start to its change served by the datapath")
                          .Register(r)
                          .Add({}, exponential(0.0000625, 2, 16));
  lastSync_ = &BuildGauge()
                   .Name("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
                   .Help("The last time proxy rules were successfully synced")
                   .Register(r)
                   .Add({});
  serviceChanges_ = &BuildCounter()
                         .Name("kubeproxy_sync_proxy_rules_service_changes_total")
                         .Help("Cumulative proxy rules Service changes")
                         .Register(r)
                         .Add({});
  endpointChanges_ = &BuildCounter()
                          .Name("kubeproxy_sync_proxy_rules_endpoint_changes_total")
                          .Help("Cumulative proxy rules Endpoint changes")
                          .Register(r)
                          .Add({});
  networkProgramming_ = &BuildHistogram()
                             .Name("kubeproxy_network_programming_duration_seconds")
                             .Help("In Cluster Network Programming Latency in seconds")
                             .Register(r)
                             .Add({}, programmingBuckets());
  syncErrors_ = &BuildCounter()
                     .Name("svcrouter_sync_errors_total")
                     .Help("Syncs that failed to program the kernel (retried)")
                     .Register(r)
                     .Add({});
  configErrors_ = &BuildCounter()
                       .Name("svcrouter_config_errors_total")
                       .Help(
                           "Input that could not be used: a bad file, an object that failed "
                           "validation")
                       .Register(r)
                       .Add({});
  conntrackDeleted_ =
      &BuildCounter()
           .Name("svcrouter_conntrack_gc_deleted_total")
           .Help("Expired entries of the packet path's conntrack map deleted by sweeps")
           .Register(r)
           .Add({});
  conntrackEntries_ = &BuildGauge()
                           .Name("svcrouter_conntrack_entries")
                           .Help("Entries of the packet path's conntrack map after the last sweep")
                           .Register(r)
                           .Add({});
  conntrackGcDuration_ = &BuildHistogram()
                              .Name("svcrouter_conntrack_gc_duration_seconds")
                              .Help("Sweeps of the packet path's conntrack map, in seconds")
                              .Register(r)
                              .Add({}, exponential(0.001, 2, 14));
  udpSocketsClosed_ =
      &BuildCounter()
           .Name("svcrouter_udp_sockets_closed_total")
           .Help("Connected UDP sockets closed because their backend left its service")
           .Register(r)
           .Add({});
  udpSocketCloseFailures_ =
      &BuildCounter()
           .Name("svcrouter_udp_socket_close_failures_total")
           .Help("Connected UDP sockets whose backend left its service that could not be closed")
           .Register(r)
           .Add({});
  watchRestarts_ = &BuildCounter()
                        .Name("svcrouter_watch_restarts_total")
                        .Help("Watches of the API server resumed after a failure, by cause")
                        .Register(r);
  relists_ = &BuildCounter()
                  .Name("svcrouter_relists_total")
                  .Help("Lists of a resource made again, by cause")
                  .Register(r);
}

void Metrics::sync(double seconds, bool ok) {
  std::lock_guard lock(mu_);
  syncDuration_->Observe(seconds);
  if (!ok) {
    syncErrors_->Increment();
    return;
  }
  auto now = std::chrono::system_clock::now().time_since_epoch();
  lastSync_->Set(std::chrono::duration<double>(now).count());
}

void Metrics::published(double seconds) {
  std::lock_guard lock(mu_);
  publishDuration_->Observe(seconds);
}

void Metrics::configError() {
  std::lock_guard lock(mu_);
  configErrors_->Increment();
}

void Metrics::serviceChanges(size_t n) {
  std::lock_guard lock(mu_);
  serviceChanges_->Increment(static_cast<double>(n));
}

void Metrics::endpointChanges(size_t n) {
  std::lock_guard lock(mu_);
  endpointChanges_->Increment(static_cast<double>(n));
}

void Metrics::networkProgramming(double seconds) {
  std::lock_guard lock(mu_);
  networkProgramming_->Observe(seconds);
}

void Metrics::noLocalEndpoints(size_t internal, size_t external) {
  noLocalInternal_ = internal;
  noLocalExternal_ = external;
}

void Metrics::conntrackSweep(double seconds, uint64_t deleted, uint64_t entries) {
  std::lock_guard lock(mu_);
  conntrackGcDuration_->Observe(seconds);
  conntrackDeleted_->Increment(static_cast<double>(deleted));
  conntrackEntries_->Set(static_cast<double>(entries));
}

void Metrics::udpSocketsClosed(uint64_t closed, uint64_t failed) {
  std::lock_guard lock(mu_);
  udpSocketsClosed_->Increment(static_cast<double>(closed));
  udpSocketCloseFailures_->Increment(static_cast<double>(failed));
}

void Metrics::watchRestart(const std::string& resource, const std::string& cause) {
  std::lock_guard lock(mu_);
  watchRestarts_->Add({{"resource", resource}, {"cause", cause}}).Increment();
}

void Metrics::relist(const std::string& resource, const std::string& cause) {
  std::lock_guard lock(mu_);
  relists_->Add({{"resource", resource}, {"cause", cause}}).Increment();
}

void Metrics::collectFrom(const maps::Table& table) {
  std::lock_guard lock(mu_);
  collectables_.push_back(std::make_shared<TableCollector>(table));
}

void Metrics::collectDnsFrom(std::function<DnsCounts()> read) {
  std::lock_guard lock(mu_);
  collectables_.push_back(std::make_shared<DnsCollector>(std::move(read)));
}

std::string Metrics::exposition() {
  std::string text = serialize();
  // With a large table a scrape builds tens of MiB of short-lived objects,
  // on whichever server thread (each its own malloc arena): give them back,
  // or every thread keeps a scrape's worth resident.
  malloc_trim(0);
  return text;
}

std::string Metrics::serialize() {
  std::vector<prometheus::MetricFamily> families;
  std::vector<std::shared_ptr<prometheus::Collectable>> more;
  {
    std::lock_guard lock(mu_);
    families = registry_->Collect();
    more = collectables_;
  }
  // kube-proxy's gauge kubeproxy_sync_proxy_rules_no_local_endpoints_total
  // keeps its name (dashboards and alerts use it), but Prometheus' linter
  // (promtool check metrics) refuses a gauge named *_total: it is exposed
  // with the counter type, the value being what kube-proxy's gauge holds.
  auto noLocal = family("kubeproxy_sync_proxy_rules_no_local_endpoints_total",
                        "Number of services with a Local traffic policy and no endpoints",
                        prometheus::MetricType::Counter);
  addSample(noLocal, {{"traffic_policy", "internal"}},
            static_cast<double>(noLocalInternal_.load()));
  addSample(noLocal, {{"traffic_policy", "external"}},
            static_cast<double>(noLocalExternal_.load()));
  families.push_back(std::move(noLocal));
  // The kernel is read outside mu_: it may wait for the agent's sync.
  for (const auto& c : more)
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace svcrouter::observe
