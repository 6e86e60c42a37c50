// The reconciler: ordered map operations from current to desired state.
// Besides the plans themselves, a fake kernel replays every plan operation by
// operation and checks what a BPF reader could see at each step.
#include "userspace/reconcile.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "maps/svcrouter_maps.h"

namespace svcrouter {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

ServiceKey key(const char* vip, uint16_t port, Protocol p = Protocol::kTcp) {
  return {ip(vip), port, p};
}

DesiredService service(const char* name, ServiceKey k, std::vector<const char*> backends,
                       uint16_t backendPort = 8080) {
  DesiredService d;
  d.key = k;
  d.ns = "default";
  d.name = name;
  for (const char* b : backends)
    d.backends.push_back({{ip(b), backendPort, k.protocol}, SVCR_REASON_READY});
  std::sort(d.backends.begin(), d.backends.end());
  return d;
}

DesiredState desired(std::vector<DesiredService> services) {
  DesiredState s;
  for (auto& d : services) s.services[d.key] = d;
  return s;
}

// The kernel's maps as plain containers, with the reader's view checked.
class FakeKernel {
 public:
  // Applies the first `limit` operations of the plan (all by default). Readers
  // that looked at the table meanwhile may still hold what they read.
  void apply(const Plan& plan, size_t limit = SIZE_MAX) {
    for (size_t i = 0; i < plan.ops.size() && i < limit; ++i) {
      step(plan.ops[i]);
      checkReaders();
      if (testing::Test::HasFatalFailure()) return;
    }
  }

  // A new agent process: maps::Table waits for the readers' grace period
  // before its first write, so nothing read before the restart is held.
  void restart() { held_.clear(); }

  CurrentState state() const {
    CurrentState s;
    std::map<uint32_t, ServiceKey> byId;
    for (const auto& [k, e] : services_) {
      auto& c = s.services[k];
      c.entry = e;
      c.meta = meta_.at(e.id);
      for (uint32_t i = 0; i < e.count; ++i) c.slots.push_back(slots_.at(e.slotBase + i).backend);
      byId[e.id] = k;
    }
    for (const auto& [m, reason] : members_) {
      if (byId.contains(m.first))
        s.services[byId.at(m.first)].members[m.second] = reason;
      else
        s.strayMembers.insert(m);
    }
    for (const auto& [id, meta] : meta_)
      if (!byId.contains(id)) s.strayMetas.insert(id);
    s.backends = backends_;
    s.vips = vips_;
    return s;
  }

  // What is left once everything is deleted.
  size_t leftovers() const {
    return services_.size() + slots_.size() + members_.size() + backends_.size() + meta_.size() +
           vips_.size();
  }

