// The conntrack sweep (maps/conntrack.h) on real maps of the packet path's
// layouts, made in this process (nothing attached or pinned): which entries
// it deletes by the one timeout rule (svcr_ct_expired), walked in batches
// and by key; reading every entry; the port marks it clears; and how long a
// full map takes.
#include "maps/conntrack.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <bitset>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "maps/layout/service.h"
#include "tests/bpf/bpf_test.h"

namespace svcrouter::bpftest {
namespace {

constexpr uint64_t kSec = 1'000'000'000ULL;

// A hash map of svcr_ct's layout: the ConntrackMap under test, and a handle
// of our own to fill it with.
struct TestMap {
  maps::Fd fd;
  std::optional<maps::ConntrackMap> ct;

  explicit TestMap(uint32_t maxEntries)
      : fd(bpf_map_create(BPF_MAP_TYPE_HASH, "svcr_ct_test", sizeof(svcr_ct_key),
                          sizeof(svcr_ct_entry), maxEntries, nullptr)) {
    if (!fd.valid()) throw std::runtime_error("create a hash map: " + std::string(strerror(errno)));
    ct.emplace(must(maps::ConntrackMap::from(maps::Fd(dup(fd.get())), "svcr_ct_test")));
  }

  void put(const maps::ConntrackEntries& entries) {
    std::vector<svcr_ct_key> keys;
    std::vector<svcr_ct_entry> values;
    for (const auto& [k, e] : entries) {
      keys.push_back(k);
      values.push_back(e);
    }
    uint32_t done = 0;
    if (must(maps::updateBatch(fd.get(), "svcr_ct_test", keys.data(), values.data(),
                               static_cast<uint32_t>(keys.size()), done)))
      return;
    for (size_t i = done; i < keys.size(); ++i)
      if (bpf_map_update_elem(fd.get(), &keys[i], &values[i], BPF_ANY) != 0)
        throw std::runtime_error("fill the map: " + std::string(strerror(errno)));
  }
};

// Entry i: client 10.0.0.0 + i:(10000 + i % 50000) -> 10.96.0.1:sport(i),
// translated to a backend on port 20000 + i % 40000.
svcr_ct_key keyOf(uint32_t i, uint8_t proto) {
  svcr_ct_key k{};
  k.saddr.w[2] = htonl(0xffff);
  k.saddr.w[3] = htonl(0x0a000000 + i);
  k.daddr.w[2] = htonl(0xffff);
  k.daddr.w[3] = htonl(0x0a600001);
  k.sport = htons(static_cast<uint16_t>(10000 + i % 50000));
  k.dport = htons(30080);
  k.proto = proto;
  return k;
}

svcr_ct_entry entryOf(uint32_t i, uint32_t flags, uint64_t lastSeen) {
  svcr_ct_entry e{};
  e.sport = htons(static_cast<uint16_t>(10000 + i % 50000));
  e.dport = htons(static_cast<uint16_t>(20000 + i % 40000));
  e.flags = flags;
  e.created_ns = lastSeen;
  e.last_seen_ns = lastSeen;
  return e;
}

// One entry of the sweep's table: what the flow has shown, how long ago its
// last packet was (negative: stamped after the sweep read its clock), and
// whether the sweep must delete it.
struct Case {
  const char* what;
  uint32_t flags;
  uint8_t proto;
  int64_t idleNs;
  bool expired;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"tcp syn, 61 s", 0, IPPROTO_TCP, 61 * kSec, true},
      {"tcp syn, 59 s", 0, IPPROTO_TCP, 59 * kSec, false},
      {"tcp established, 6 h + 1 s", SVCR_CT_F_ESTABLISHED, IPPROTO_TCP, 21601 * kSec, true},
      {"tcp established, 6 h - 1 s", SVCR_CT_F_ESTABLISHED, IPPROTO_TCP, 21599 * kSec, false},
      {"tcp established, 61 s", SVCR_CT_F_ESTABLISHED, IPPROTO_TCP, 61 * kSec, false},
      {"tcp closing, 11 s", SVCR_CT_F_ESTABLISHED | SVCR_CT_F_CLOSING, IPPROTO_TCP, 11 * kSec,
       true},
      {"tcp closing, 9 s", SVCR_CT_F_CLOSING, IPPROTO_TCP, 9 * kSec, false},
      {"tcp closing reply, 11 s", SVCR_CT_F_CLOSING | SVCR_CT_F_REPLY, IPPROTO_TCP, 11 * kSec,
       true},
      {"udp, 61 s", 0, IPPROTO_UDP, 61 * kSec, true},
      {"udp, 59 s", 0, IPPROTO_UDP, 59 * kSec, false},
      {"udp, 11 s (not TCP's close timeout)", SVCR_CT_F_CLOSING, IPPROTO_UDP, 11 * kSec, false},
      {"tcp closing, stamped 5 s after the sweep's clock", SVCR_CT_F_CLOSING, IPPROTO_TCP,
       -5 * static_cast<int64_t>(kSec), false},
      {"udp, stamped 1 ns after the sweep's clock", 0, IPPROTO_UDP, -1, false},
  };
  return all;
}

