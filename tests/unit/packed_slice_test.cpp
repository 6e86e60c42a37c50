// PackedSlice (userspace/agent/packed_slice.h): what KubeSource's cache
// packs comes back exactly as it was, every field of every endpoint.
#include "userspace/agent/packed_slice.h"

#include <gtest/gtest.h>

#include <random>

namespace svcrouter {
namespace {

IpAddr ip(const char* text) { return *IpAddr::parse(text); }

// Every field, so that a field added to EndpointSlice and not packed fails here.
void expectSame(const EndpointSlice& a, const EndpointSlice& b) {
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.serviceName, b.serviceName);
  EXPECT_EQ(a.addressType, b.addressType);
  EXPECT_EQ(a.lastChangeTriggerTime, b.lastChangeTriggerTime);
  EXPECT_EQ(a.resourceVersion, b.resourceVersion);
  EXPECT_EQ(a.where, b.where);
  ASSERT_EQ(a.ports.size(), b.ports.size());
  for (size_t i = 0; i < a.ports.size(); ++i) {
    EXPECT_EQ(a.ports[i].name, b.ports[i].name);
    EXPECT_EQ(a.ports[i].protocol, b.ports[i].protocol);
    EXPECT_EQ(a.ports[i].port, b.ports[i].port);
  }
  ASSERT_EQ(a.endpoints.size(), b.endpoints.size());
  for (size_t i = 0; i < a.endpoints.size(); ++i) {
    const Endpoint &x = a.endpoints[i], &y = b.endpoints[i];
    EXPECT_EQ(x.addresses, y.addresses) << "endpoint " << i;
    EXPECT_EQ(x.conditions.ready, y.conditions.ready) << "endpoint " << i;
    EXPECT_EQ(x.conditions.serving, y.conditions.serving) << "endpoint " << i;
    EXPECT_EQ(x.conditions.terminating, y.conditions.terminating) << "endpoint " << i;
    EXPECT_EQ(x.nodeName, y.nodeName) << "endpoint " << i;
    EXPECT_EQ(x.zone, y.zone) << "endpoint " << i;
    EXPECT_EQ(x.hintZones, y.hintZones) << "endpoint " << i;
    EXPECT_EQ(x.hintNodes, y.hintNodes) << "endpoint " << i;
  }
  static_assert(sizeof(EndpointSlice) == 296 && sizeof(Endpoint) == 144,
                "EndpointSlice or Endpoint changed: pack the new field, and compare it above");
}

TEST(PackedSlice, KeepsEveryField) {
  EndpointSlice s;
  s.ns = "prod";
  s.name = "web-abcde";
  s.labels = {{"kubernetes.io/service-name", "web"}, {"app", "web"}};
  s.serviceName = "web";
  s.addressType = AddressType::kIPv6;
  s.ports = {{"http", Protocol::kTcp, 8080}, {"", Protocol::kUdp, std::nullopt}};
  s.lastChangeTriggerTime = "2026-12-01T10:00:00Z";
  s.resourceVersion = "123456789012345678";
  s.where = "API server";
  Endpoint plain;
  plain.addresses = {ip("fd00::1")};
  Endpoint full;
  full.addresses = {ip("fd00::2"), ip("fd00::3"), ip("fd00::4")};
  full.conditions = {true, false, true};
  full.nodeName = "ip-10-0-12-34.eu-west-1.compute.internal";
  full.zone = "eu-west-1a";
  full.hintZones = {"eu-west-1a", "eu-west-1b"};
  full.hintNodes = {"node-a"};
  Endpoint none;  // no address at all: the reader skips it later, the cache keeps it
  none.conditions = {false, std::nullopt, false};
  none.nodeName = "n";
  Endpoint sameNode = plain;
  sameNode.nodeName = full.nodeName;  // shared with `full`
  sameNode.zone = "eu-west-1a";       // a zone equal to a hint is still its own field
  sameNode.conditions.serving = false;
  s.endpoints = {plain, full, none, sameNode, plain};
  EndpointSlice copy = s;
  PackedSlice packed(std::move(copy));
  EXPECT_EQ(packed.endpointCount(), 5u);
  EXPECT_TRUE(packed.head().endpoints.empty());
  EXPECT_EQ(packed.head().serviceName, "web");
  expectSame(packed.unpack(), s);
  expectSame(packed.unpack(), s);  // unpacking leaves it as it is
}

TEST(PackedSlice, ManyNamesAndEmptySlices) {
  expectSame(PackedSlice(EndpointSlice{}).unpack(), EndpointSlice{});
  // Hundreds of distinct names, short (held inside the string) and long:
  // each endpoint must get its own back.
  std::mt19937 rng(7);
  EndpointSlice s;
  s.name = "big";
  for (int i = 0; i < 1000; ++i) {
    Endpoint e;
    e.addresses = {ip(("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)).c_str())};
    int node = static_cast<int>(rng() % 300);
    e.nodeName = node % 2 ? "n" + std::to_string(node) : "a-long-node-name-" + std::to_string(node);
    if (rng() % 3) e.zone = "zone-" + std::to_string(rng() % 4);
    if (rng() % 2) e.conditions.ready = rng() % 2 == 0;
    if (rng() % 2) e.conditions.serving = rng() % 2 == 0;
    if (rng() % 2) e.conditions.terminating = rng() % 2 == 0;
    s.endpoints.push_back(e);
  }
  EndpointSlice copy = s;
  expectSame(PackedSlice(std::move(copy)).unpack(), s);
}

}  // namespace
}  // namespace svcrouter
