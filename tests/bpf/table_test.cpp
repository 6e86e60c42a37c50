// The real KernelMaps against the model the unit tests trust
// (tests/unit/fake_kernel.h): the same plans, applied through one
// maps::Table over each, must read back as the same CurrentState. This runs
// KernelMaps' batched writes and its read-back (the slot ownership check,
// strays left by an interrupted update) in the kernel.
#include "maps/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "maps/bpf_map.h"
#include "maps/kernel_maps.h"
#include "sock_test.skel.h"
#include "tests/bpf/bpf_test.h"
#include "tests/support/builders.h"
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
                       std::to_string(e.affinityTimeoutSec) + " ranges " +
                       std::to_string(e.sourceRanges) + " drop " + std::to_string(e.dropEmpty) +
                       " base " + std::to_string(e.slotBase) + " meta " + describe(c.meta) +
                       " policy " + std::to_string(static_cast<int>(c.meta.policy)) + " slots";
    for (uint32_t id : c.slots) line += " " + std::to_string(id);
    line += " members";
    for (const auto& [id, reason] : c.members)
      line += " " + std::to_string(id) + ":" + std::to_string(reason);
    line += " source ranges";
    for (const auto& range : c.sourceRanges) line += " " + describe(range);
    out.push_back(line);
  }
  for (const auto& [id, b] : s.backends)
    out.push_back("backend " + std::to_string(id) + " " + describe(b) + "/" +
                  std::string(protocolName(b.protocol)));
  for (const auto& [vip, n] : s.vips) out.push_back("vip " + vip.str() + " " + std::to_string(n));
  for (const auto& [svc, be] : s.strayMembers)
    out.push_back("stray member " + std::to_string(svc) + " " + std::to_string(be));
  for (uint32_t id : s.strayMetas) out.push_back("stray meta " + std::to_string(id));
  for (const auto& [svc, range] : s.straySourceRanges)
    out.push_back("stray source range " + std::to_string(svc) + " " + describe(range));
  for (const auto& [port, bits] : s.portMarks)
    out.push_back("port " + std::to_string(port) + " " + portMarkNames(bits));
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
  // Everything deleted: nothing left in the kernel either, but the port
  // marks (plans only add them: the conntrack sweeper clears them).
  must(real->apply(must(planUpdate(must(real->read()), {}))));
  auto left = must(real->read());
  EXPECT_FALSE(left.portMarks.empty());
  left.portMarks.clear();
  EXPECT_EQ(lines(left), std::vector<std::string>{});
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

// Maps created empty by this process skip the resets of counters of ids
// never handed out, and only those: a reused id is reset, and so is every
// id once another writer has been there.
TEST(KernelMaps, CreatedEmptyResetsOnlyIdsHandedOutBefore) {
  SkeletonPtr<sock_test, sock_test__destroy> skel(sock_test__open_and_load());
  ASSERT_TRUE(skel) << "load sock_test: " << strerror(errno);
  auto kernel = must(maps::KernelMaps::fromSkeleton(*skel, ""));
  kernel->createdEmpty();
  maps::Table table(*kernel);
  auto svcStats = must(maps::PerCpuArray<svcr_svc_stats>::from(skel->maps.svcr_svc_stats));
  auto beStats = must(maps::PerCpuArray<svcr_backend_stats>::from(skel->maps.svcr_be_stats));
  auto update = [&](const DesiredState& want) {
    must(table.apply(must(planUpdate(must(table.read()), want))));
  };
  auto counted = [&](uint32_t svc, uint32_t backend) {
    must(svcStats.fill(svc, {.connections = 1}));
    must(beStats.fill(backend, {.connections = 1}));
  };
  update(builders::desired({builders::service("a", builders::key("10.96.0.10", 80), {"10.0.0.1"})}));
  ASSERT_EQ(must(table.read()).backends.begin()->first, 1u);
  counted(1, 1);  // traffic
  update({});     // both ids retired
  update(builders::desired({builders::service("b", builders::key("10.96.0.11", 80), {"10.0.0.2"})}));
  auto state = must(table.read());
  ASSERT_EQ(state.services.begin()->second.entry.id, 1u);  // reused
  ASSERT_EQ(state.backends.begin()->first, 1u);
  EXPECT_EQ(must(table.serviceCounters(1)).connections, 0u);
  EXPECT_EQ(must(table.backendCounters(1)).connections, 0u);

  // Another writer handed out id 2 (and readers counted on it), then
  // retired it: the next one to take id 2 resets it.
  counted(2, 2);
  auto epoch = must(maps::TypedMap<uint32_t, uint64_t>::from(skel->maps.svcr_epoch));
  must(epoch.update(0, must(kernel->epoch()) + 2));
  update(builders::desired({builders::service("b", builders::key("10.96.0.11", 80), {"10.0.0.2"}),
                            builders::service("c", builders::key("10.96.0.12", 80), {"10.0.0.3"})}));
  EXPECT_EQ(must(table.serviceCounters(2)).connections, 0u);
  EXPECT_EQ(must(table.backendCounters(2)).connections, 0u);
}

