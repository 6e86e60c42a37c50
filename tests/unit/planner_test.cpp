// The planner: ordered map operations from current to desired state.
// Besides the plans themselves, a fake kernel (fake_kernel.h) replays every
// plan operation by operation through maps::Table and checks what a BPF
// reader could see at each step.
#include "userspace/core/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  if (a.backends != b.backends || a.vips != b.vips || a.services.size() != b.services.size())
    return false;
  for (const auto& [k, s] : a.services) {
    auto it = b.services.find(k);
    if (it == b.services.end()) return false;
    const auto& t = it->second;
    if (s.entry != t.entry || s.meta != t.meta || s.slots != t.slots || s.members != t.members)
      return false;
  }
  return a.strayMembers == b.strayMembers && a.strayMetas == b.strayMetas;
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
  EXPECT_EQ(r.error().what, "too many services: the table holds 2");
  auto wide = desired({service("a", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2", "10.0.0.3"})});
  r = planUpdate({}, wide, small);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many backends: the table holds 2");
  auto slots = desired({service("a", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2"}),
                        service("b", key("10.96.0.11", 80), {"10.0.0.1", "10.0.0.2"}),
                        service("c", key("10.96.0.12", 80), {"10.0.0.1"})});
  r = planUpdate({}, slots, Capacity{10, 10, 4});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what, "too many backend slots: the update needs 5, the table holds 4");
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
      ASSERT_EQ(s.services.at(sk).meta.name, d.name);
    }
    ASSERT_TRUE(planUpdate(s, want)->empty()) << "round " << round << ": not converged";
  }
  k.apply(*planUpdate(k.state(), {}));
  EXPECT_EQ(k.leftovers(), 0u);
}

bool sameIndex(const StateIndex& a, const StateIndex& b) {
  return a.backendIds == b.backendIds && a.backendRefs == b.backendRefs &&
         a.serviceIds == b.serviceIds && a.slotRanges == b.slotRanges && a.members == b.members &&
         a.slotsUsed == b.slotsUsed;
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

}  // namespace
}  // namespace svcrouter
