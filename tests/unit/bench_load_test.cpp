// The load client's pure parts (bench/load.h): its command line, percentiles, medians and
// the CPU time read from /proc/stat.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <sstream>
#include <string>
#include <vector>

#include "bench/load.h"

namespace svcrouter::bench {
namespace {

TEST(BenchLoad, PercentilesAreNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) v.push_back(1001 - i);  // 1000..1, unsorted
  Percentiles p = percentiles(v);
  EXPECT_EQ(p.p50, 500);
  EXPECT_EQ(p.p90, 900);
  EXPECT_EQ(p.p99, 990);
  EXPECT_EQ(p.p999, 999);
  // Fewer samples than a percentile resolves: the rank rounds up, to the largest.
  Percentiles few = percentiles({3, 1, 2});
  EXPECT_EQ(few.p50, 2);
  EXPECT_EQ(few.p90, 3);
  EXPECT_EQ(few.p999, 3);
  EXPECT_EQ(percentile({7}, 0.999), 7);
  EXPECT_EQ(percentile({1, 2, 3}, 0), 1);
  EXPECT_EQ(percentiles({}).p99, 0);
}

TEST(BenchLoad, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_EQ(median({5, 1, 3}), 3);
  EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(median({}), 0);
}

TEST(BenchLoad, CasesNameTheirTargetNamespaceAndCgroup) {
  auto c = parseCase("svcrouter,10.96.0.10:80,netns=/run/netns/x,cgroup=/sys/fs/cgroup/y");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->name, "svcrouter");
  EXPECT_EQ(c->netns, "/run/netns/x");
  EXPECT_EQ(c->cgroup, "/sys/fs/cgroup/y");
  ASSERT_EQ(c->addr.ss_family, AF_INET);
  auto& a4 = reinterpret_cast<const sockaddr_in&>(c->addr);
  EXPECT_EQ(ntohs(a4.sin_port), 80);
  EXPECT_EQ(a4.sin_addr.s_addr, inet_addr("10.96.0.10"));

  for (const char* v6 : {"d,[fd77::11]:8080", "d,fd77::11:8080"}) {
    auto c6 = parseCase(v6);
    ASSERT_TRUE(c6) << v6 << ": " << c6.error();
    EXPECT_EQ(c6->addr.ss_family, AF_INET6);
    EXPECT_EQ(c6->addrLen, sizeof(sockaddr_in6));
    EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6&>(c6->addr).sin6_port), 8080);
  }
  for (const char* bad :
       {"x", "x,10.0.0.1", "x,10.0.0.1:0", "x,10.0.0.1:65536", "x,nothost:80", "a b,10.0.0.1:80",
        ",10.0.0.1:80", "x,10.0.0.1:80,other=1", "x,10.0.0.1:80,netns="}) {
    EXPECT_FALSE(parseCase(bad)) << bad;
  }
}

TEST(BenchLoad, Arguments) {
  auto o = parseArgs({"--case", "a,10.0.0.1:80", "--case", "b,10.0.0.2:80", "--mode", "udp-rr",
                      "--requests", "100", "--parallel", "4", "--rounds", "9", "--json"});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->cases.size(), 2u);
  EXPECT_EQ(o->mode, Mode::kUdpRr);
  EXPECT_EQ(o->requests, 100);
  EXPECT_EQ(o->parallel, 4);
  EXPECT_EQ(o->rounds, 9);
  EXPECT_TRUE(o->json);

  auto defaults = parseArgs({"--case", "a,10.0.0.1:80", "--connections", "300"});
  ASSERT_TRUE(defaults) << defaults.error();
  EXPECT_EQ(defaults->mode, Mode::kCrr);
  EXPECT_EQ(defaults->requests, 300);  // the older name of --requests
  EXPECT_EQ(defaults->parallel, 1);
  EXPECT_FALSE(defaults->json);

  for (auto mode : {Mode::kCrr, Mode::kRr, Mode::kUdpRr})
    EXPECT_EQ(parseMode(modeName(mode)), mode);

  const std::vector<std::vector<std::string>> bad = {
      {},                                            // no case
      {"--case", "a,10.0.0.1:80", "--rounds", "1"},  // no round after the warm-up
      {"--case", "a,10.0.0.1:80", "--mode", "tcp"},  // no such mode
      {"--case", "a,10.0.0.1:80", "--requests", "2", "--parallel", "3"},  // a client idle
      {"--case", "a,10.0.0.1:80", "--parallel", "0"},
      {"--case", "a,10.0.0.1:80", "--requests"},  // no value
      {"--case", "a,10.0.0.1:80", "--requests", "1e3"},
      {"--case", "a,10.0.0.1:80", "--what", "1"},
  };
  for (const auto& args : bad) {
    auto r = parseArgs(args);
    EXPECT_FALSE(r) << ::testing::PrintToString(args);
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST(BenchLoad, CpuTicksFromProcStat) {
  std::istringstream stat(
      "cpu  100 5 50 1000 20 3 7 2 0 0\n"
      "cpu0 50 2 25 500 10 1 3 1 0 0\n"
      "intr 1 2 3\n");
  auto t = readCpuTicks(stat);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->busy, 100u + 5 + 50 + 3 + 7 + 2);  // all but idle and iowait
  EXPECT_EQ(t->total, 100u + 5 + 50 + 1000 + 20 + 3 + 7 + 2);

  std::istringstream none("cpu0 1 2 3 4 5 6 7 8\n");
  EXPECT_FALSE(readCpuTicks(none));
  std::istringstream shortLine("cpu  1 2 3\n");
  EXPECT_FALSE(readCpuTicks(shortLine));
}

}  // namespace
}  // namespace svcrouter::bench
