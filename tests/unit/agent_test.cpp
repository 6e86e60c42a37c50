// The agent and the reconciler, without root: a scripted source of
// manifests and the fake kernel (fake_kernel.h), with failures injected.
#include "userspace/agent/agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <sstream>
#include <thread>

#include "tests/unit/fake_kernel.h"
#include "tests/unit/faulty_maps.h"
#include "userspace/core/reconciler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {
namespace {

using fakes::FakeKernel;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A web Service on 10.96.0.10:80 with the given endpoints.
std::string manifest(std::vector<std::string> endpoints) {
  std::string yaml = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{port: 8080}]
endpoints:
)";
  for (const auto& ep : endpoints) yaml += "  - addresses: [" + ep + "]\n";
  return yaml;
}

// The backends the kernel serves for web, as "IP:port".
std::vector<std::string> served(const FakeKernel& k) {
  std::vector<std::string> out;
  auto lock = k.lock(maps::LockMode::kShared);
  auto state = *k.read();
  auto it = state.services.find({*IpAddr::parse("10.96.0.10"), 80, Protocol::kTcp});
  if (it == state.services.end()) return out;
  for (uint32_t id : it->second.slots) out.push_back(describe(state.backends.at(id)));
  return out;
}

// Plays a script: each step is the event next() returns and, optionally, the
// content (manifest text, or an error) the source holds from then on, and
// whether it is synced. Then it says stop.
class ScriptedSource final : public Source {
 public:
  struct Step {
    Event event;
    std::optional<Result<std::string>> content;
    bool synced = true;
  };
  ScriptedSource(Result<std::string> initial, std::vector<Step> steps)
      : content_(std::move(initial)), steps_(steps.begin(), steps.end()) {}

  const std::string& name() const override { return name_; }
  Event next(int timeoutMs) override {
    timeouts.push_back(timeoutMs);
    if (steps_.empty()) return Event::kStop;
    auto step = steps_.front();
    steps_.pop_front();
    if (waits && step.event == Event::kTimeout && timeoutMs > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(timeoutMs));
    if (step.content) content_ = *step.content;
    synced_ = step.synced;
    return step.event;
  }
  bool synced() const override { return synced_; }
  Result<Objects> objects() override {
    if (!content_) return std::unexpected(content_.error());
    return parseManifests(*content_, name_);
  }
  InputCheck inputCheck() const override { return InputCheck::kStrict; }

  std::vector<int> timeouts;  // what the agent waited for, call by call
  bool waits = false;         // a timeout step takes the time it was given

 private:
  std::string name_ = "services.yaml";
  Result<std::string> content_;
  bool synced_ = true;
  std::deque<Step> steps_;
};

using Event = Source::Event;
constexpr int kForever = Source::kForever;

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() { kernel.checkLocks(); }
  ~AgentTest() override { EXPECT_THAT(kernel.violations(), IsEmpty()); }

  // Starts the agent as `run` does: what the source holds applied, then followed.
  void follow(ScriptedSource& source) {
    ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
    agent.follow(source);
  }

  FakeKernel kernel;
  fakes::FaultyMaps faulty{kernel};
  maps::Table table{faulty};
  std::ostringstream out;
  Agent agent{table, {.select = {}, .retryMs = 5000}, out};
};

TEST_F(AgentTest, AppliesEachChange) {
  ScriptedSource source(manifest({"10.0.0.1"}),
                        {{Event::kChanged, manifest({"10.0.0.1", "10.0.0.2"})},
                         {Event::kChanged, manifest({"10.0.0.3"})}});
  follow(source);
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.3:8080"));
  // After each change the agent waits at most kReclaimAfter, to reclaim
  // what its flips retired; the second change's apply reclaimed the
  // first's, the last is reclaimed on the way out (its own lock).
  EXPECT_THAT(source.timeouts, ElementsAre(kForever, 50, 50));
  EXPECT_EQ(kernel.writerLocks(), 4u);
  EXPECT_FALSE(table.reclaimPending());
  EXPECT_THAT(out.str(), HasSubstr("applied services.yaml: 1 service entries, 1 backends\n"
                                   "  ~ default/web 10.96.0.10:80/TCP (1 backends)\n"));
}

