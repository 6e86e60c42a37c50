// The responder's settings: --dns-listen and --dns-upstream addresses, the
// default upstreams from resolv.conf (never ourselves), --cluster-domain.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "userspace/dns/config.h"

namespace svcrouter::dns {
namespace {

std::string parsed(std::string_view text, std::optional<uint16_t> port = std::nullopt) {
  auto a = parseSocketAddress(text, port);
  return a ? describe(*a) : "error: " + a.error().message();
}

TEST(DnsConfig, SocketAddresses) {
  EXPECT_EQ(parsed("10.0.0.1:53"), "10.0.0.1:53");
  EXPECT_EQ(parsed("[fd00::1]:5353"), "[fd00::1]:5353");
  EXPECT_EQ(parsed("0.0.0.0:0"), "0.0.0.0:0");
  EXPECT_EQ(parsed("10.0.0.1", 53), "10.0.0.1:53");
  EXPECT_EQ(parsed("fd00::1", 53), "[fd00::1]:53");
  EXPECT_EQ(parsed("[fd00::1]", 53), "[fd00::1]:53");
  EXPECT_EQ(parsed("10.0.0.1"), "error: \"10.0.0.1\" has no port (ADDR:PORT)");
  EXPECT_EQ(parsed("10.0.0.1:"), "error: \"10.0.0.1:\" has an empty port");
  EXPECT_EQ(parsed("10.0.0.1:65536"),
            "error: \"10.0.0.1:65536\": the port must be a number from 0 to 65535");
  EXPECT_EQ(parsed("dns.example:53"),
            "error: \"dns.example:53\": \"dns.example\" is not an IP address");
  EXPECT_EQ(parsed("[fd00::1"), "error: \"[fd00::1\" has no closing ']'");
}

TEST(DnsConfig, ResolvConf) {
  auto ns = resolvConfNameservers(
      "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n"
      "nameserver\nnameserver not-an-ip\noptions ndots:5\n  nameserver 10.0.0.3 \n");
  ASSERT_EQ(ns.size(), 3u);
  EXPECT_EQ(describe(ns[0]), "10.0.0.2:53");
  EXPECT_EQ(describe(ns[1]), "[fe80::1]:53");
  EXPECT_EQ(describe(ns[2]), "10.0.0.3:53");
}

TEST(DnsConfig, DefaultUpstreamsAreNotOurselves) {
  std::string path = ::testing::TempDir() + "/resolv.conf";
  std::ofstream(path) << "nameserver 10.0.0.53\nnameserver 10.0.0.2\nnameserver 127.0.0.1\n"
                         "nameserver 10.0.0.2\n";
  auto up = defaultUpstreams(path, {{*IpAddr::parse("10.0.0.53"), 53}});
  ASSERT_TRUE(up.has_value()) << up.error().message();
  ASSERT_EQ(up->size(), 2u);
  EXPECT_EQ(describe((*up)[0]), "10.0.0.2:53");
  EXPECT_EQ(describe((*up)[1]), "127.0.0.1:53");
  // Another port is another server.
  up = defaultUpstreams(path, {{*IpAddr::parse("10.0.0.53"), 5353}});
  EXPECT_EQ(up->size(), 3u);
  // On the wildcard address, every local address is ours (the loopback).
  up = defaultUpstreams(path, {{*IpAddr::parse("0.0.0.0"), 53}});
  ASSERT_TRUE(up.has_value());
  for (const auto& u : *up) EXPECT_NE(describe(u), "127.0.0.1:53");
  EXPECT_FALSE(defaultUpstreams(::testing::TempDir() + "/none", {}).has_value());
}

TEST(DnsConfig, ClusterDomain) {
  EXPECT_EQ(parseClusterDomain("cluster.local").value_or("?"), "cluster.local");
  EXPECT_EQ(parseClusterDomain("Cluster.Local.").value_or("?"), "cluster.local");
  EXPECT_EQ(parseClusterDomain("k8s").value_or("?"), "k8s");
  const std::vector<std::string> bad = {"",       ".", "a..b", "a b", "-", std::string(120, 'a'),
                                        "ä.local"};
  for (const auto& text : bad) EXPECT_FALSE(parseClusterDomain(text).has_value()) << text;
}

}  // namespace
}  // namespace svcrouter::dns