// loadBalancerSourceRanges and port marks in the real maps: svcr_src_ranges
// matches a client as the packet path will look it up (entry id, then the
// client's 16-byte address), svcr_ports holds the marks by port, and both
// read back into a state that plans nothing, strays included.
TEST(KernelMaps, SourceRangesAndPortMarks) {
  SkeletonPtr<sock_test, sock_test__destroy> skel(sock_test__open_and_load());
  ASSERT_TRUE(skel) << "load sock_test: " << strerror(errno);
  auto kernel = must(maps::KernelMaps::fromSkeleton(*skel, ""));
  auto ranges =
      must((maps::TypedMap<svcr_src_range_key, uint32_t>::from(skel->maps.svcr_src_ranges)));
  auto ports = must((maps::TypedMap<uint32_t, svcr_port>::from(skel->maps.svcr_ports)));
  using builders::cidr;
  using builders::ip;
  auto v4 = builders::service(
      "lb", builders::key("203.0.113.9", 80, Protocol::kTcp, Scope::kExternal), {"10.0.0.1"}, 8080);
  v4.sourceRanges = {cidr("10.0.0.0/8"), cidr("192.168.1.0/24")};
  auto v6 = builders::service(
      "lb", builders::key("2001:db8::9", 443, Protocol::kTcp, Scope::kExternal), {"fd77::1"}, 8443);
  v6.sourceRanges = {cidr("2001:db8:1::/48")};
  auto empty = builders::service(
      "lb", builders::key("198.51.100.7", 80, Protocol::kUdp, Scope::kExternal), {});
  empty.dropWhenEmpty = true;
  auto want = builders::desired({v4, v6, empty});
  maps::Table table(*kernel);
  must(table.apply(must(planUpdate(must(table.read()), want))));
  auto state = must(kernel->read());
  auto idOf = [&](const DesiredService& d) { return state.services.at(d.key).entry.id; };

  // What the packet path will look up: the client's full address.
  auto allowed = [&](uint32_t id, const char* client) {
    svcr_src_range_key k{};
    k.prefixlen = 32 + 128;
    k.svc_id = id;
    k.addr = maps::toKernel(ip(client));
    return must(ranges.lookup(k)).has_value();
  };
  EXPECT_TRUE(allowed(idOf(v4), "10.1.2.3"));
  EXPECT_TRUE(allowed(idOf(v4), "192.168.1.200"));
  EXPECT_FALSE(allowed(idOf(v4), "192.168.2.1"));
  EXPECT_FALSE(allowed(idOf(v4), "2001:db8:1::5"));
  EXPECT_TRUE(allowed(idOf(v6), "2001:db8:1::5"));
  EXPECT_FALSE(allowed(idOf(v6), "2001:db8:2::5"));
  EXPECT_FALSE(allowed(idOf(v6), "10.1.2.3"));
  EXPECT_FALSE(allowed(idOf(empty), "10.1.2.3"));

  auto flags = [&](uint32_t port) { return must(ports.lookup(port)).value_or(svcr_port{}).flags; };
  EXPECT_EQ(flags(80), SVCR_PORT_F_FRONTEND);
  EXPECT_EQ(flags(443), SVCR_PORT_F_FRONTEND);
  EXPECT_EQ(flags(8080), SVCR_PORT_F_BACKEND);
  EXPECT_EQ(flags(8443), SVCR_PORT_F_BACKEND);
  EXPECT_EQ(flags(8081), 0u);

  EXPECT_EQ(state.services.at(v4.key).sourceRanges, v4.sourceRanges);
  EXPECT_EQ(state.services.at(v6.key).sourceRanges, v6.sourceRanges);
  EXPECT_TRUE(state.services.at(v4.key).entry.sourceRanges);
  EXPECT_FALSE(state.services.at(empty.key).entry.sourceRanges);
  EXPECT_TRUE(state.services.at(empty.key).entry.dropEmpty);
  EXPECT_EQ(state.portMarks, (std::map<uint16_t, uint32_t>{{80, SVCR_PORT_F_FRONTEND},
                                                           {443, SVCR_PORT_F_FRONTEND},
                                                           {8080, SVCR_PORT_F_BACKEND},
                                                           {8443, SVCR_PORT_F_BACKEND}}));
  // A restarted agent reads the same and plans nothing.
  maps::Table restarted(*kernel);
  EXPECT_TRUE(must(planUpdate(must(restarted.read()), want)).empty());

  // A range of an entry that is gone (an interrupted update): a stray, deleted.
  must(ranges.update(maps::toKernel(4000, cidr("172.16.0.0/12")), 1));
  state = must(kernel->read());
  EXPECT_EQ(state.straySourceRanges,
            (std::set<std::pair<uint32_t, IpCidr>>{{4000, cidr("172.16.0.0/12")}}));
  must(restarted.apply(must(planUpdate(state, want))));
  EXPECT_TRUE(must(kernel->read()).straySourceRanges.empty());

  // Everything gone: no range left, the marks stay (the sweeper's to clear).
  must(restarted.apply(must(planUpdate(must(restarted.read()), {}))));
  EXPECT_TRUE(must(ranges.entries()).empty());
  EXPECT_EQ(flags(8080), SVCR_PORT_F_BACKEND);
}

}  // namespace
}  // namespace svcrouter::bpftest