TEST_F(AgentTest, TimeoutsAloneDoNothing) {
  ScriptedSource source(manifest({"10.0.0.1"}),
                        {{Event::kTimeout, std::nullopt}, {Event::kTimeout, std::nullopt}});
  follow(source);
  EXPECT_EQ(kernel.writerLocks(), 1u);  // only the first sync reconciled
}

TEST_F(AgentTest, ReloadAppliesEvenTheSameContent) {
  ScriptedSource source(manifest({"10.0.0.1"}), {{Event::kReload, std::nullopt}});
  follow(source);
  EXPECT_EQ(kernel.writerLocks(), 2u);
  EXPECT_THAT(out.str(), HasSubstr("(no change)"));
}

TEST_F(AgentTest, BadInputKeepsTheTableAndWaitsForTheNextChange) {
  ScriptedSource source(manifest({"10.0.0.1"}),
                        {{Event::kChanged, std::string("kind: [")},
                         {Event::kChanged, fail("cannot read services.yaml", ENOENT)},
                         {Event::kTimeout, std::nullopt},
                         {Event::kChanged, manifest({"10.0.0.2"})}});
  follow(source);
  // Neither the bad file nor the missing one was retried on the timeout.
  EXPECT_THAT(source.timeouts, ElementsAre(kForever, kForever, kForever, kForever, 50));
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.2:8080"));
  EXPECT_EQ(kernel.writerLocks(), 3u);  // the first sync, the good file, its reclamation
}

TEST_F(AgentTest, KernelFailureIsRetriedUntilItTakes) {
  ScriptedSource source(manifest({"10.0.0.1"}), {{Event::kChanged, manifest({"10.0.0.2"})},
                                                 {Event::kTimeout, std::nullopt},
                                                 {Event::kTimeout, std::nullopt}});
  ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  faulty.failWriteAt(1);  // the update fails once, on its first write
  agent.follow(source);
  // After the failure the agent woke up on its retry timeout and applied;
  // then it reclaimed on the next timeout.
  EXPECT_THAT(source.timeouts, ElementsAre(kForever, 5000, 50, kForever));
  EXPECT_FALSE(table.reclaimPending());
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.2:8080"));
}

// The API server's first lists: nothing is programmed or pruned before them.
TEST_F(AgentTest, NothingIsAppliedBeforeTheSourceIsSynced) {
  ScriptedSource source(manifest({"10.0.0.1"}), {{Event::kChanged, manifest({}), false},
                                                 {Event::kChanged, manifest({"10.0.0.2"}), false},
                                                 {Event::kChanged, manifest({"10.0.0.3"}), true}});
  follow(source);
  EXPECT_EQ(kernel.writerLocks(), 3u);  // the first sync, the synced one, its reclamation
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.3:8080"));
}

TEST_F(AgentTest, StopsWhenTheSourceSaysSo) {
  ScriptedSource source(manifest({"10.0.0.1"}),
                        {{Event::kStop, std::nullopt}, {Event::kChanged, manifest({})}});
  follow(source);
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.1:8080"));
  EXPECT_EQ(source.timeouts.size(), 1u);
}

// A conntrack sweep that counts its calls and checks the writer lock.
class CountingGc final : public maps::ConntrackGc {
 public:
  explicit CountingGc(const FakeKernel& kernel) : kernel_(kernel) {}
  Result<std::optional<maps::SweepReport>> sweep(const maps::PortMarks&) override {
    ++sweeps;
    unlocked += !kernel_.writerLockHeld();
    if (!loaded) return std::nullopt;
    return maps::SweepReport{.scanned = 10, .deleted = 4, .entries = 6, .portsCleared = 1};
  }
  int sweeps = 0, unlocked = 0;
  bool loaded = true;

