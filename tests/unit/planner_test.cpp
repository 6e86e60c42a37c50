// The planner: ordered map operations from current to desired state.
// Besides the plans themselves, a fake kernel (fake_kernel.h) replays every
// plan operation by operation through maps::Table and checks what a BPF
// reader could see at each step.
#include "userspace/core/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "maps/layout/service.h"
#include "maps/table.h"
#include "tests/support/builders.h"
#include "tests/unit/fake_kernel.h"
#include "tests/unit/faulty_maps.h"

namespace svcrouter {
namespace {

using builders::desired;
using builders::ip;
using builders::key;
using builders::service;
using fakes::FakeKernel;
using ::testing::IsEmpty;

bool sameState(const CurrentState& a, const CurrentState& b) {
  if (a.backends != b.backends || a.vips != b.vips || a.services.size() != b.services.size() ||
      a.portMarks != b.portMarks)
    return false;
  for (const auto& [k, s] : a.services) {
    auto it = b.services.find(k);
    if (it == b.services.end()) return false;
    const auto& t = it->second;
    if (s.entry != t.entry || s.meta != t.meta || s.slots != t.slots || s.members != t.members ||
        s.sourceRanges != t.sourceRanges)
      return false;
  }
  return a.strayMembers == b.strayMembers && a.strayMetas == b.strayMetas &&
         a.straySourceRanges == b.straySourceRanges;
}

// Applies plans as one agent would: through one maps::Table over the fake
// kernel, whose readers' model checks every step.
// Every reader stays safe all along, or the test fails.
class Kernel {
 public:
  ~Kernel() { EXPECT_THAT(fake.violations(), IsEmpty()); }
  void apply(const Plan& plan) { ASSERT_TRUE(table_.apply(plan)); }
  CurrentState state() const { return *fake.read(); }
  size_t leftovers() const { return fake.leftovers(); }
  FakeKernel fake;