 private:
  void step(const MapOp& mapOp) {
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, op::PutBackend>) backends_[o.id] = o.addr;
          if constexpr (std::is_same_v<T, op::PutMeta>) meta_[o.id] = o.meta;
          if constexpr (std::is_same_v<T, op::PutMember>)
            members_[{o.svcId, o.backendId}] = o.reason;
          if constexpr (std::is_same_v<T, op::PutSlots>)
            for (uint32_t i = 0; i < o.backends.size(); ++i)
              slots_[o.base + i] = {o.backends[i].id, o.svcId, o.gen};
          if constexpr (std::is_same_v<T, op::PutService>) services_[o.key] = o.entry;
          if constexpr (std::is_same_v<T, op::PutVip>) vips_[o.vip] = o.ports;
          if constexpr (std::is_same_v<T, op::WaitForReaders>) held_.clear();
          if constexpr (std::is_same_v<T, op::DeleteService>) services_.erase(o.key);
          if constexpr (std::is_same_v<T, op::DeleteVip>) vips_.erase(o.vip);
          if constexpr (std::is_same_v<T, op::ClearSlots>)
            for (uint32_t i = 0; i < o.count; ++i) slots_.erase(o.base + i);
          if constexpr (std::is_same_v<T, op::DeleteMember>) members_.erase({o.svcId, o.backendId});
          if constexpr (std::is_same_v<T, op::DeleteMeta>) meta_.erase(o.id);
          if constexpr (std::is_same_v<T, op::DeleteBackend>) backends_.erase(o.id);
        },
        mapOp);
  }

  // The backend ids a service value points at, as they are now.
  std::vector<uint32_t> range(const ServiceKey& k, const ServiceEntry& e) {
    std::vector<uint32_t> ids;
    for (uint32_t i = 0; i < e.count; ++i) {
      auto slot = slots_.find(e.slotBase + i);
      EXPECT_NE(slot, slots_.end()) << describe(k) << " slot " << e.slotBase + i << " is empty";
      if (slot == slots_.end()) {
        ids.push_back(0);
        continue;
      }
      // A reader checks that the slot names the entry it read (bpf/lib/lb.h).
      EXPECT_EQ(std::pair(slot->second.svc, slot->second.gen), std::pair(e.id, e.gen))
          << describe(k) << " slot " << e.slotBase + i << " belongs to another entry";
      ids.push_back(slot->second.backend);
    }
    return ids;
  }

  // A program may have looked up any service value live since the last
  // grace period and still be walking its slot range: that range must not
  // change under it, and every backend it names must exist and be a member
  // (while the value is live).
  void checkReaders() {
    for (const auto& [k, e] : services_)
      if (!held_.contains({k, e})) held_[{k, e}] = range(k, e);
    for (const auto& [h, snapshot] : held_) {
      ASSERT_EQ(range(h.key, h.entry), snapshot)
          << describe(h.key) << ": a range a reader may hold was rewritten";
      for (uint32_t id : snapshot) ASSERT_TRUE(backends_.contains(id)) << "backend " << id;
    }
    for (const auto& [k, e] : services_)
      for (uint32_t id : range(k, e))
        ASSERT_TRUE(members_.contains({e.id, id})) << describe(k) << ": " << id << " not a member";
  }

  struct Held {
    ServiceKey key;
    ServiceEntry entry;
    bool operator<(const Held& o) const {
      return std::tie(key, entry.id, entry.gen, entry.count, entry.slotBase) <
             std::tie(o.key, o.entry.id, o.entry.gen, o.entry.count, o.entry.slotBase);
    }
  };
  std::map<ServiceKey, ServiceEntry> services_;
  struct Slot {
    uint32_t backend, svc;
    uint16_t gen;
  };
  std::map<uint32_t, Slot> slots_;  // the slot array
  std::map<std::pair<uint32_t, uint32_t>, uint8_t> members_;
  std::map<uint32_t, BackendAddr> backends_;
  std::map<uint32_t, ServiceMeta> meta_;
  std::map<IpAddr, uint32_t> vips_;
  std::map<Held, std::vector<uint32_t>> held_;
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

TEST(Reconcile, NewServicePublishesSlotsBeforeTheEntry) {
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

TEST(Reconcile, SameStateIsAnEmptyPlan) {
  FakeKernel k;
  auto want = desired({service("web", key("10.96.0.10", 80), {"10.0.0.1", "10.0.0.2"}),
                       service("dns", key("10.96.0.10", 53, Protocol::kUdp), {"10.0.0.1"}, 53)});
  k.apply(*planUpdate({}, want));
  auto again = planUpdate(k.state(), want);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << testing::PrintToString(describeAll(*again));
  EXPECT_TRUE(again->changes.empty());
}

TEST(Reconcile, ChangedSetFlipsToANewGenerationThenRetiresTheOld) {
  FakeKernel k;
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

TEST(Reconcile, RemovedServiceIsUnpublishedBeforeItsPartsAreFreed) {
  FakeKernel k;
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

TEST(Reconcile, NoBackendsMeansCountZeroAndNoSlots) {
  auto plan = planUpdate({}, desired({service("web", key("10.96.0.10", 80), {})}));
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"reset service 1", "put meta 1 default/web",
                                      "put service 10.96.0.10:80/TCP id 1 count 0 gen 0 slots 0",
                                      "put vip 10.96.0.10 1"}));
}

TEST(Reconcile, SharedBackendGetsOneId) {
  FakeKernel k;
  auto a = key("10.96.0.10", 80), b = key("10.96.0.11", 80);
  k.apply(*planUpdate({}, desired({service("a", a, {"10.0.0.1"}), service("b", b, {"10.0.0.1"})})));
  auto s = k.state();
  EXPECT_EQ(s.backends.size(), 1u);
  EXPECT_EQ(s.services.at(a).slots, s.services.at(b).slots);
}