class ConntrackSweep : public ::testing::TestWithParam<maps::Walk> {};

TEST_P(ConntrackSweep, DeletesExactlyTheExpiredEntries) {
  TestMap map(1024);
  auto& ct = *map.ct;
  // The sweep is given the clock the entries' ages count from, so that
  // "after the sweep's clock" holds to the ns.
  const uint64_t now = maps::monotonicNowNs();
  std::set<std::string> wantLeft;
  std::set<uint16_t> livePorts, deadPorts;
  maps::ConntrackEntries all;
  const auto& table = cases();
  for (uint32_t i = 0; i < table.size(); ++i) {
    const Case& c = table[i];
    auto k = keyOf(i, c.proto);
    auto e = entryOf(i, c.flags, now - static_cast<uint64_t>(c.idleNs));
    all.emplace(k, e);
    if (!c.expired) {
      wantLeft.insert(c.what);
      for (uint16_t p : {k.sport, e.dport}) livePorts.insert(ntohs(p));
    } else {
      for (uint16_t p : {k.sport, e.dport}) deadPorts.insert(ntohs(p));
    }
  }
  map.put(all);
  auto swept = must(ct.sweep(now, GetParam()));

  auto left = must(ct.entries(GetParam()));
  std::set<std::string> gotLeft;
  for (uint32_t i = 0; i < table.size(); ++i)
    if (left.contains(keyOf(i, table[i].proto))) gotLeft.insert(table[i].what);
  EXPECT_EQ(gotLeft, wantLeft);
  EXPECT_EQ(swept.scanned, table.size());
  EXPECT_EQ(swept.deleted, table.size() - wantLeft.size());
  EXPECT_EQ(swept.left, wantLeft.size());
  for (uint16_t p : livePorts)
    EXPECT_TRUE(swept.ports.test(p)) << "port " << p << " of a live entry";
  for (uint16_t p : deadPorts)
    EXPECT_FALSE(swept.ports.test(p)) << "port " << p << " of a deleted entry";
  EXPECT_TRUE(swept.ports.test(30080)) << "the frontend port of the live entries' keys";
}

TEST_P(ConntrackSweep, ReadsEveryEntryOfAMapLargerThanAChunk) {
  TestMap map(20000);
  auto& ct = *map.ct;
  const uint64_t now = maps::monotonicNowNs();
  maps::ConntrackEntries all;
  for (uint32_t i = 0; i < 10000; ++i) all.emplace(keyOf(i, IPPROTO_UDP), entryOf(i, 0, now));
  map.put(all);
  auto read = must(ct.entries(GetParam()));
  ASSERT_EQ(read.size(), all.size());
  for (const auto& [k, e] : all) {
    auto it = read.find(k);
    ASSERT_NE(it, read.end());
    EXPECT_EQ(it->second.dport, e.dport);
  }
  // Half of them expire: a sweep over several chunks deletes just those.
  maps::ConntrackEntries half;
  for (uint32_t i = 0; i < 10000; i += 2)
    half.emplace(keyOf(i, IPPROTO_UDP), entryOf(i, 0, now - 61 * kSec));
  map.put(half);
  auto swept = must(ct.sweep(maps::monotonicNowNs(), GetParam()));
  EXPECT_EQ(swept.scanned, 10000u);
  EXPECT_EQ(swept.deleted, 5000u);
  auto after = must(ct.entries(GetParam()));
  EXPECT_EQ(after.size(), 5000u);
  for (const auto& [k, e] : after) EXPECT_FALSE(half.contains(k));
}