 private:
  maps::Table table_{fake};
};

std::vector<std::string> describeAll(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& op : plan.ops) out.push_back(describe(op));
  return out;
}

// The backend ids of a service, as the kernel would hand them out.
std::vector<std::string> backendsOf(const CurrentState& s, const ServiceKey& k) {
  std::vector<std::string> out;
  for (uint32_t id : s.services.at(k).slots) out.push_back(describe(s.backends.at(id)));
  return out;
}

TEST(Planner, NewServicePublishesSlotsBeforeTheEntry) {
  auto plan =
      planUpdate({}, desired({service("web", key("10.96.0.10", 80), {"10.0.0.2", "10.0.0.1"})}));
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_EQ(
      describeAll(*plan),
      (std::vector<std::string>{
          "reset backend stats 1", "reset backend stats 2", "put backend 1 10.0.0.1:8080",
          "put backend 2 10.0.0.2:8080", "reset service 1", "put meta 1 default/web",
          "put member 1 1 reason 1", "put member 1 2 reason 1", "put slots 0 [1 2]",
          "put service 10.96.0.10:80/TCP id 1 count 2 gen 0 slots 0", "put vip 10.96.0.10 1"}));
  EXPECT_EQ(plan->changes,
            std::vector<std::string>{"+ default/web 10.96.0.10:80/TCP (2 backends)"});
}

TEST(Planner, SameStateIsAnEmptyPlan) {
  Kernel k;
  auto want = desired({service("web", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2"}),
                       service("dns", key("10.96.0.10", 53, Protocol::kUdp), {"10.0.0.1"}, 53)});
  k.apply(*planUpdate({}, want));
  auto again = planUpdate(k.state(), want);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << testing::PrintToString(describeAll(*again));
  EXPECT_TRUE(again->changes.empty());
}

TEST(Planner, ChangedSetFlipsToANewGenerationThenRetiresTheOld) {
  Kernel k;
  auto k80 = key("10.96.0.10", 80);
  k.apply(*planUpdate({}, desired({service("web", k80, {"10.0.0.1", "10.0.0.2"})})));
  auto plan = planUpdate(k.state(), desired({service("web", k80, {"10.0.0.2", "10.0.0.3"})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(
      describeAll(*plan),
      (std::vector<std::string>{
          "reset backend stats 3", "put backend 3 10.0.0.3:8080", "put member 1 3 reason 1",
          "put slots 2 [2 3]", "put service 10.96.0.10:80/TCP id 1 count 2 gen 1 slots 2",
          "wait for readers", "clear slots 0 count 2", "delete member 1 1", "delete backend 1"}));
  k.apply(*plan);
  EXPECT_EQ(backendsOf(k.state(), k80),
            (std::vector<std::string>{"10.0.0.2:8080", "10.0.0.3:8080"}));
}

TEST(Planner, RemovedServiceIsUnpublishedBeforeItsPartsAreFreed) {
  Kernel k;
  k.apply(*planUpdate({}, desired({service("web", key("10.96.0.10", 80), {"10.0.0.1"})})));
  auto plan = planUpdate(k.state(), {});
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"delete service 10.96.0.10:80/TCP", "delete vip 10.96.0.10",
                                      "wait for readers", "clear slots 0 count 1",
                                      "delete member 1 1", "delete meta 1", "delete backend 1"}));
  EXPECT_EQ(plan->changes, std::vector<std::string>{"- default/web 10.96.0.10:80/TCP"});
  k.apply(*plan);
  EXPECT_EQ(k.leftovers(), 0u);
}

TEST(Planner, NoBackendsMeansCountZeroAndNoSlots) {
  auto plan = planUpdate({}, desired({service("web", key("10.96.0.10", 80), {})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"reset service 1", "put meta 1 default/web",
                                      "put service 10.96.0.10:80/TCP id 1 count 0 gen 0 slots 0",
                                      "put vip 10.96.0.10 1"}));
}

TEST(Planner, SharedBackendGetsOneId) {
  Kernel k;
  auto a = key("10.96.0.10", 80), b = key("10.96.0.11", 80);
  k.apply(*planUpdate({}, desired({service("a", a, {"10.0.0.1"}), service("b", b, {"10.0.0.1"})})));
  auto s = k.state();
  EXPECT_EQ(s.backends.size(), 1u);
  EXPECT_EQ(s.services.at(a).slots, s.services.at(b).slots);
}

TEST(Planner, AffinityChangeRewritesOnlyTheEntry) {
  Kernel k;
  auto k80 = key("10.96.0.10", 80);
  k.apply(*planUpdate({}, desired({service("web", k80, {"10.0.0.1"})})));
  auto d = service("web", k80, {"10.0.0.1"});
  d.affinity = true;
  d.affinityTimeoutSec = 30;
  auto plan = planUpdate(k.state(), desired({d}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            std::vector<std::string>{
                "put service 10.96.0.10:80/TCP id 1 count 1 gen 0 slots 0 affinity 30s"});
}

TEST(Planner, IdsFreedInAPlanAreNotReusedByIt) {
  Kernel k;
  k.apply(*planUpdate({}, desired({service("old", key("10.96.0.10", 80), {"10.0.0.1"})})));
  auto plan = planUpdate(k.state(), desired({service("new", key("10.96.0.11", 80), {"10.0.0.2"})}));
  ASSERT_TRUE(plan);
  k.apply(*plan);
  auto s = k.state();
  EXPECT_EQ(s.services.begin()->second.entry.id, 2u);  // 1 was freed by this very plan
  EXPECT_EQ(s.backends.begin()->first, 2u);
}

TEST(Planner, StraysFromAnInterruptedUpdateAreDeletedAfterTheGracePeriod) {
  CurrentState cur;
  cur.strayMembers.insert({7, 9});
  cur.strayMetas.insert(7);
  auto plan = planUpdate(cur, {});
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"wait for readers", "delete member 7 9", "delete meta 7"}));
}