TEST(Reconcile, AffinityChangeRewritesOnlyTheEntry) {
  FakeKernel k;
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

TEST(Reconcile, IdsFreedInAPlanAreNotReusedByIt) {
  FakeKernel k;
  k.apply(*planUpdate({}, desired({service("old", key("10.96.0.10", 80), {"10.0.0.1"})})));
  auto plan = planUpdate(k.state(), desired({service("new", key("10.96.0.11", 80), {"10.0.0.2"})}));
  ASSERT_TRUE(plan);
  k.apply(*plan);
  auto s = k.state();
  EXPECT_EQ(s.services.begin()->second.entry.id, 2u);  // 1 was freed by this very plan
  EXPECT_EQ(s.backends.begin()->first, 2u);
}

TEST(Reconcile, StraysFromAnInterruptedUpdateAreDeletedAfterTheGracePeriod) {
  CurrentState cur;
  cur.strayMembers.insert({7, 9});
  cur.strayMetas.insert(7);
  auto plan = planUpdate(cur, {});
  ASSERT_TRUE(plan);
  EXPECT_EQ(describeAll(*plan),
            (std::vector<std::string>{"wait for readers", "delete member 7 9", "delete meta 7"}));
}

TEST(Reconcile, RefusesWhatDoesNotFit) {
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
TEST(Reconcile, RandomUpdatesStayConsistent) {
  std::mt19937 rng(12345);
  const char* vips[] = {"10.96.0.1", "10.96.0.2", "fd00::1"};
  const char* v4[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"};
  const char* v6[] = {"fd77::1", "fd77::2", "fd77::3"};
  FakeKernel k;
  for (int round = 0; round < 300; ++round) {
    DesiredState want;
    for (const char* vip : vips)
      for (uint16_t port : {80, 443})
        for (Protocol p : {Protocol::kTcp, Protocol::kUdp}) {
          if (rng() % 3 == 0) continue;
          std::vector<const char*> chosen;
          bool six = std::string(vip).find(':') != std::string::npos;
          for (const char* b :
               six ? std::vector<const char*>(v6, v6 + 3) : std::vector<const char*>(v4, v4 + 5))
            if (rng() % 2) chosen.push_back(b);
          auto d = service("s", key(vip, port, p), chosen, 8000 + rng() % 2);
          d.affinity = rng() % 4 == 0;
          d.affinityTimeoutSec = d.affinity ? 10 : 0;
          want.services[d.key] = d;
        }
    auto plan = planUpdate(k.state(), want);
    ASSERT_TRUE(plan) << plan.error().message();
    k.apply(*plan);  // one agent: readers may hold values across plans
    if (HasFatalFailure()) return;
    auto s = k.state();
    ASSERT_EQ(s.services.size(), want.services.size());
    for (const auto& [sk, d] : want.services) {
      std::vector<std::string> expect;
      for (const auto& b : d.backends) expect.push_back(describe(b.addr));
      ASSERT_EQ(backendsOf(s, sk), expect) << "round " << round << " " << describe(sk);
      ASSERT_EQ(s.services.at(sk).entry.affinity, d.affinity);
    }
    ASSERT_TRUE(planUpdate(s, want)->empty()) << "round " << round << ": not converged";
  }
  k.apply(*planUpdate(k.state(), {}));
  EXPECT_EQ(k.leftovers(), 0u);
}

// The agent can die between any two operations. A restarted agent plans
// from whatever the kernel holds, strays included: readers stay safe all
// along, and the table ends exactly as desired.
TEST(Reconcile, InterruptedUpdatesRecover) {
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
  FakeKernel k;
  for (int round = 0; round < 500; ++round) {
    auto want = randomState();
    auto plan = planUpdate(k.state(), want);
    ASSERT_TRUE(plan) << plan.error().message();
    k.apply(*plan, rng() % (plan->ops.size() + 1));  // killed somewhere
    if (HasFatalFailure()) return;
    k.restart();
    auto retry = planUpdate(k.state(), want);
    ASSERT_TRUE(retry) << retry.error().message();
    k.apply(*retry);
    if (HasFatalFailure()) return;
    auto s = k.state();
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
}

}  // namespace
}  // namespace svcrouter
