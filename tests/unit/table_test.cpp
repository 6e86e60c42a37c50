// maps::Table: how it executes plans against the kernel (here a model of it,
// fake_kernel.h): runs of one kind as one write, and the waits for readers
// that adoption and failures make necessary, beyond those the plan asks for.
#include "maps/table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/builders.h"
#include "tests/unit/fake_kernel.h"
#include "tests/unit/faulty_maps.h"
#include "userspace/core/planner.h"

namespace svcrouter {
namespace {

using fakes::FakeKernel;
using fakes::FaultyMaps;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

ServiceKey key(const char* vip) { return builders::key(vip, 80); }

// Services on port 80, each VIP with its backends.
DesiredState desired(const std::map<const char*, std::vector<const char*>>& services) {
  std::vector<DesiredService> all;
  for (const auto& [vip, backends] : services)
    all.push_back(builders::service("svc", key(vip), backends));
  return builders::desired(all);
}

// Everything a state holds, as text, to compare two of them.
std::string describeState(const CurrentState& s) {
  std::string out;
  for (const auto& [k, c] : s.services) {
    out += describe(c.meta, k) + " id " + std::to_string(c.entry.id) + " gen " +
           std::to_string(c.entry.gen) + " base " + std::to_string(c.entry.slotBase) + " [";
    for (uint32_t id : c.slots) out += std::to_string(id) + " ";
    out += "] members";
    for (const auto& [id, reason] : c.members) out += " " + std::to_string(id);
    out += "\n";
  }
  for (const auto& [id, addr] : s.backends) out += std::to_string(id) + "=" + describe(addr) + " ";
  for (const auto& [vip, n] : s.vips) out += vip.str() + "#" + std::to_string(n) + " ";
  return out;
}

// Plans `want` from what `table` reads and applies it.
// Plans from the table's own view, as the reconciler does, so that the
// table can keep its state up to date with the plan's delta.
Result<void> update(maps::Table& table, const DesiredState& want) {
  SVCR_ASSIGN_OR_RETURN(auto current, table.view());
  SVCR_ASSIGN_OR_RETURN(auto plan, planUpdate(*current, want));
  current.reset();
  return table.apply(plan);
}

// An agent changes web's backends and dies right after the flip, before
// the grace period that would let it clear the retired range [0, 2): a
// reader may still walk that range. Returns the kernel as it is left.
void agentDiesAfterTheFlip(FakeKernel& fake) {
  FaultyMaps faulty(fake);
  maps::Table first(faulty);
  ASSERT_TRUE(update(first, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2"}}})));
  auto plan = planUpdate(*first.read(), desired({{"10.96.0.10", {"10.0.0.3", "10.0.0.4"}}}));
  ASSERT_TRUE(plan);
  size_t flip = 0;
  while (!std::holds_alternative<op::PutService>(plan->ops[flip])) ++flip;
  faulty.dieAfter(flip + 1);
  ASSERT_FALSE(first.apply(*plan));
  auto state = *fake.read();
  ASSERT_EQ(state.services.at(key("10.96.0.10")).entry.slotBase, 2u);  // flipped
}

// What a new agent does first: add a service, whose two slots the planner
// puts in the range that looks free, [0, 2).
const DesiredState kWithApi =
    desired({{"10.96.0.10", {"10.0.0.3", "10.0.0.4"}}, {"10.96.0.11", {"10.0.0.5", "10.0.0.6"}}});

TEST(Table, AdoptedTableWaitsForReadersBeforeItsFirstWrite) {
  FakeKernel fake;
  agentDiesAfterTheFlip(fake);
  ASSERT_THAT(fake.violations(), IsEmpty());
  fake.clearLog();
  maps::Table restarted(fake);
  ASSERT_TRUE(update(restarted, kWithApi));
  EXPECT_EQ(fake.log().front(), "wait");
  EXPECT_THAT(fake.log(), ::testing::Contains("write put slots 0 [5 6]"));  // the reused range
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// The model catches a table that does not really wait: the same story with
// a barrier that returns at once rewrites a range a reader may hold.
TEST(Table, ABarrierThatDoesNotWaitIsCaught) {
  FakeKernel fake;
  agentDiesAfterTheFlip(fake);
  fake.breakBarrier();
  maps::Table restarted(fake);
  ASSERT_TRUE(update(restarted, kWithApi));
  EXPECT_THAT(fake.violations(),
              Not(IsEmpty()));  // "10.96.0.10:80/TCP: a range a reader may hold was rewritten"
  EXPECT_THAT(fake.violations().front(), HasSubstr("a range a reader may hold was rewritten"));
}

TEST(Table, AfterAFailedApplyTheNextWaitsFirst) {
  FakeKernel fake;
  FaultyMaps faulty(fake);
  maps::Table table(faulty);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2"}}})));
  // The plan's own wait fails: the old range is retired but not yet safe.
  faulty.failWaitAt(1);
  auto r = update(table, desired({{"10.96.0.10", {"10.0.0.3", "10.0.0.4"}}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "injected wait failure (while applying: wait for readers): Interrupted system call");
  fake.clearLog();
  ASSERT_TRUE(update(table, kWithApi));
  EXPECT_EQ(fake.log().front(), "wait");
  EXPECT_THAT(fake.violations(), IsEmpty());
}

TEST(Table, SettledTableWaitsOnlyWhereThePlanSays) {
  FakeKernel fake;
  maps::Table table(fake);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1"}}})));
  EXPECT_EQ(fake.waits(), 1u);  // adoption of the empty table
  // Adding touches nothing a reader may hold: no wait (each costs a grace period).
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1"}}, {"10.96.0.11", {"10.0.0.2"}}})));
  EXPECT_EQ(fake.waits(), 1u);
  // Removing retires what readers may hold: the plan's one wait.
  ASSERT_TRUE(update(table, desired({{"10.96.0.11", {"10.0.0.2"}}})));
  EXPECT_EQ(fake.waits(), 2u);
  EXPECT_THAT(fake.violations(), IsEmpty());
}

TEST(Table, EachRunOfOneKindIsOneWrite) {
  FakeKernel fake;
  maps::Table table(fake);
  auto plan = planUpdate({}, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
                                      {"10.96.0.11", {"10.0.0.4"}}}));
  ASSERT_TRUE(plan);
  size_t kinds = 1;
  for (size_t i = 1; i < plan->ops.size(); ++i)
    kinds += plan->ops[i].index() != plan->ops[i - 1].index();
  ASSERT_TRUE(table.apply(*plan));
  EXPECT_EQ(fake.runs(), kinds);
  EXPECT_LT(kinds, plan->ops.size() / 2);  // batching is worth it
}

TEST(Table, ErrorNamesTheOperationAndItsRun) {
  FakeKernel fake;
  FaultyMaps faulty(fake);
  maps::Table table(faulty);
  faulty.failWriteAt(2);  // inside the first run: reset backend stats 1, 2, 3
  auto r = update(table, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2", "10.0.0.3"}}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what,
            "injected write failure (while applying: reset backend stats 1 and 2 more of its "
            "kind)");
  EXPECT_EQ(r.error().err, EIO);
}

// The table keeps what it wrote: the kernel is read back only the first
// time, after another writer, and after a failure; and what it keeps is
// what the kernel holds.
TEST(Table, KeepsItsViewOfTheKernelUntilSomebodyElseWrites) {
  FakeKernel fake;
  FaultyMaps faulty(fake);
  maps::Table table(faulty);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2"}}})));
  EXPECT_EQ(fake.reads(), 1u);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.2"}}, {"10.96.0.11", {"10.0.0.3"}}})));
  EXPECT_EQ(fake.reads(), 1u);
  auto kept = table.read();
  ASSERT_TRUE(kept);
  auto real = fake.read();
  EXPECT_EQ(describeState(*kept), describeState(*real));
  fake.touchEpoch();  // another process applied something
  ASSERT_TRUE(table.read());
  EXPECT_EQ(fake.reads(), 3u);  // ours above, and the table's
  faulty.failWriteAt(1);
  ASSERT_FALSE(update(table, desired({{"10.96.0.12", {"10.0.0.4"}}})));
  ASSERT_TRUE(table.read());
  EXPECT_EQ(fake.reads(), 4u);
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// A table that keeps no state (a one-shot writer) applies the same plans
// and reads the kernel whenever it is asked for the state.
TEST(Table, WithoutKeptStateEveryViewReadsTheKernel) {
  FakeKernel fake;
  maps::Table table(fake);
  table.keepState(false);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2"}}})));
  EXPECT_EQ(fake.reads(), 1u);
  EXPECT_FALSE(table.keepsOwnState());
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.2"}}, {"10.96.0.11", {"10.0.0.3"}}})));
  EXPECT_EQ(fake.reads(), 2u);
  auto state = table.read();
  ASSERT_TRUE(state);
  EXPECT_EQ(fake.reads(), 3u);
  EXPECT_EQ(describeState(*state), describeState(*fake.read()));
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// `published` comes once the flips are done and before the grace period.
TEST(Table, PublishedBeforeTheGracePeriod) {
  FakeKernel fake;
  maps::Table table(fake);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1"}}})));
  auto plan = planUpdate(*table.read(), desired({{"10.96.0.10", {"10.0.0.2"}}}));
  ASSERT_TRUE(plan);
  fake.clearLog();
  std::vector<std::string> seen;
  ASSERT_TRUE(table.apply(*plan, [&] { seen = fake.log(); }));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), "write put service 10.96.0.10:80/TCP id 1 count 1 gen 1 slots 1");
  EXPECT_EQ(fake.log()[seen.size()], "wait");
}

// Deferred reclamation: apply() returns at the flips, with no wait; the
// retired range is still there (a reader may walk it) until reclaim(),
// which waits and then clears it. The kept state is already the final one.
TEST(Table, DeferredReclaimPublishesWithoutWaiting) {
  FakeKernel fake;
  maps::Table table(fake);
  table.deferReclaim(true);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1"}}})));
  ASSERT_TRUE(table.reclaim());
  size_t waits = fake.waits();
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.2"}}})));
  EXPECT_EQ(fake.waits(), waits);  // published, nothing waited for
  EXPECT_TRUE(table.reclaimPending());
  auto kernel = *fake.read();
  EXPECT_EQ(kernel.backends.size(), 2u);  // the old backend is not deleted yet
  EXPECT_EQ(kernel.services.at(key("10.96.0.10")).slots.size(), 1u);
  size_t reads = fake.reads();
  auto kept = table.view();
  ASSERT_TRUE(kept);
  EXPECT_EQ((*kept)->backends.size(), 1u);  // the state once reclaimed
  kept->reset();
  EXPECT_EQ(fake.reads(), reads);  // a pending reclamation is not a reason to read
  ASSERT_TRUE(table.reclaim());
  EXPECT_EQ(fake.waits(), waits + 1);
  EXPECT_FALSE(table.reclaimPending());
  EXPECT_EQ(describeState(*table.read()), describeState(*fake.read()));
  EXPECT_EQ(fake.reads(), reads + 1);  // the test's own; the table kept its state
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// The next plan reclaims first: nothing it writes can land in a range
// retired by the one before until that one's grace period is over.
TEST(Table, DeferredReclaimIsFinishedBeforeTheNextPlanWrites) {
  FakeKernel fake;
  maps::Table table(fake);
  table.deferReclaim(true);
  for (const char* b : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) {
    fake.clearLog();
    bool pending = table.reclaimPending();
    ASSERT_TRUE(update(table, desired({{"10.96.0.10", {b}}, {"10.96.0.11", {b}}})));
    ASSERT_FALSE(fake.log().empty());
    if (pending) {
      ASSERT_EQ(fake.log().front(), "wait") << b;
    }
    ASSERT_THAT(fake.violations(), IsEmpty()) << b;
  }
  EXPECT_TRUE(table.reclaimPending());
  ASSERT_TRUE(update(table, {}));
  ASSERT_TRUE(table.reclaim());
  EXPECT_EQ(fake.leftovers(), 0u);
  EXPECT_THAT(fake.violations(), IsEmpty());
}

// Another writer between a plan and its reclamation: it read the kernel,
// strays and all, and waited for readers before writing; the pending
// deletions are dropped (they might hit what it wrote), and this table
// reads the kernel again and waits before its next write.
TEST(Table, AnotherWriterBeforeTheReclamationTakesItOver) {
  FakeKernel fake;
  maps::Table agent(fake);
  agent.deferReclaim(true);
  ASSERT_TRUE(update(agent, desired({{"10.96.0.10", {"10.0.0.1", "10.0.0.2"}}})));
  ASSERT_TRUE(update(agent, desired({{"10.96.0.10", {"10.0.0.3"}}})));
  ASSERT_TRUE(agent.reclaimPending());
  maps::Table other(fake);  // `svcrouter apply`, say
  ASSERT_TRUE(update(other, desired({{"10.96.0.10", {"10.0.0.4"}}, {"10.96.0.11", {"10.0.0.5"}}})));
  ASSERT_TRUE(agent.reclaim());
  EXPECT_THAT(fake.violations(), IsEmpty());
  EXPECT_EQ(describeState(*agent.read()), describeState(*fake.read()));
  ASSERT_TRUE(update(agent, desired({{"10.96.0.11", {"10.0.0.6"}}})));
  EXPECT_THAT(fake.violations(), IsEmpty());
  ASSERT_TRUE(agent.reclaim());
  // The dropped deletions were of things the other writer's plan found
  // unused and deleted itself; what is left is as desired (the content of
  // ranges no entry points at aside: free by definition).
  auto kernel = *fake.read();
  EXPECT_TRUE(planUpdate(kernel, desired({{"10.96.0.11", {"10.0.0.6"}}}))->empty());
  EXPECT_EQ(kernel.backends.size(), 1u);
  EXPECT_THAT(kernel.strayMembers, IsEmpty());
  EXPECT_THAT(kernel.strayMetas, IsEmpty());
}

// A plan made from a state the table does not keep (a copy, say) does not
// touch the kept one: the kernel is read back instead.
TEST(Table, ADeltaAppliesOnlyToTheStateItWasPlannedFrom) {
  FakeKernel fake;
  maps::Table table(fake);
  ASSERT_TRUE(update(table, desired({{"10.96.0.10", {"10.0.0.1"}}})));
  auto copy = *table.read();
  auto plan = planUpdate(copy, desired({{"10.96.0.10", {"10.0.0.2"}}}));
  ASSERT_TRUE(plan);
  size_t reads = fake.reads();
  ASSERT_TRUE(table.apply(*plan));
  auto after = table.read();
  ASSERT_TRUE(after);
  EXPECT_EQ(fake.reads(), reads + 1);
  EXPECT_EQ(describeState(*after), describeState(*fake.read()));
}

TEST(Table, EmptyPlanTouchesNothing) {
  FakeKernel fake;
  maps::Table table(fake);
  ASSERT_TRUE(table.apply(Plan{}));
  EXPECT_THAT(fake.log(), IsEmpty());
}

TEST(Table, CountersAndLockComeFromTheMaps) {
  FakeKernel fake;
  fake.count(7, {.connections = 5, .refused = 2, .packets = 40, .bytes = 6000});
  fake.countBackend(3, {.connections = 9, .packets = 30, .bytes = 4500});
  maps::Table table(fake);
  EXPECT_EQ(table.serviceCounters(7)->connections, 5u);
  EXPECT_EQ(table.serviceCounters(7)->refused, 2u);
  EXPECT_EQ(table.serviceCounters(7)->packets, 40u);
  EXPECT_EQ(table.serviceCounters(7)->bytes, 6000u);
  EXPECT_EQ(*table.backendConnections(3), 9u);
  EXPECT_EQ(table.backendCounters(3)->packets, 30u);
  EXPECT_EQ(table.backendCounters(3)->bytes, 4500u);
  EXPECT_TRUE(table.lock(maps::LockMode::kShared));
  EXPECT_EQ(fake.locks(), 1u);
  EXPECT_THAT(fake.log(), ElementsAre());
}

}  // namespace
}  // namespace svcrouter
