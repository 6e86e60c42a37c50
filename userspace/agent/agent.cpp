#include "userspace/agent/agent.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "userspace/core/conntrack_gc.h"
#include "userspace/core/reconciler.h"
#include "userspace/core/sock_term.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {

namespace {
constexpr const char* kZoneLabel = "topology.kubernetes.io/zone";
}

Result<DesiredState> desiredState(const Objects& objects, SelectOptions select, InputCheck check) {
  for (const auto& w : objects.warnings) spdlog::warn("{}", w);
  if (objects.node) {
    auto zone = objects.node->labels.find(kZoneLabel);
    select.nodeZone = zone == objects.node->labels.end() ? "" : zone->second;
  }
  SVCR_ASSIGN_OR_RETURN(auto want, buildDesiredState(objects, select, check));
  for (const auto& w : want.warnings) spdlog::warn("{}", w);
  return want;
}

Result<DesiredState> desiredFromManifests(const std::string& text, const std::string& file,
                                          const SelectOptions& select) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto objects, parseManifests(text, file));
  spdlog::debug(
      "read {} in {:.1f} ms", file,
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  return desiredState(objects, select, InputCheck::kStrict);
}

Agent::Agent(maps::Table& table, Options options, std::ostream& out)
    : table_(table), options_(std::move(options)), out_(out) {}

namespace {

// The entries that differ between two desired tables: added, removed or
// changed. Both maps are sorted by key, so one walk finds them.
std::set<ServiceKey> changedKeys(const DesiredState& before, const DesiredState& after) {
  std::set<ServiceKey> changed;
  auto a = before.services.begin(), b = after.services.begin();
  while (a != before.services.end() || b != after.services.end()) {
    if (b == after.services.end() || (a != before.services.end() && a->first < b->first)) {
      changed.insert(changed.end(), (a++)->first);
    } else if (a == before.services.end() || b->first < a->first) {
      changed.insert(changed.end(), (b++)->first);
    } else {
      if (!(a->second == b->second)) changed.insert(changed.end(), a->first);
      ++a;
      ++b;
    }
  }
  return changed;
}

}  // namespace

Result<std::string> Agent::applyAll(const std::string& source, DesiredState want) {
  // After a sync that worked, the table holds want_: plan only the entries
  // that differ from it (a file changed in one place costs that place).
  // After a failure or at the start, plan everything from what the kernel
  // holds, which also puts right whatever an interrupted update left.
  std::optional<std::set<ServiceKey>> changed;
  if (!fullNext_) changed = changedKeys(want_, want);
  if (options_.sockTerm && !sockPassDue_)
    sockPassDue_ = udpEndpointsLeftIn(want, changed ? &*changed : nullptr);
  want_ = std::move(want);
  keysOf_.clear();
  for (const auto& [key, d] : want_.services) keysOf_[{d.ns, d.name}].push_back(key);
  auto plan = reconcile(table_, want_, std::nullopt, [this] { markPublished(); },
                        changed ? &*changed : nullptr);
  fullNext_ = !plan;  // after a failure, plan everything again from what the kernel holds
  if (!plan) {
    sockPassDue_ = true;  // what it removed is not in want_'s past any more
    return std::unexpected(plan.error());
  }
  return summarize(source, want_, *plan, options_.listAllChanges);
}

Result<void> Agent::apply(const std::string& source, const DesiredState& want) {
  SVCR_ASSIGN_OR_RETURN(auto summary, applyAll(source, want));
  out_ << summary << std::flush;
  return {};
}

