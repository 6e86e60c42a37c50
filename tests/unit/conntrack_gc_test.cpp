// The conntrack sweep as the agent and `conntrack --gc` run it
// (userspace/core/conntrack_gc.h): which port marks the table needs, and
// the sweep under the table's writer lock. The kernel's side, on real maps,
// is tests/bpf/conntrack_test.cpp.
#include "userspace/core/conntrack_gc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "maps/layout/service.h"
#include "tests/support/builders.h"
#include "tests/unit/fake_kernel.h"
#include "userspace/core/reconciler.h"

namespace svcrouter {
namespace {

using builders::desired;
using builders::key;
using builders::service;
using fakes::FakeKernel;

constexpr uint32_t F = SVCR_PORT_F_FRONTEND, B = SVCR_PORT_F_BACKEND;

// Records what it was told and whether the writer lock was held.
class RecordingGc final : public maps::ConntrackGc {
 public:
  explicit RecordingGc(const FakeKernel& kernel) : kernel_(kernel) {}
  Result<std::optional<maps::SweepReport>> sweep(const maps::PortMarks& wanted) override {
    ++sweeps;
    this->wanted = wanted;
    lockHeld = kernel_.writerLockHeld();
    return maps::SweepReport{.scanned = 3, .deleted = 1, .entries = 2, .portsCleared = 0};
  }
  int sweeps = 0;
  maps::PortMarks wanted;
  bool lockHeld = false;

 private:
  const FakeKernel& kernel_;
};

// A NodePort's two scopes, a UDP one, and a ClusterIP: only the external
// entries' ports and their backends' are marked.
DesiredState table() {
  return desired({
      service("np-node", key("10.77.0.5", 30080, Protocol::kTcp, Scope::kNode), {"10.0.0.1"}, 8080),
      service("np-ext", key("10.77.0.5", 30080, Protocol::kTcp, Scope::kExternal),
              {"10.0.0.1", "10.0.0.2"}, 8080),
      service("dns-ext", key("10.77.0.5", 30053, Protocol::kUdp, Scope::kExternal), {"10.0.0.3"},
              5353),
      service("cluster", key("10.96.0.10", 80), {"10.0.0.4"}, 9090),
      service("empty-ext", key("10.77.0.5", 30090, Protocol::kTcp, Scope::kExternal), {}, 7070),
  });
}

TEST(ConntrackGc, WantedPortMarksAreTheExternalEntriesAndTheirBackends) {
  FakeKernel kernel;
  maps::Table t(kernel);
  ASSERT_TRUE(reconcile(t, table()));
  auto lock = t.lock(maps::LockMode::kShared);
  auto state = t.view();
  ASSERT_TRUE(state);
  EXPECT_EQ(wantedPortMarks(**state),
            (maps::PortMarks{{30080, F}, {8080, B}, {30053, F}, {5353, B}, {30090, F}}));
}

TEST(ConntrackGc, SweepsUnderTheWriterLockWithTheMarksTheTableNeeds) {
  FakeKernel kernel;
  maps::Table t(kernel);
  ASSERT_TRUE(reconcile(t, table()));
  kernel.checkLocks();
  RecordingGc gc(kernel);
  auto swept = sweepConntrack(t, gc);
  ASSERT_TRUE(swept) << swept.error().message();
  ASSERT_TRUE(*swept);
  EXPECT_EQ((*swept)->deleted, 1u);
  EXPECT_EQ(gc.sweeps, 1);
  EXPECT_TRUE(gc.lockHeld);
  EXPECT_FALSE(kernel.writerLockHeld()) << "released after the sweep";
  EXPECT_EQ(gc.wanted.at(30080), F);
  EXPECT_EQ(gc.wanted.at(5353), B);
  EXPECT_THAT(kernel.violations(), ::testing::IsEmpty());
}

// A sweep that clears marks the table no longer needs: an agent that keeps
// the table's state in memory must see it (the epoch moved), or it would
// not set a mark again when an entry needs it again. A sweep that clears
// none leaves the epoch as it was: nobody reads the whole table for it.
TEST(ConntrackGc, ClearedMarksAreReadAgainByTablesThatKeepTheState) {
  class ClearingGc final : public maps::ConntrackGc {
   public:
    explicit ClearingGc(FakeKernel& kernel) : kernel_(kernel) {}
    Result<std::optional<maps::SweepReport>> sweep(const maps::PortMarks& wanted) override {
      uint64_t cleared = 0;
      for (auto [port, bits] : kernel_.portMarks())
        if (!wanted.contains(port)) {
          kernel_.clearPortMarks(port);
          ++cleared;
          break;  // the map changes under the loop
        }
      return maps::SweepReport{.portsCleared = cleared};
    }

   private:
    FakeKernel& kernel_;
  };
  FakeKernel kernel;
  maps::Table agent(kernel);
  auto ext = [](uint16_t backendPort) {
    return desired({service("np-ext", key("10.77.0.5", 30080, Protocol::kTcp, Scope::kExternal),
                            {"10.0.0.1"}, backendPort)});
  };
  ASSERT_TRUE(reconcile(agent, ext(8080)));
  ASSERT_TRUE(reconcile(agent, ext(9090)));  // 8080 stays marked until a sweep
  ASSERT_TRUE(kernel.portMarks().contains(8080));
  ClearingGc gc(kernel);
  uint64_t before = *kernel.epoch();
  ASSERT_TRUE(sweepConntrack(agent, gc));
  EXPECT_FALSE(kernel.portMarks().contains(8080));
  EXPECT_NE(*kernel.epoch(), before);
  before = *kernel.epoch();
  ASSERT_TRUE(sweepConntrack(agent, gc));  // nothing left to clear
  EXPECT_EQ(*kernel.epoch(), before);
  // The backend port is used again: marked again.
  ASSERT_TRUE(reconcile(agent, ext(8080)));
  EXPECT_EQ(kernel.portMarks().at(8080), B);
  EXPECT_THAT(kernel.violations(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace svcrouter