TEST(Planner, RefusesWhatDoesNotFit) {
  Capacity small{3, 3, 4};  // ids 1..2
  auto two = desired({service("a", key("10.96.0.10", 80), {"10.0.0.1"}),
                      service("b", key("10.96.0.11", 80), {"10.0.0.1"})});
  EXPECT_TRUE(planUpdate({}, two, small));
  auto three = two;
  auto c = service("c", key("10.96.0.12", 80), {});
  three.services[c.key] = c;
  auto r = planUpdate({}, three, small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many service entries: the table holds 2 (--max-services, set at load)");
  auto wide = desired({service("a", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2", "10.0.0.3"})});
  r = planUpdate({}, wide, small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many backends: the table holds 2 (--max-backends, set at load)");
  auto slots = desired({service("a", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2"}),
                        service("b", key("10.96.0.11", 80), {"10.0.0.1", "10.0.0.2"}),
                        service("c", key("10.96.0.12", 80), {"10.0.0.1"})});
  r = planUpdate({}, slots, Capacity{10, 10, 4});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many backend slots: the update needs 5, the table holds 4 (--max-slots, set at load)");
}

// Random sequences of tables: every plan keeps every reader safe (checked by
// FakeKernel at each step) and ends exactly at the desired table.
TEST(Planner, RandomUpdatesStayConsistent) {
  std::mt19937 rng(12345);
  Kernel k;
  for (int round = 0; round < 300; ++round) {
    DesiredState want = builders::randomDesired(rng);
    auto before = k.state();
    auto plan = planUpdate(before, want);
    ASSERT_TRUE(plan) << plan.error().message();
    k.apply(*plan);  // one agent: readers may hold values across plans
    ASSERT_THAT(k.fake.violations(), IsEmpty()) << "round " << round;
    auto s = k.state();
    // The plan knew what the kernel would hold: the table keeps that.
    auto kept = before;
    applyDelta(kept, plan->delta);
    ASSERT_TRUE(sameState(kept, s)) << "round " << round;
    ASSERT_EQ(s.services.size(), want.services.size());
    for (const auto& [sk, d] : want.services) {
      std::vector<std::string> expect;
      for (const auto& b : d.backends) expect.push_back(describe(b.addr));
      ASSERT_EQ(backendsOf(s, sk), expect) << "round " << round << " " << describe(sk);
      ASSERT_EQ(s.services.at(sk).entry.affinity, d.affinity);
      ASSERT_EQ(s.services.at(sk).entry.dropEmpty, d.dropWhenEmpty);
      ASSERT_EQ(s.services.at(sk).sourceRanges, d.sourceRanges);
      ASSERT_EQ(s.services.at(sk).meta.name, d.name);
    }
    for (const auto& [port, bits] : wantedPortMarks(s))
      ASSERT_EQ(s.portMarks[port] & bits, bits) << "round " << round << " port " << port;
    ASSERT_TRUE(planUpdate(s, want)->empty()) << "round " << round << ": not converged";
  }
  k.apply(*planUpdate(k.state(), {}));
  EXPECT_EQ(k.leftovers(), 0u);
}

bool sameIndex(const StateIndex& a, const StateIndex& b) {
  return a.backendIds == b.backendIds && a.backendRefs == b.backendRefs &&
         a.serviceIds == b.serviceIds && a.slotRanges == b.slotRanges && a.members == b.members &&
         a.slotsUsed == b.slotsUsed && a.sourceRanges == b.sourceRanges;
}

// Plans of the changed entries only (what the agent makes for one change):
// readers stay safe, the kernel ends as desired, a full plan then finds
// nothing to do, and the state the table keeps (applied deltas, with their
// index) is what the kernel holds.
TEST(Planner, IncrementalPlansMatchFullOnes) {
  std::mt19937 rng(4711);
  FakeKernel fake;
  maps::Table table(fake);
  DesiredState want;
  for (int round = 0; round < 400; ++round) {
    DesiredState next = builders::randomDesired(rng);
    // A few entries change per round; the rest stay as they are.
    DesiredState mixed = want;
    std::set<ServiceKey> changed;
    for (const auto& [key, d] : next.services)
      if (rng() % 4 == 0 && (!mixed.services.contains(key) || !(mixed.services.at(key) == d))) {
        mixed.services[key] = d;
        changed.insert(key);
      }
    for (auto it = mixed.services.begin(); it != mixed.services.end();) {
      if (!next.services.contains(it->first) && rng() % 4 == 0) {
        changed.insert(it->first);
        it = mixed.services.erase(it);
      } else {
        ++it;
      }
    }
    auto view = table.view();
    ASSERT_TRUE(view);
    auto plan = planChanges(**view, mixed, changed);
    ASSERT_TRUE(plan) << plan.error().message();
    view->reset();
    ASSERT_TRUE(table.apply(*plan));
    ASSERT_THAT(fake.violations(), IsEmpty()) << "round " << round;
    auto s = *fake.read();
    ASSERT_TRUE(planUpdate(s, mixed)->empty()) << "round " << round << ": not converged";
    auto kept = table.view();
    ASSERT_TRUE(kept && (*kept)->index);
    ASSERT_TRUE(sameState(**kept, s)) << "round " << round;
    ASSERT_TRUE(sameIndex(*(*kept)->index, buildIndex(s))) << "round " << round;
    // The searches start no later than the lowest free ids.
    const auto& x = *(*kept)->index;
    for (uint32_t id = 1; id < x.firstFreeBackendId; ++id)
      ASSERT_TRUE(s.backends.contains(id)) << "round " << round << " backend id " << id;
    for (uint32_t id = 1; id < x.firstFreeServiceId; ++id)
      ASSERT_TRUE(x.serviceIds.contains(id)) << "round " << round << " service id " << id;
    want = std::move(mixed);
  }
  EXPECT_EQ(fake.reads(), 400u + 1);  // ours, one a round; the table's, once at the start
}

// The same with deferred reclamation, as the agent runs: each plan is
// published without waiting, and the grace period and deletions that
// follow it are finished at random moments, or by the next plan. Readers
// stay safe, and the kernel ends as desired once reclaimed.
TEST(Planner, DeferredReclaimStaysConsistent) {
  std::mt19937 rng(2026);
  FakeKernel fake;
  maps::Table table(fake);
  table.deferReclaim(true);
  DesiredState want;
  for (int round = 0; round < 400; ++round) {
    DesiredState next = builders::randomDesired(rng);
    std::set<ServiceKey> changed;
    for (const auto& [key, d] : next.services)
      if (!want.services.contains(key) || !(want.services.at(key) == d)) changed.insert(key);
    for (const auto& [key, d] : want.services)
      if (!next.services.contains(key)) changed.insert(key);
    auto view = table.view();
    ASSERT_TRUE(view);
    auto plan = rng() % 2 ? planChanges(**view, next, changed) : planUpdate(**view, next);
    ASSERT_TRUE(plan) << plan.error().message();
    view->reset();
    ASSERT_TRUE(table.apply(*plan));
    ASSERT_THAT(fake.violations(), IsEmpty()) << "round " << round;
    if (rng() % 3 == 0) {
      ASSERT_TRUE(table.reclaim());
      ASSERT_THAT(fake.violations(), IsEmpty()) << "round " << round;
      auto s = *fake.read();
      ASSERT_TRUE(planUpdate(s, next)->empty()) << "round " << round << ": not converged";
      ASSERT_TRUE(sameState(**table.view(), s)) << "round " << round;
    }
    want = std::move(next);
  }
  ASSERT_TRUE(table.reclaim());
  ASSERT_TRUE(table.apply(*planUpdate(*fake.read(), {})));
  ASSERT_TRUE(table.reclaim());
  EXPECT_EQ(fake.leftovers(), 0u);
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// The agent can die between any two operations (or not at all). A
// restarted agent adopts whatever the kernel holds, strays included, and
// plans from it: readers stay safe all along, and the table ends exactly as
// desired. The restart is real: a new maps::Table, which must wait for the
// previous agent's readers before its first write.
TEST(Planner, InterruptedUpdatesRecover) {
  std::mt19937 rng(777);
  const char* vips[] = {"10.96.0.1", "10.96.0.2", "10.96.0.3"};
  const char* backends[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"};
  auto randomState = [&] {
    DesiredState want;
    for (const char* vip : vips)
      for (Protocol p : {Protocol::kTcp, Protocol::kUdp}) {
        if (rng() % 3 == 0) continue;
        std::vector<const char*> chosen;
        for (const char* b : backends)
          if (rng() % 2) chosen.push_back(b);
        auto d = service(vip, key(vip, 80, p), chosen);
        d.affinity = rng() % 3 == 0;
        d.affinityTimeoutSec = d.affinity ? 5 : 0;
        want.services[d.key] = d;
      }
    return want;
  };
  FakeKernel fake;
  fakes::FaultyMaps faulty(fake);
  std::optional<maps::Table> agent(std::in_place, faulty);
  int deaths = 0;
  for (int round = 0; round < 500; ++round) {
    auto want = randomState();
    auto plan = planUpdate(*fake.read(), want);
    ASSERT_TRUE(plan) << plan.error().message();
    // Killed at a random step: its first wait, an operation, or not at all.
    faulty.dieAfter(rng() % (plan->ops.size() + 2));
    if (!agent->apply(*plan)) {
      ++deaths;
      faulty.clearFaults();
      agent.emplace(faulty);  // a new agent process
      auto retry = planUpdate(*fake.read(), want);
      ASSERT_TRUE(retry) << retry.error().message();
      ASSERT_TRUE(agent->apply(*retry)) << "round " << round;
    }
    faulty.clearFaults();
    ASSERT_THAT(fake.violations(), IsEmpty()) << "round " << round;
    auto s = *fake.read();
    ASSERT_TRUE(s.strayMembers.empty() && s.strayMetas.empty()) << "round " << round;
    ASSERT_EQ(s.services.size(), want.services.size()) << "round " << round;
    for (const auto& [sk, d] : want.services) {
      std::vector<std::string> expect;
      for (const auto& b : d.backends) expect.push_back(describe(b.addr));
      ASSERT_EQ(backendsOf(s, sk), expect) << "round " << round;
      ASSERT_EQ(s.services.at(sk).members.size(), d.backends.size()) << "round " << round;
      ASSERT_EQ(s.services.at(sk).meta.name, d.name) << "round " << round;
    }
  }
  EXPECT_GT(deaths, 400);  // the kill points really were spread over the plans
}

// ---- Packet path: source ranges, drop when empty, port marks ------------------

IpCidr cidr(const char* addr, uint8_t prefix) { return {ip(addr), prefix}; }

// A load balancer IP's external entry, with its source ranges.
DesiredService lbEntry(const std::vector<IpCidr>& ranges,
                       const std::vector<const char*>& backends = {"10.0.0.1"}) {
  auto d = service("lb", key("203.0.113.9", 80, Protocol::kTcp, Scope::kExternal), backends);
  d.sourceRanges = {ranges.begin(), ranges.end()};
  return d;
}

TEST(Planner, SourceRangesAndPortMarksComeBeforeTheFlip) {
  auto plan = planUpdate({}, desired({lbEntry({cidr("10.0.0.0", 8), cidr("192.168.1.0", 24)})}));
  ASSERT_TRUE(plan) << plan.error().message();
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{
                "reset backend stats 1", "put backend 1 10.0.0.1:8080", "reset service 1",
                "put meta 1 default/lb", "put member 1 1 reason 1", "put slots 0 [1]",
                "put source range 1 10.0.0.0/8", "put source range 1 192.168.1.0/24",
                "mark port 80 frontend", "mark port 8080 backend",
                "put service 203.0.113.9:80/TCP (external) id 1 count 1 gen 0 slots 0 "
                "source-ranges"}));
}

TEST(Planner, ChangedSourceRangesAddBeforeAndDeleteAfterTheWait) {
  Kernel k;
  k.apply(*planUpdate({}, desired({lbEntry({cidr("10.0.0.0", 8), cidr("172.16.0.0", 12)})})));
  // One range replaced: the entry itself does not change.
  auto plan =
      planUpdate(k.state(), desired({lbEntry({cidr("172.16.0.0", 12), cidr("192.168.1.0", 24)})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"put source range 1 192.168.1.0/24", "wait for readers",
                                      "delete source range 1 10.0.0.0/8"}));
  EXPECT_EQ(plan->changes,
            std::vector<std::string>{"~ default/lb 203.0.113.9:80/TCP (external) (1 backends)"});
  k.apply(*plan);
  // No ranges any more: the flag goes first, the ranges after the wait.
  plan = planUpdate(k.state(), desired({lbEntry({})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{
                "put service 203.0.113.9:80/TCP (external) id 1 count 1 gen 0 slots 0",
                "wait for readers", "delete source range 1 172.16.0.0/12",
                "delete source range 1 192.168.1.0/24"}));
  k.apply(*plan);
  // Back, then gone with the entry.
  k.apply(*planUpdate(k.state(), desired({lbEntry({cidr("10.0.0.0", 8)})})));
  plan = planUpdate(k.state(), {});
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"delete service 203.0.113.9:80/TCP (external)",
                                      "wait for readers", "clear slots 0 count 1",
                                      "delete member 1 1", "delete source range 1 10.0.0.0/8",
                                      "delete meta 1", "delete backend 1"}));
  k.apply(*plan);
  EXPECT_EQ(k.leftovers(), 0u);
}

TEST(Planner, DropWhenEmptyIsAFlagOfTheEntry) {
  Kernel k;
  auto d = lbEntry({}, {});
  d.dropWhenEmpty = true;
  auto plan = planUpdate({}, desired({d}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan).back(),
            "put service 203.0.113.9:80/TCP (external) id 1 count 0 gen 0 slots 0 drop-empty");
  k.apply(*plan);
  EXPECT_TRUE(k.state().services.begin()->second.entry.dropEmpty);
  d.dropWhenEmpty = false;  // the Service lost its last endpoint elsewhere: refuse
  EXPECT_EQ(describeAll(*planUpdate(k.state(), desired({d}))),
            std::vector<std::string>{
                "put service 203.0.113.9:80/TCP (external) id 1 count 0 gen 0 slots 0"});
}

TEST(Planner, PortMarksAreOnlyAddedAndOnlyForTheExternalScope) {
  Kernel k;
  auto cluster = service("web", key("10.96.0.10", 80), {"10.0.0.1"}, 7070);
  auto node =
      service("web", key("192.168.1.10", 30080, Protocol::kTcp, Scope::kNode), {"10.0.0.1"}, 7070);
  auto plan = planUpdate({}, desired({cluster, node}));
  ASSERT_TRUE(plan);
  for (const auto& op : describeAll(*plan)) EXPECT_EQ(op.find("mark"), op.npos) << op;
  k.apply(*plan);
  // The same port as a frontend and a backend: both bits at once.
  auto external = service("web", key("192.168.1.10", 30080, Protocol::kTcp, Scope::kExternal),
                          {"10.0.0.1", "10.0.0.2"}, 30080);
  plan = planUpdate(k.state(), desired({cluster, node, external}));
  ASSERT_TRUE(plan);
  EXPECT_THAT(describeAll(*plan), testing::Contains("mark port 30080 frontend,backend"));
  k.apply(*plan);
  EXPECT_EQ(k.fake.portMarks(),
            (std::map<uint16_t, uint32_t>{{30080, SVCR_PORT_F_FRONTEND | SVCR_PORT_F_BACKEND}}));
  // A backend moves to another port: its bit is added; none is cleared, not
  // even when the entry goes.
  external.backends[1].addr.port = 9090;
  plan = planUpdate(k.state(), desired({cluster, node, external}));
  ASSERT_TRUE(plan);
  auto ops = describeAll(*plan);
  EXPECT_EQ(std::ranges::count_if(ops, [](const auto& o) { return o.starts_with("mark"); }), 1);
  EXPECT_THAT(ops, testing::Contains("mark port 9090 backend"));
  k.apply(*plan);
  plan = planUpdate(k.state(), {});
  ASSERT_TRUE(plan);
  for (const auto& op : describeAll(*plan)) EXPECT_EQ(op.find("mark"), op.npos) << op;
  k.apply(*plan);
  EXPECT_EQ(k.fake.portMarks().size(), 2u);
  // What a sweeper may not clear: nothing, once the table is empty.
  EXPECT_TRUE(wantedPortMarks(k.state()).empty());
}

TEST(Planner, WantedPortMarksAreWhatTheExternalEntriesUse) {
  Kernel k;
  k.apply(*planUpdate(
      {}, desired({service("web", key("10.96.0.10", 80), {"10.0.0.1"}, 7070),
                   service("web", key("192.168.1.10", 30080, Protocol::kTcp, Scope::kExternal),
                           {"10.0.0.1", "10.0.0.2"}, 8080),
                   service("dns", key("192.168.1.10", 30053, Protocol::kUdp, Scope::kExternal),
                           {"10.0.0.3"}, 53)})));
  EXPECT_EQ(wantedPortMarks(k.state()),
            (std::map<uint16_t, uint32_t>{{53, SVCR_PORT_F_BACKEND},
                                          {8080, SVCR_PORT_F_BACKEND},
                                          {30053, SVCR_PORT_F_FRONTEND},
                                          {30080, SVCR_PORT_F_FRONTEND}}));
}

// A sweeper that cleared marks moved the epoch: the table reads the kernel
// again and the next plan puts back what the entries need.
TEST(Planner, MarksClearedBySomeoneElseAreSetAgain) {
  FakeKernel fake;
  maps::Table table(fake);
  auto want = desired({lbEntry({cidr("10.0.0.0", 8)})});
  ASSERT_TRUE(table.apply(*planUpdate(*table.read(), want)));
  fake.clearPortMarks(8080);
  fake.touchEpoch();
  auto plan = planUpdate(*table.read(), want);
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan), std::vector<std::string>{"mark port 8080 backend"});
}

// What the kernel reads back plans nothing, and a new table (a restarted
// agent) that reads it plans nothing either.
TEST(Planner, ReadBackRangesFlagsAndMarksPlanNothing) {
  FakeKernel fake;
  auto dropping = service("lb", key("2001:db8::9", 80, Protocol::kTcp, Scope::kExternal), {});
  dropping.dropWhenEmpty = true;
  dropping.sourceRanges = {cidr("2001:db8:1::", 48)};
  auto want = desired({lbEntry({cidr("10.0.0.0", 8), cidr("0.0.0.0", 0)}), dropping});
  {
    maps::Table table(fake);
    ASSERT_TRUE(table.apply(*planUpdate(*table.read(), want)));
  }
  maps::Table restarted(fake);
  auto plan = planUpdate(*restarted.read(), want);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->empty()) << testing::PrintToString(describeAll(*plan));
  EXPECT_THAT(fake.violations(), IsEmpty());
}

TEST(Planner, StraySourceRangesAreDeletedAfterTheGracePeriodAndTheirIdWaits) {
  CurrentState cur;
  cur.straySourceRanges.insert({1, cidr("10.0.0.0", 8)});
  auto plan = planUpdate(cur, desired({service("web", key("10.96.0.10", 80), {})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"reset service 2", "put meta 2 default/web",
                                      "put service 10.96.0.10:80/TCP id 2 count 0 gen 0 slots 0",
                                      "put vip 10.96.0.10 1", "wait for readers",
                                      "delete source range 1 10.0.0.0/8"}));
}

TEST(Planner, RefusesMoreSourceRangesThanTheMapHolds) {
  Capacity cap = defaultCapacity();
  cap.sourceRanges = 2;
  auto want = desired({lbEntry({cidr("10.0.0.0", 8), cidr("192.168.1.0", 24)})});
  EXPECT_TRUE(planUpdate({}, want, cap));
  Kernel k;
  k.apply(*planUpdate({}, want, cap));
  // Replacing one needs three for a moment: the new is added before the old goes.
  auto r =
      planUpdate(k.state(), desired({lbEntry({cidr("10.0.0.0", 8), cidr("172.16.0.0", 12)})}), cap);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what,
            "too many load balancer source ranges: the update needs 3, the table holds 2");
}