Result<std::string> Agent::applyChanges(const std::string& source, const Source::Changes& changes) {
  // The entries of the changed Services go; what they want now comes back.
  std::set<ServiceKey> changed;
  std::map<ServiceKey, DesiredService> before;  // the UDP ones, to see what they lost
  for (const auto& name : changes.services) {
    auto it = keysOf_.find(name);
    if (it == keysOf_.end()) continue;
    for (const auto& key : it->second) {
      auto node = want_.services.extract(key);
      if (options_.sockTerm && !node.empty() && key.protocol == Protocol::kUdp)
        before.insert(std::move(node));
      changed.insert(key);
    }
    keysOf_.erase(it);
  }
  auto part = desiredState(changes.objects, options_.select, InputCheck::kLenient);
  if (!part) return std::unexpected(part.error());
  for (auto& [key, d] : part->services) {
    if (want_.services.contains(key)) {  // another Service's entry: the first one keeps it
      const auto& owner = want_.services.at(key);
      spdlog::warn("Service {}/{}: {} is already served by Service {}/{}; skipped", d.ns, d.name,
                   describe(key), owner.ns, owner.name);
      continue;
    }
    keysOf_[{d.ns, d.name}].push_back(key);
    changed.insert(key);
    want_.services.emplace(key, std::move(d));
  }
  for (const auto& [key, d] : before) {
    auto now = want_.services.find(key);
    if (udpEndpointsLeft(d, now == want_.services.end() ? nullptr : &now->second))
      sockPassDue_ = true;
  }
  auto plan = reconcile(
      table_, want_, std::nullopt, [this] { markPublished(); }, &changed);
  fullNext_ = !plan;
  if (!plan) {
    sockPassDue_ = true;
    return std::unexpected(plan.error());
  }
  return summarize(source, want_, *plan, options_.listAllChanges);
}

void Agent::markPublished() {
  published_ = std::chrono::system_clock::now();
  publishedAfter_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - syncStart_).count();
}

Agent::Outcome Agent::sync(Source& source) {
  auto start = syncStart_ = std::chrono::steady_clock::now();
  published_ = {};
  publishedAfter_ = {};
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Only the changed Services, when the source can say which and the last
  // sync did not fail; else everything.
  std::optional<Source::Changes> changes;
  if (!fullNext_) changes = source.changes();
  if (changes) {
    auto applied = applyChanges(source.name(), *changes);
    // The names follow the same objects, whatever the kernel said; the
    // summary says the sync is over, both done.
    updateZone(changes->objects, &*changes);
    if (applied) out_ << *applied << std::flush;
    if (!applied) {
      spdlog::error("{}", applied.error().message());
      report(source, changes->objects.node, Outcome::kKernelError, seconds());
      return Outcome::kKernelError;
    }
    for (const auto& name : changes->services) locals_.erase(name);
    for (auto& l : localServices(changes->objects, options_.select))
      locals_[{l.ns, l.name}] = std::move(l);
    report(source, changes->objects.node, Outcome::kApplied, seconds());
    closeStaleUdpSockets();
    return Outcome::kApplied;
  }
  auto objects = source.objects();
  if (!objects) {
    spdlog::error("{}", objects.error().message());
    report(source, std::nullopt, Outcome::kBadInput, seconds());
    return Outcome::kBadInput;
  }
  auto want = desiredState(*objects, options_.select, source.inputCheck());
  if (!want) {
    spdlog::error("{}", want.error().message());
    report(source, objects->node, Outcome::kBadInput, seconds());
    return Outcome::kBadInput;
  }
  spdlog::debug("objects and desired state in {:.1f} ms", seconds() * 1000);
  return syncAll(source, std::move(*objects), std::move(*want));
}

Agent::Outcome Agent::sync(Source& source, Objects objects, DesiredState want) {
  syncStart_ = std::chrono::steady_clock::now();
  published_ = {};
  publishedAfter_ = {};
  return syncAll(source, std::move(objects), std::move(want));
}

Agent::Outcome Agent::syncAll(Source& source, Objects objects, DesiredState want) {
  auto seconds = [start = syncStart_] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // What else is needed of the objects, taken now. Without a DNS zone to
  // build they are let go before the plan, which then reuses their memory
  // rather than adding to it; the zone is rebuilt after the flips, so a
  // name never answers before its Service is served.
  auto locals = localServices(objects, options_.select);
  const std::optional<Node> node = objects.node;
  Objects forZone;
  if (options_.dnsZone) forZone = std::move(objects);
  objects = Objects{};
  auto applied = applyAll(source.name(), std::move(want));
  if (options_.dnsZone) updateZone(forZone, nullptr);
  forZone = Objects{};
  if (applied) out_ << *applied << std::flush;
  if (!applied) {
    spdlog::error("{}", applied.error().message());
    report(source, node, Outcome::kKernelError, seconds());
    return Outcome::kKernelError;
  }
  locals_.clear();
  for (auto& l : locals) locals_[{l.ns, l.name}] = std::move(l);
  locals = {};
  report(source, node, Outcome::kApplied, seconds());
  closeStaleUdpSockets();
  // A full sync of a large table leaves much freed memory in the heap:
  // give it back, so the agent's resident size is what it keeps.
  malloc_trim(0);
  if (spdlog::should_log(spdlog::level::debug)) {
    struct mallinfo2 heap = mallinfo2();
    spdlog::debug("heap after the sync: {:.1f} MiB in use, {:.1f} MiB held",
                  static_cast<double>(heap.uordblks + heap.hblkhd) / (1 << 20),
                  static_cast<double>(heap.arena + heap.hblkhd) / (1 << 20));
  }
  return Outcome::kApplied;
}

