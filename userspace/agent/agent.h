// The agent: follows a source of Kubernetes objects and keeps the kernel's
// table equal to it. sources -> desired state -> reconciler -> table: this is
// the loop that joins them. It knows the kernel only through maps::Table, so
// it is unit-tested against a fake kernel (tests/unit/agent_test.cpp).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "maps/conntrack_gc.h"
#include "maps/error.h"
#include "maps/sock_term.h"
#include "maps/table.h"
#include "userspace/agent/source.h"
#include "userspace/core/desired.h"
#include "userspace/dns/zone.h"
#include "userspace/observe/health.h"
#include "userspace/observe/http_server.h"
#include "userspace/observe/metrics.h"

namespace svcrouter {

// The desired table for `objects`, logging what is skipped. The node's
// zone comes from the objects' Node, when the source follows it.
[[nodiscard]] Result<DesiredState> desiredState(const Objects& objects, SelectOptions select,
                                                InputCheck check);

// Validates a manifest file's content (read from `file`) into the desired
// table. Nothing in the kernel is touched.
[[nodiscard]] Result<DesiredState> desiredFromManifests(const std::string& text,
                                                        const std::string& file,
                                                        const SelectOptions& select);

class Agent {
 public:
  // What one sync came to.
  enum class Outcome { kApplied, kBadInput, kKernelError };

  struct Options {
    SelectOptions select;
    // A kernel update that failed is tried again after this long: the node
    // must not stay half-updated. A bad input waits for the next change.
    int retryMs = 5000;
    // Print every change of a large update, not the first 20.
    bool listAllChanges = false;
    // Where to report health, metrics and local endpoint counts; each may
    // be null (apply, tests).
    observe::Health* health = nullptr;
    observe::Metrics* metrics = nullptr;
    observe::ServiceHealthServers* serviceHealth = nullptr;
    // The packet path's conntrack, swept every conntrackGcInterval while
    // following a source (zero: never), between syncs. Null: nothing to sweep.
    maps::ConntrackGc* conntrackGc = nullptr;
    std::chrono::milliseconds conntrackGcInterval{0};
    // Closes connected UDP sockets whose backend left its service, after
    // each sync that removed a UDP endpoint (and after the first). Null:
    // never.
    maps::SockTerm* sockTerm = nullptr;
    // The DNS zone (--dns-listen), rebuilt in each sync from the objects
    // it read, whole or the changed Services'. Null: no DNS.
    dns::ZoneBuilder* dnsZone = nullptr;
  };

  // Summaries of what was applied go to `out`; problems to the log.
  Agent(maps::Table& table, Options options, std::ostream& out);

  // Makes the table equal to `want` and prints what changed.
  [[nodiscard]] Result<void> apply(const std::string& source, const DesiredState& want);

  // Applies what the source holds now; logs what went wrong and keeps the
  // table as it was.
  Outcome sync(Source& source);
  // A full sync of `objects`, read from `source` by the caller, and of the
  // desired table it made of them: `run --config` checks its file before it
  // attaches anything, and does not read it twice.
  Outcome sync(Source& source, Objects objects, DesiredState want);

  // Follows `source` until it says stop: syncs on every change and reload
  // once the source is synced, and again after a failed kernel update;
  // sweeps the conntrack on its interval, synced or not (a node that cannot
  // reach the API server still expires its flows).
  void follow(Source& source);

 private:
  using Name = std::pair<std::string, std::string>;  // namespace, name

  // The end of a full sync: applies `want`, rebuilds the DNS zone from
  // `objects` and reports; the objects are let go as early as they can be.
  Outcome syncAll(Source& source, Objects objects, DesiredState want);
  // Plans and applies all of `want`, which becomes want_; the summary of
  // what changed, to print once the sync is over.
  Result<std::string> applyAll(const std::string& source, DesiredState want);
  // Plans and applies the entries of the changed Services only.
  Result<std::string> applyChanges(const std::string& source, const Source::Changes& changes);
  // Health, metrics and health check ports after a sync.
  // Marks the flips: the datapath serves the new values from now on.
  void markPublished();
  // Finishes the last plan's grace period and deletes what it retired
  // (Table::reclaim), under the table's lock; a failure makes the next sync
  // full. Then the UDP socket pass, if one waited for it.
  void reclaim();
  // How long after a sync its reclamation is done when nothing else comes:
  // by then the grace period (~15 ms) is over, so it does not wait.
  static constexpr std::chrono::milliseconds kReclaimAfter{50};
  // One conntrack sweep, logged and counted; failures are logged and the
  // next sweep tries again.
  void sweepConntrack();
  // Whether going from want_ to `next` removed an endpoint from a UDP
  // entry of the socket path (core/sock_term.h); only the entries in
  // `keys` are compared when given (the rest are the same).
  bool udpEndpointsLeftIn(const DesiredState& next, const std::set<ServiceKey>* keys) const;
  // Closes the connected UDP sockets whose backend left, if a sync since
  // the last pass may have left some, once the grace period of its flips is
  // over (after a sync, or after reclaim() when the wait was deferred);
  // failures are logged and retried after the next sync.
  void closeStaleUdpSockets();
  void report(Source& source, const std::optional<Node>& node, Outcome outcome, double seconds);
  // The DNS zone from the objects of this sync: all of them, or those of
  // the changed Services only.
  void updateZone(const Objects& objects, const Source::Changes* changes);

  maps::Table& table_;
  // What the table was last asked to hold, which Service each entry came
  // from, and the Services with a Local policy: kept between syncs, so that
  // one change costs one Service.
  DesiredState want_;
  std::map<Name, std::vector<ServiceKey>> keysOf_;
  std::map<Name, LocalService> locals_;
  bool fullNext_ = true;  // the first sync is full: nothing is known yet
  // A pass that closes UDP sockets is due (the first sync: sockets may have
  // lost their backend while no agent ran; a failed pass or apply).
  bool sockPassDue_ = true;
  Options options_;
  // When the last apply's new values became visible to the datapath, and
  // how long after the sync began.
  std::optional<std::chrono::system_clock::time_point> published_;
  std::chrono::steady_clock::time_point syncStart_;
  std::optional<double> publishedAfter_;
  std::ostream& out_;
};

}  // namespace svcrouter