// The readers' model catches plans in the wrong order: a range deleted
// before the grace period, an entry flipped before its ranges or marks.
TEST(Planner, TheModelCatchesMisorderedRangesAndMarks) {
  // The plan with the operation described as `what...` moved before `before...`.
  auto moved = [](Plan plan, const std::string& what, const std::string& before) {
    auto find = [&](const std::string& text) {
      return std::ranges::find_if(plan.ops,
                                  [&](const MapOp& op) { return describe(op).starts_with(text); });
    };
    MapOp op = *find(what);
    plan.ops.erase(find(what));
    plan.ops.insert(find(before), op);
    return plan;
  };
  auto want = desired({lbEntry({cidr("10.0.0.0", 8)})});
  {
    FakeKernel fake;
    maps::Table table(fake);
    ASSERT_TRUE(table.apply(moved(*planUpdate({}, want), "put service", "put source range")));
    EXPECT_THAT(fake.violations(), testing::Contains(testing::HasSubstr("and no range")));
  }
  {
    FakeKernel fake;
    maps::Table table(fake);
    ASSERT_TRUE(table.apply(moved(*planUpdate({}, want), "put service", "mark port 8080")));
    EXPECT_THAT(fake.violations(),
                testing::ElementsAre(testing::HasSubstr("backend port 8080 is not marked")));
  }
  {
    FakeKernel fake;
    maps::Table table(fake);
    ASSERT_TRUE(table.apply(*planUpdate({}, want)));
    auto plan = moved(*planUpdate(*table.read(), {}), "delete source range", "wait");
    ASSERT_TRUE(table.apply(plan));
    EXPECT_THAT(
        fake.violations(),
        testing::ElementsAre(testing::HasSubstr("source range 10.0.0.0/8 deleted under a reader")));
  }
}

}  // namespace
}  // namespace svcrouter