void Agent::report(Source& source, const std::optional<Node>& node, Outcome outcome,
                   double seconds) {
  auto now = std::chrono::system_clock::now();
  if (options_.health) {
    if (node) options_.health->setNodeEligible(!node->deleting);
    if (outcome == Outcome::kKernelError)
      options_.health->failed();
    else
      options_.health->updated(now);  // a bad input keeps the table it has: nothing is pending
  }
  if (options_.metrics) {
    if (outcome == Outcome::kBadInput)
      options_.metrics->configError();
    else
      options_.metrics->sync(seconds, outcome == Outcome::kApplied);
    if (publishedAfter_) options_.metrics->published(*publishedAfter_);
  }
  if (outcome != Outcome::kApplied) return;
  // Programmed when the datapath serves it: at the flips, before the grace
  // period that reclaims what they retired.
  auto programmed = published_.value_or(now);
  for (auto t : source.takeTriggerTimes())
    if (options_.metrics)
      options_.metrics->networkProgramming(std::chrono::duration<double>(programmed - t).count());
  size_t noLocalInternal = 0, noLocalExternal = 0;
  std::map<int, observe::ServiceHealthServers::Target> ports;
  for (const auto& [name, l] : locals_) {
    if (l.localEndpoints == 0) {
      noLocalInternal += l.internalLocal;
      noLocalExternal += l.externalLocal;
    }
    if (l.externalLocal && l.healthCheckNodePort != 0)
      ports[l.healthCheckNodePort] = {l.ns, l.name, l.localEndpoints};
  }
  if (options_.metrics) options_.metrics->noLocalEndpoints(noLocalInternal, noLocalExternal);
  if (options_.serviceHealth) options_.serviceHealth->update(ports);
}

void Agent::updateZone(const Objects& objects, const Source::Changes* changes) {
  if (!options_.dnsZone) return;
  auto start = std::chrono::steady_clock::now();
  if (changes)
    options_.dnsZone->replaceServices(changes->services, objects);
  else
    options_.dnsZone->replaceAll(objects);
  spdlog::debug(
      "DNS zone rebuilt in {:.1f} ms",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
}

void Agent::sweepConntrack() {
  auto start = std::chrono::steady_clock::now();
  auto swept = svcrouter::sweepConntrack(table_, *options_.conntrackGc);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!swept) {
    spdlog::warn("conntrack sweep: {}", swept.error().message());
    return;
  }
  if (!*swept) return;  // the packet path is not loaded
  const auto& r = **swept;
  spdlog::debug("conntrack sweep: {} entries, {} expired deleted, {} ports unmarked, in {:.1f} ms",
                r.scanned, r.deleted, r.portsCleared, seconds * 1000);
  if (options_.metrics) options_.metrics->conntrackSweep(seconds, r.deleted, r.entries);
}

void Agent::reclaim() {
  if (!table_.reclaimPending()) return;
  auto lock = table_.lock(maps::LockMode::kExclusive);
  auto done = lock ? table_.reclaim() : Result<void>(std::unexpected(lock.error()));
  if (!done) {
    // The next plan reads the kernel and waits for readers first.
    spdlog::warn("reclaiming after the grace period: {}", done.error().message());
    fullNext_ = true;
    return;
  }
  *lock = maps::TableLock();  // the pass locks on its own: a second flock would wait on this one
  closeStaleUdpSockets();
}