 private:
  const FakeKernel& kernel_;
};

TEST_F(AgentTest, SweepsConntrackOnItsIntervalBetweenSyncs) {
  using namespace std::chrono_literals;
  CountingGc gc(kernel);
  observe::Metrics metrics;
  Agent swept(table,
              {.select = {},
               .retryMs = 5000,
               .metrics = &metrics,
               .conntrackGc = &gc,
               .conntrackGcInterval = 20ms},
              out);
  ScriptedSource source(manifest({"10.0.0.1"}), {{Event::kTimeout, std::nullopt},
                                                 {Event::kTimeout, std::nullopt, false},
                                                 {Event::kChanged, manifest({"10.0.0.2"})},
                                                 {Event::kTimeout, std::nullopt}});
  source.waits = true;
  ASSERT_EQ(swept.sync(source), Agent::Outcome::kApplied);
  swept.follow(source);
  // Each timeout was the time left to the next sweep, which then ran (also
  // while the source was not synced); the change between them was applied.
  EXPECT_GE(gc.sweeps, 3);
  EXPECT_LE(gc.sweeps, 4);  // a slow machine may find a sweep due at the change
  EXPECT_EQ(gc.unlocked, 0) << "a sweep ran without the writer lock";
  ASSERT_EQ(source.timeouts.size(), 5u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GE(source.timeouts[i], 0) << i;
    EXPECT_LE(source.timeouts[i], 20) << i;
  }
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.2:8080"));
  auto text = metrics.exposition();
  EXPECT_THAT(text, HasSubstr("svcrouter_conntrack_gc_deleted_total " +
                              std::to_string(4 * gc.sweeps) + "\n"));
  EXPECT_THAT(text, HasSubstr("svcrouter_conntrack_entries 6\n"));
  EXPECT_THAT(text, HasSubstr("svcrouter_conntrack_gc_duration_seconds_count " +
                              std::to_string(gc.sweeps) + "\n"));
}

TEST_F(AgentTest, NoSweepWhenOffOrNotLoaded) {
  using namespace std::chrono_literals;
  CountingGc gc(kernel);
  observe::Metrics metrics;
  Agent off(table, {.select = {}, .metrics = &metrics, .conntrackGc = &gc}, out);
  ScriptedSource quiet(manifest({"10.0.0.1"}), {{Event::kTimeout, std::nullopt}});
  off.follow(quiet);
  EXPECT_EQ(gc.sweeps, 0);
  EXPECT_THAT(quiet.timeouts, ElementsAre(kForever, kForever));

  gc.loaded = false;  // no packet path: swept, nothing counted
  Agent unloaded(
      table, {.select = {}, .metrics = &metrics, .conntrackGc = &gc, .conntrackGcInterval = 1ms},
      out);
  ScriptedSource source(manifest({"10.0.0.1"}), {{Event::kTimeout, std::nullopt}});
  source.waits = true;
  unloaded.follow(source);
  EXPECT_EQ(gc.sweeps, 1);
  EXPECT_THAT(metrics.exposition(), HasSubstr("svcrouter_conntrack_gc_duration_seconds_count 0\n"));
}

