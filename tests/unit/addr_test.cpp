#include "maps/addr.h"

#include <gtest/gtest.h>

#include <ostream>

namespace svcrouter {
namespace {

struct RoundTrip {
  const char* in;
  const char* out;  // str() of the parsed address
  bool v4;
};
void PrintTo(const RoundTrip& c, std::ostream* os) { *os << '"' << c.in << '"'; }

class IpAddrRoundTrip : public testing::TestWithParam<RoundTrip> {};

TEST_P(IpAddrRoundTrip, ParsesAndFormats) {
  const RoundTrip& c = GetParam();
  auto ip = IpAddr::parse(c.in);
  ASSERT_TRUE(ip.has_value()) << c.in;
  EXPECT_EQ(ip->str(), c.out);
  EXPECT_EQ(ip->isV4(), c.v4);
  // Formatting and parsing again gives the same bytes.
  auto again = IpAddr::parse(ip->str());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *ip);
}

INSTANTIATE_TEST_SUITE_P(Addresses, IpAddrRoundTrip,
                         testing::Values(RoundTrip{"10.96.0.10", "10.96.0.10", true},
                                         RoundTrip{"0.0.0.0", "0.0.0.0", true},
                                         RoundTrip{"255.255.255.255", "255.255.255.255", true},
                                         RoundTrip{"fd00::1", "fd00::1", false},
                                         RoundTrip{"FD00:0:0:0:0:0:0:1", "fd00::1", false},
                                         RoundTrip{"::", "::", false},
                                         RoundTrip{"::1", "::1", false},
                                         RoundTrip{"2001:db8::a:b", "2001:db8::a:b", false},
                                         // IPv4-mapped text is IPv4, as Go's net.ParseIP treats it.
                                         RoundTrip{"::ffff:10.0.0.1", "10.0.0.1", true},
                                         RoundTrip{"::ffff:a00:1", "10.0.0.1", true},
                                         // IPv4-compatible (deprecated) is not mapped: stays IPv6.
                                         RoundTrip{"::10.0.0.1", "::10.0.0.1", false}));

TEST(IpAddr, V4IsStoredMapped) {
  auto ip = IpAddr::parse("10.1.2.3");
  ASSERT_TRUE(ip.has_value());
  std::array<uint8_t, 16> want{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(ip->bytes(), want);
  EXPECT_EQ(IpAddr::fromBytes(want), *ip);
  EXPECT_EQ(IpAddr::parse("::ffff:10.1.2.3"), ip);
}

TEST(IpAddr, FromBytesV6) {
  std::array<uint8_t, 16> b{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  IpAddr ip = IpAddr::fromBytes(b);
  EXPECT_FALSE(ip.isV4());
  EXPECT_EQ(ip.str(), "fd00::2");
  EXPECT_EQ(ip.bytes(), b);
}

TEST(IpAddr, DefaultIsUnspecifiedV6) {
  IpAddr ip;
  EXPECT_FALSE(ip.isV4());
  EXPECT_EQ(ip.str(), "::");
}

class IpAddrRejects : public testing::TestWithParam<std::string> {};

TEST_P(IpAddrRejects, Malformed) { EXPECT_FALSE(IpAddr::parse(GetParam()).has_value()); }

INSTANTIATE_TEST_SUITE_P(Malformed, IpAddrRejects,
                         testing::Values("", " 10.0.0.1", "10.0.0.1 ", "10.0.0.1\n", "10.0.0",
                                         "10.0.0.1.2", "10.0.0.256", "10.0.0.-1", "010.0.0.1",
                                         "10.0.0.0/8", "fd00::/64", "fe80::1%eth0", "fe80::1%1",
                                         "fd00:::1", "fd00::1::2", "1:2:3:4:5:6:7:8:9", "[fd00::1]",
                                         "localhost", "None", "0x0a.0.0.1",
                                         std::string("10.0.0.1\0x", 10),
                                         "fd00:0000:0000:0000:0000:0000:0000:0000:1"));

TEST(Protocol, Names) {
  EXPECT_EQ(protocolName(Protocol::kTcp), "TCP");
  EXPECT_EQ(protocolName(Protocol::kUdp), "UDP");
}

TEST(Describe, ServiceKeyAndBackend) {
  ServiceKey k4{*IpAddr::parse("10.96.0.10"), 80, Protocol::kTcp};
  ServiceKey k6{*IpAddr::parse("fd00::1"), 53, Protocol::kUdp};
  EXPECT_EQ(describe(k4), "10.96.0.10:80/TCP");
  EXPECT_EQ(describe(k6), "[fd00::1]:53/UDP");
  EXPECT_EQ(describe(BackendAddr{*IpAddr::parse("10.0.0.1"), 8080, Protocol::kTcp}),
            "10.0.0.1:8080");
  EXPECT_EQ(describe(BackendAddr{*IpAddr::parse("fd00::1"), 8080, Protocol::kUdp}),
            "[fd00::1]:8080");
}

TEST(Ordering, BackendsSortByIpThenPort) {
  auto a = BackendAddr{*IpAddr::parse("10.0.0.2"), 80, Protocol::kTcp};
  auto b = BackendAddr{*IpAddr::parse("10.0.0.10"), 70, Protocol::kTcp};
  auto c = BackendAddr{*IpAddr::parse("10.0.0.10"), 81, Protocol::kTcp};
  EXPECT_LT(a, b);  // numeric, not textual
  EXPECT_LT(b, c);
}

}  // namespace
}  // namespace svcrouter