bool Agent::udpEndpointsLeftIn(const DesiredState& next, const std::set<ServiceKey>* keys) const {
  auto left = [&](const ServiceKey& key, const DesiredService& before) {
    auto now = next.services.find(key);
    return udpEndpointsLeft(before, now == next.services.end() ? nullptr : &now->second);
  };
  if (!keys)
    return std::ranges::any_of(want_.services,
                               [&](const auto& entry) { return left(entry.first, entry.second); });
  return std::ranges::any_of(*keys, [&](const ServiceKey& key) {
    auto it = want_.services.find(key);
    return it != want_.services.end() && left(key, it->second);
  });
}

void Agent::closeStaleUdpSockets() {
  // Not before the grace period of the flips that removed the backends: a
  // connect() that read the old set may still be running until then, and
  // remember its socket only after a pass that looked earlier. While that
  // wait is pending, reclaim() calls this once it is over.
  if (!options_.sockTerm || !sockPassDue_ || table_.reclaimPending()) return;
  auto start = std::chrono::steady_clock::now();
  auto closed = svcrouter::closeStaleUdpSockets(table_, want_, *options_.sockTerm);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!closed) {
    spdlog::warn("closing UDP sockets whose backend left: {}", closed.error().message());
    return;  // due still: the next sync tries again
  }
  sockPassDue_ = false;
  if (closed->closed || closed->failed || closed->skippedNetns)
    spdlog::info("{}", describe(*closed, ms));
  else
    spdlog::debug("{}", describe(*closed, ms));
  if (options_.metrics) options_.metrics->udpSocketsClosed(closed->closed, closed->failed);
}

void Agent::follow(Source& source) {
  using Clock = std::chrono::steady_clock;
  spdlog::info("following {}", source.name());
  // A change is published at its flips; the grace period after them runs
  // meanwhile, and what it guards is reclaimed soon after (or before the
  // next change's writes).
  table_.deferReclaim(true);
  struct Finally {
    Agent& agent;
    ~Finally() {
      agent.reclaim();
      agent.table_.deferReclaim(false);
    }
  } finally{*this};
  const auto gcInterval = options_.conntrackGc ? options_.conntrackGcInterval : Clock::duration{};
  std::optional<Clock::time_point> retryAt;
  std::optional<Clock::time_point> sweepAt;
  if (gcInterval > Clock::duration::zero()) sweepAt = Clock::now() + gcInterval;
  for (;;) {
    // Wait for the source, or until the next retry or sweep is due.
    int timeoutMs = Source::kForever;
    const auto before = Clock::now();
    std::optional<Clock::time_point> reclaimAt;
    if (table_.reclaimPending()) reclaimAt = before + kReclaimAfter;
    for (const auto& at : {retryAt, sweepAt, reclaimAt}) {
      if (!at) continue;
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*at - before).count();
      int ms = static_cast<int>(std::max<decltype(left)>(left, 0));
      timeoutMs = timeoutMs == Source::kForever ? ms : std::min(timeoutMs, ms);
    }
    auto event = source.next(timeoutMs);
    if (event == Source::Event::kStop) return;
    // A timeout says the wait asked for is over: what was due by then is due.
    const auto now = event == Source::Event::kTimeout
                         ? std::max(Clock::now(), before + std::chrono::milliseconds(timeoutMs))
                         : Clock::now();
    if (reclaimAt && now >= *reclaimAt) reclaim();
    if (sweepAt && now >= *sweepAt) {
      sweepConntrack();
      sweepAt = Clock::now() + gcInterval;
    }
    const bool retryDue = retryAt && now >= *retryAt;
    if (event == Source::Event::kTimeout && !retryDue) continue;
    if (!source.synced()) {  // the pinned table keeps serving meanwhile
      if (retryDue) retryAt = now + std::chrono::milliseconds(options_.retryMs);
      continue;
    }
    if (options_.health && event != Source::Event::kTimeout)
      options_.health->queued(std::chrono::system_clock::now());
    // SIGHUP: everything again, from what the kernel holds.
    if (event == Source::Event::kReload) fullNext_ = true;
    retryAt.reset();
    if (sync(source) == Outcome::kKernelError)
      retryAt = Clock::now() + std::chrono::milliseconds(options_.retryMs);
  }
}

}  // namespace svcrouter