// A source that says which Services changed (as KubeSource does): each
// step's content is the whole truth; changes() returns the named Services'
// objects from it, and counts the full reads.
class ChangingSource final : public Source {
 public:
  struct Step {
    std::string content;
    std::set<std::pair<std::string, std::string>> changed;
  };
  ChangingSource(std::string initial, std::vector<Step> steps)
      : content_(std::move(initial)), steps_(steps.begin(), steps.end()) {}
  const std::string& name() const override { return name_; }
  Event next(int) override {
    if (steps_.empty()) return Event::kStop;
    content_ = steps_.front().content;
    changed_ = steps_.front().changed;
    steps_.pop_front();
    return Event::kChanged;
  }
  Result<Objects> objects() override {
    ++fullReads;
    changed_.clear();
    return parseManifests(content_, name_);
  }
  std::optional<Changes> changes() override {
    auto all = parseManifests(content_, name_);
    Changes out;
    out.services = std::exchange(changed_, {});
    for (const auto& s : all->services)
      if (out.services.contains({s.ns, s.name})) out.objects.services.push_back(s);
    for (const auto& sl : all->slices)
      if (out.services.contains({sl.ns, sl.serviceName})) out.objects.slices.push_back(sl);
    return out;
  }
  InputCheck inputCheck() const override { return InputCheck::kLenient; }
  int fullReads = 0;

 private:
  std::string name_ = "api";
  std::string content_;
  std::set<std::pair<std::string, std::string>> changed_;
  std::deque<Step> steps_;
};

// Two Services; `web` on 10.96.0.10, `api` on 10.96.0.11.
std::string two(std::vector<std::string> web, std::vector<std::string> api) {
  std::string other = manifest(std::move(api));
  for (auto [from, to] :
       {std::pair{"name: web-1", "name: api-1"},
        std::pair{"service-name: web", "service-name: api"}, std::pair{"name: web", "name: api"},
        std::pair{"10.96.0.10", "10.96.0.11"}})
    other.replace(other.find(from), std::string(from).size(), to);
  return manifest(std::move(web)) + "---\n" + other;
}

TEST_F(AgentTest, ChangesPlanOnlyTheirServices) {
  ChangingSource source(two({"10.0.0.1"}, {"10.0.0.2"}),
                        {{two({"10.0.0.3"}, {"10.0.0.2"}), {{"default", "web"}}},
                         {two({"10.0.0.3"}, {"10.0.0.4"}), {{"default", "api"}}},
                         {manifest({"10.0.0.3"}), {{"default", "api"}}}});
  ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  kernel.clearLog();
  agent.follow(source);
  EXPECT_EQ(source.fullReads, 1);  // the first sync only
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.3:8080"));
  auto lock = kernel.lock(maps::LockMode::kShared);
  auto state = *kernel.read();
  EXPECT_EQ(state.services.size(), 1u);  // api is gone
  // Each plan touched only its Service: no write names the other's VIP.
  for (const auto& line : kernel.log())
    EXPECT_EQ(line.find("put service 10.96.0.10") != std::string::npos &&
                  line.find("put service 10.96.0.11") != std::string::npos,
              false);
}

TEST_F(AgentTest, AfterAKernelFailureTheNextSyncIsFull) {
  ChangingSource source(two({"10.0.0.1"}, {"10.0.0.2"}),
                        {{two({"10.0.0.3"}, {"10.0.0.2"}), {{"default", "web"}}},
                         {two({"10.0.0.3"}, {"10.0.0.2"}), {}}});
  ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  faulty.failWriteAt(1);
  ASSERT_EQ(source.next(0), Event::kChanged);
  EXPECT_EQ(agent.sync(source), Agent::Outcome::kKernelError);
  ASSERT_EQ(source.next(0), Event::kChanged);  // nothing new changed...
  EXPECT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  EXPECT_EQ(source.fullReads, 2);  // ...but the failed change is planned again, in full
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.3:8080"));
}