INSTANTIATE_TEST_SUITE_P(Walks, ConntrackSweep,
                         ::testing::Values(maps::Walk::kBatch, maps::Walk::kByKey),
                         [](const auto& info) {
                           return info.param == maps::Walk::kBatch ? "Batch" : "ByKey";
                         });

TEST(PortMarks, ClearsOnlyWhatNeitherTheTableNorALiveFlowUses) {
  maps::Fd ports(bpf_map_create(BPF_MAP_TYPE_ARRAY, "svcr_ports_test", sizeof(uint32_t),
                                sizeof(svcr_port), 65536, nullptr));
  ASSERT_TRUE(ports.valid()) << strerror(errno);
  constexpr uint32_t F = SVCR_PORT_F_FRONTEND, B = SVCR_PORT_F_BACKEND;
  const std::map<uint32_t, uint32_t> before = {{80, F},       {8080, B},     {30080, F}, {5353, B},
                                               {9999, F | B}, {7000, F | B}, {65535, F}};
  for (const auto& [port, flags] : before) {
    svcr_port v{flags};
    ASSERT_EQ(bpf_map_update_elem(ports.get(), &port, &v, BPF_ANY), 0);
  }
  // The table needs 30080 as a frontend and 7000 as a backend; a live flow uses 9999.
  maps::PortMarks wanted = {{30080, F}, {7000, B}, {443, F}};
  std::bitset<65536> inUse;
  inUse.set(9999);
  inUse.set(1234);
  auto cleared = must(maps::clearPortMarks(ports.get(), wanted, inUse));
  const std::map<uint32_t, uint32_t> after = {
      {80, 0},
      {8080, 0},
      {30080, F},
      {5353, 0},
      {9999, F | B},
      {7000, B},
      {65535, 0},
      // Never set: the sweep sets nothing (the planner does).
      {443, 0},
      {1234, 0}};
  for (const auto& [port, flags] : after) {
    svcr_port v{};
    ASSERT_EQ(bpf_map_lookup_elem(ports.get(), &port, &v), 0);
    EXPECT_EQ(v.flags, flags) << "port " << port;
  }
  EXPECT_EQ(cleared, 5u);  // 80, 8080, 5353, 7000 (its frontend bit), 65535
}

// The figure of the README: one sweep of a full map of the default size, all
// live (a walk) and all expired (a walk and a delete per entry).
TEST(ConntrackSweepTime, FullMap) {
  const uint32_t n = SVCR_CT_MAX_DEFAULT;
  TestMap map(n);
  auto& ct = *map.ct;
  const uint64_t now = maps::monotonicNowNs();
  maps::ConntrackEntries all;
  for (uint32_t i = 0; i < n; ++i)
    all.emplace(keyOf(i, IPPROTO_TCP), entryOf(i, SVCR_CT_F_ESTABLISHED, now));
  map.put(all);
  auto time = [&](uint64_t at) {
    auto start = std::chrono::steady_clock::now();
    auto swept = must(ct.sweep(at));
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return std::make_pair(swept, ms);
  };
  auto [live, liveMs] = time(now);
  EXPECT_EQ(live.scanned, n);
  EXPECT_EQ(live.deleted, 0u);
  auto [dead, deadMs] = time(now + 21601 * kSec);
  EXPECT_EQ(dead.scanned, n);
  EXPECT_EQ(dead.deleted, n);
  EXPECT_TRUE(must(ct.entries()).empty());
  std::printf("sweep of %u entries: %.1f ms all live, %.1f ms all expired (deleted)\n", n, liveMs,
              deadMs);
  RecordProperty("live_ms", std::to_string(liveMs));
  RecordProperty("expired_ms", std::to_string(deadMs));
}

}  // namespace
}  // namespace svcrouter::bpftest
