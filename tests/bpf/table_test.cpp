// The real KernelMaps against the model the unit tests trust
// (tests/unit/fake_kernel.h): the same plans, applied through one
// maps::Table over each, must read back as the same CurrentState. This runs
// KernelMaps' batched writes and its read-back (the slot ownership check,
// strays left by an interrupted update) in the kernel.
#include "maps/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "maps/bpf_map.h"
#include "maps/kernel_maps.h"
#include "sock_test.skel.h"
#include "tests/bpf/bpf_test.h"
#include "tests/unit/fake_kernel.h"
#include "userspace/core/planner.h"

namespace svcrouter::bpftest {
namespace {

// Every field of a state, one line each, in a stable order: two states are
// equal when their lines are, and a difference reads as text.
std::vector<std::string> lines(const CurrentState& s) {
  std::vector<std::string> out;
  for (const auto& [k, c] : s.services) {
    const auto& e = c.entry;
    std::string line = "service " + describe(k) + " id " + std::to_string(e.id) + " count " +
                       std::to_string(e.count) + " gen " + std::to_string(e.gen) + " affinity " +
                       std::to_string(e.affinity) + " timeout " +
                       std::to_string(e.affinityTimeoutSec) + " base " +
                       std::to_string(e.slotBase) + " meta " + describe(c.meta) + " policy " +
                       std::to_string(static_cast<int>(c.meta.policy)) + " slots";
    for (uint32_t id : c.slots) line += " " + std::to_string(id);
    line += " members";
    for (const auto& [id, reason] : c.members)
      line += " " + std::to_string(id) + ":" + std::to_string(reason);
    out.push_back(line);
  }
  for (const auto& [id, b] : s.backends)
    out.push_back("backend " + std::to_string(id) + " " + describe(b) + "/" +
                  std::string(protocolName(b.protocol)));
  for (const auto& [vip, n] : s.vips) out.push_back("vip " + vip.str() + " " + std::to_string(n));
  for (const auto& [svc, be] : s.strayMembers)
    out.push_back("stray member " + std::to_string(svc) + " " + std::to_string(be));
  for (uint32_t id : s.strayMetas) out.push_back("stray meta " + std::to_string(id));
  return out;
}

// What differs between the kernel's and the model's state, a line each:
// "kernel: ..." for a line only the kernel has, "model: ..." for the other
// way; empty when they hold the same.
std::string difference(const CurrentState& kernel, const CurrentState& model) {
  auto k = lines(kernel), m = lines(model);
  std::ranges::sort(k);
  std::ranges::sort(m);
  std::vector<std::string> onlyK, onlyM;
  std::ranges::set_difference(k, m, std::back_inserter(onlyK));
  std::ranges::set_difference(m, k, std::back_inserter(onlyM));
  std::string out;
  for (const auto& l : onlyK) out += "kernel: " + l + "\n";
  for (const auto& l : onlyM) out += "model:  " + l + "\n";
  return out;
}

TEST(KernelMaps, ReadsBackWhatTheModelHolds) {
  SkeletonPtr<sock_test, sock_test__destroy> skel(sock_test__open_and_load());
  ASSERT_TRUE(skel) << "load sock_test: " << strerror(errno);
  auto kernel = must(maps::KernelMaps::fromSkeleton(*skel, ""));
  fakes::FakeKernel model;
  std::optional<maps::Table> real(std::in_place, *kernel), fake(std::in_place, model);

  std::mt19937 rng(4242);
  int interrupted = 0;
  for (int round = 0; round < 100; ++round) {
    auto want = builders::randomDesired(rng);
    auto plan = planUpdate(must(real->read()), want);
    ASSERT_TRUE(plan) << plan.error().message();
    // Now and then the agent dies partway: both tables get the same prefix,
    // then a new agent (a new Table) plans again from what it reads back.
    if (rng() % 4 == 0 && plan->ops.size() > 1) {
      Plan prefix;
      prefix.ops.assign(plan->ops.begin(), plan->ops.begin() + rng() % plan->ops.size());
      ASSERT_TRUE(real->apply(prefix)) << "round " << round;
      ASSERT_TRUE(fake->apply(prefix)) << "round " << round;
      ASSERT_EQ(difference(must(real->read()), must(fake->read())), "")
          << "round " << round << ", interrupted";
      real.emplace(*kernel);
      fake.emplace(model);
      ++interrupted;
      plan = planUpdate(must(real->read()), want);
      ASSERT_TRUE(plan) << plan.error().message();
    }
    auto applied = real->apply(*plan);
    ASSERT_TRUE(applied) << "round " << round << ": " << applied.error().message();
    ASSERT_TRUE(fake->apply(*plan)) << "round " << round;
    auto state = must(real->read());
    ASSERT_EQ(difference(state, must(fake->read())), "") << "round " << round;
    ASSERT_TRUE(model.violations().empty()) << model.violations().front();
    ASSERT_TRUE(must(planUpdate(state, want)).empty()) << "round " << round << ": not converged";
  }
  EXPECT_GT(interrupted, 10);
  // Everything deleted: nothing left in the kernel either.
  must(real->apply(must(planUpdate(must(real->read()), {}))));
  EXPECT_EQ(lines(must(real->read())), std::vector<std::string>{});
}

// Counters are per CPU in the kernel and summed by the table: every field,
// the packet path's packets and bytes included.
TEST(KernelMaps, CountersAreSummedOverCpus) {
  SkeletonPtr<sock_test, sock_test__destroy> skel(sock_test__open_and_load());
  ASSERT_TRUE(skel) << "load sock_test: " << strerror(errno);
  auto kernel = must(maps::KernelMaps::fromSkeleton(*skel, ""));
  maps::Table table(*kernel);
  auto svcStats = must(maps::PerCpuArray<svcr_svc_stats>::from(skel->maps.svcr_svc_stats));
  auto beStats = must(maps::PerCpuArray<svcr_backend_stats>::from(skel->maps.svcr_be_stats));
  must(svcStats.fill(7, {.connections = 1, .refused = 2, .packets = 3, .bytes = 4}));
  must(beStats.fill(9, {.connections = 5, .packets = 6, .bytes = 7}));
  const uint64_t cpus = maps::possibleCpus();
  auto s = must(table.serviceCounters(7));
  EXPECT_EQ(s.connections, cpus);
  EXPECT_EQ(s.refused, 2 * cpus);
  EXPECT_EQ(s.packets, 3 * cpus);
  EXPECT_EQ(s.bytes, 4 * cpus);
  auto b = must(table.backendCounters(9));
  EXPECT_EQ(b.connections, 5 * cpus);
  EXPECT_EQ(b.packets, 6 * cpus);
  EXPECT_EQ(b.bytes, 7 * cpus);
}

}  // namespace
}  // namespace svcrouter::bpftest
