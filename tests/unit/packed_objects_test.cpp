// PackedService and PackedSlice (userspace/agent/packed_objects.h): what
// KubeSource's cache packs comes back exactly as it was, every field.
#include "userspace/agent/packed_objects.h"

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
    EXPECT_EQ(x.hostname, y.hostname) << "endpoint " << i;
    EXPECT_EQ(x.hintZones, y.hintZones) << "endpoint " << i;
    EXPECT_EQ(x.hintNodes, y.hintNodes) << "endpoint " << i;
  }
  static_assert(sizeof(EndpointSlice) == 296 && sizeof(Endpoint) == 176,
                "EndpointSlice or Endpoint changed: pack the new field, and compare it above");
}

void expectSame(const Service& a, const Service& b) {
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.headless, b.headless);
  EXPECT_EQ(a.clusterIPs, b.clusterIPs);
  EXPECT_EQ(a.externalName, b.externalName);
  ASSERT_EQ(a.ports.size(), b.ports.size());
  for (size_t i = 0; i < a.ports.size(); ++i) {
    EXPECT_EQ(a.ports[i].name, b.ports[i].name);
    EXPECT_EQ(a.ports[i].protocol, b.ports[i].protocol);
    EXPECT_EQ(a.ports[i].port, b.ports[i].port);
    EXPECT_EQ(a.ports[i].nodePort, b.ports[i].nodePort);
    EXPECT_EQ(a.ports[i].specIndex, b.ports[i].specIndex);
  }
  EXPECT_EQ(a.externalIPs, b.externalIPs);
  EXPECT_EQ(a.loadBalancerIPs, b.loadBalancerIPs);
  ASSERT_EQ(a.loadBalancerSourceRanges.size(), b.loadBalancerSourceRanges.size());
  for (size_t i = 0; i < a.loadBalancerSourceRanges.size(); ++i) {
    EXPECT_EQ(a.loadBalancerSourceRanges[i].addr, b.loadBalancerSourceRanges[i].addr);
    EXPECT_EQ(a.loadBalancerSourceRanges[i].prefix, b.loadBalancerSourceRanges[i].prefix);
  }
  EXPECT_EQ(a.affinityClientIP, b.affinityClientIP);
  EXPECT_EQ(a.affinityTimeoutSec, b.affinityTimeoutSec);
  EXPECT_EQ(a.internalTrafficPolicy, b.internalTrafficPolicy);
  EXPECT_EQ(a.externalTrafficPolicy, b.externalTrafficPolicy);
  EXPECT_EQ(a.healthCheckNodePort, b.healthCheckNodePort);
  EXPECT_EQ(a.trafficDistribution, b.trafficDistribution);
  EXPECT_EQ(a.resourceVersion, b.resourceVersion);
  EXPECT_EQ(a.where, b.where);
  static_assert(sizeof(Service) == 392 && sizeof(ServicePort) == 48,
                "Service changed: pack the new field, and compare it above");
}

TEST(PackedService, KeepsEveryField) {
  Service s;
  s.ns = "prod";
  s.name = "web";
  s.labels = {{"app", "web"}, {"tier", "front"}};
  s.type = ServiceType::kLoadBalancer;
  s.clusterIPs = {ip("10.96.0.10"), ip("fd00::10")};
  s.ports = {{"http", Protocol::kTcp, 80, 30080, 0}, {"", Protocol::kUdp, 53, 0, 2}};
  s.externalIPs = {ip("192.0.2.1")};
  s.loadBalancerIPs = {ip("198.51.100.7"), ip("2001:db8::7")};
  s.loadBalancerSourceRanges = {{ip("10.0.0.0"), 8}, {ip("fd00::"), 64}};
  s.affinityClientIP = true;
  s.affinityTimeoutSec = 60;
  s.internalTrafficPolicy = TrafficPolicy::kLocal;
  s.externalTrafficPolicy = TrafficPolicy::kLocal;
  s.healthCheckNodePort = 32000;
  s.trafficDistribution = "PreferClose";
  s.resourceVersion = "123456789012345678";
  s.where = "API server";
  PackedService packed(s);
  EXPECT_LT(packed.bytes(), 200u);  // every field set; decoded, 392 bytes and 9 allocations
  expectSame(packed.unpack(), s);
  expectSame(packed.unpack(), s);  // unpacking leaves it as it is

  Service headless;  // and the defaults, and an ExternalName
  headless.name = "db";
  headless.headless = true;
  expectSame(PackedService(headless).unpack(), headless);
  Service external;
  external.type = ServiceType::kExternalName;
  external.externalName = "db.example.com";
  expectSame(PackedService(external).unpack(), external);
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
  full.hostname = "web-0";
  Endpoint named = plain;  // a hostname alone (a StatefulSet's pod)
  named.hostname = "web-1";
  Endpoint none;  // no address at all: the reader skips it later, the cache keeps it
  none.conditions = {false, std::nullopt, false};
  none.nodeName = "n";
  Endpoint sameNode = plain;
  sameNode.nodeName = full.nodeName;  // shared with `full`
  sameNode.zone = "eu-west-1a";       // a zone equal to a hint is still its own field
  sameNode.conditions.serving = false;
  s.endpoints = {plain, full, none, sameNode, plain, named};
  PackedSlice packed(s);
  EXPECT_EQ(packed.ns(), "prod");
  EXPECT_EQ(packed.serviceName(), "web");
  expectSame(packed.unpack(), s);
  expectSame(packed.unpack(), s);  // unpacking leaves it as it is
}

TEST(PackedSlice, ManyNamesAndEmptySlices) {
  expectSame(PackedSlice(EndpointSlice{}).unpack(), EndpointSlice{});
  EXPECT_EQ(PackedSlice(EndpointSlice{}).serviceName(), "");
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
  PackedSlice packed(s);
  expectSame(packed.unpack(), s);
  // A few bytes an endpoint: its address, conditions and two name indexes.
  EXPECT_LT(packed.bytes(), 1000u * 12 + 300 * 24);
}

}  // namespace
}  // namespace svcrouter