// The DNS zone follows the same objects in the same sync: whole after a
// full read, the changed Services' after changes(); a bad input keeps it.
TEST_F(AgentTest, DnsZoneFollowsEachSync) {
  dns::ZoneHolder zones;
  dns::ZoneBuilder builder({}, zones);
  Agent withDns{table, {.select = {}, .retryMs = 5000, .dnsZone = &builder}, out};
  auto hasName = [&](const char* dotted) {
    auto zone = zones.get();
    return zone && zone->find(dns::lowerName(*dns::nameFromDotted(dotted))).has_value();
  };
  ChangingSource source(two({"10.0.0.1"}, {"10.0.0.2"}),
                        {{two({"10.0.0.3"}, {"10.0.0.2"}), {{"default", "web"}}},
                         {manifest({"10.0.0.3"}), {{"default", "api"}}}});
  EXPECT_FALSE(zones.get());
  ASSERT_EQ(withDns.sync(source), Agent::Outcome::kApplied);
  EXPECT_TRUE(hasName("web.default.svc.cluster.local"));
  EXPECT_TRUE(hasName("api.default.svc.cluster.local"));
  EXPECT_TRUE(hasName("10-0-0-1.web.default.svc.cluster.local"));
  ASSERT_EQ(source.next(0), Event::kChanged);
  ASSERT_EQ(withDns.sync(source), Agent::Outcome::kApplied);
  EXPECT_FALSE(hasName("10-0-0-1.web.default.svc.cluster.local"));
  EXPECT_TRUE(hasName("10-0-0-3.web.default.svc.cluster.local"));
  EXPECT_TRUE(hasName("api.default.svc.cluster.local"));
  ASSERT_EQ(source.next(0), Event::kChanged);
  ASSERT_EQ(withDns.sync(source), Agent::Outcome::kApplied);
  EXPECT_FALSE(hasName("api.default.svc.cluster.local"));
  EXPECT_EQ(source.fullReads, 1);

  ScriptedSource file(manifest({"10.0.0.1"}), {{Event::kChanged, fail("services.yaml: bad")}});
  ASSERT_EQ(withDns.sync(file), Agent::Outcome::kApplied);
  EXPECT_TRUE(hasName("10-0-0-1.web.default.svc.cluster.local"));
  ASSERT_EQ(file.next(0), Event::kChanged);
  EXPECT_EQ(withDns.sync(file), Agent::Outcome::kBadInput);
  EXPECT_TRUE(hasName("10-0-0-1.web.default.svc.cluster.local"));
}

TEST(Reconciler, HoldsTheWriterLockAndConverges) {
  FakeKernel kernel;
  kernel.checkLocks();  // reads, writes and waits outside the lock are violations
  maps::Table table(kernel);
  auto want = desiredFromManifests(manifest({"10.0.0.1", "10.0.0.2"}), "f.yaml", {});
  ASSERT_TRUE(want);
  auto plan = reconcile(table, *want);
  ASSERT_TRUE(plan);
  EXPECT_FALSE(plan->empty());
  EXPECT_EQ(kernel.writerLocks(), 1u);
  auto again = reconcile(table, *want);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  EXPECT_THAT(served(kernel), ElementsAre("10.0.0.1:8080", "10.0.0.2:8080"));
  EXPECT_THAT(kernel.violations(), IsEmpty());
}

TEST(Reconciler, RefusesWhatDoesNotFitAndTouchesNothing) {
  FakeKernel kernel;
  maps::Table table(kernel);
  auto want = desiredFromManifests(manifest({"10.0.0.1", "10.0.0.2"}), "f.yaml", {});
  auto r = reconcile(table, *want, Capacity{10, 2, 10});  // backend ids 1..1
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many backends: the table holds 1 (--max-backends, set at load)");
  EXPECT_THAT(kernel.log(), IsEmpty());
}

TEST(Reconciler, SummaryShowsTwentyChangesUnlessAll) {
  Plan plan;
  for (int i = 0; i < 25; ++i) plan.changes.push_back("+ change " + std::to_string(i));
  DesiredState want;
  auto some = summarize("f.yaml", want, plan, false);
  EXPECT_THAT(some, HasSubstr("  + change 19\n  ... and 5 more (-v lists them)\n"));
  auto all = summarize("f.yaml", want, plan, true);
  EXPECT_THAT(all, HasSubstr("  + change 24\n"));
  EXPECT_THAT(all, ::testing::Not(HasSubstr("more")));
}

}  // namespace
}  // namespace svcrouter
