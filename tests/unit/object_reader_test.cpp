// Objects as the API server sends them (JSON), read by the same readers as
// manifest files: every shape a list or a watch event can carry.
#include "userspace/k8s/object_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "maps/layout/service.h"
#include "userspace/core/desired.h"

namespace svcrouter {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

IpAddr ip(const char* text) { return *IpAddr::parse(text); }

constexpr ObjectDefaults kServiceItem{"Service", "v1"};
constexpr ObjectDefaults kSliceItem{"EndpointSlice", "discovery.k8s.io/v1"};

// Reads one list item (no kind, no apiVersion) from JSON text.
Result<Objects> readItem(const std::string& json, const ObjectDefaults& defaults) {
  auto doc = nlohmann::json::parse(json);
  Objects out;
  SVCR_RETURN_IF_ERROR(readObject(DocNode(doc), "API services", out, defaults));
  return out;
}

Service service(const std::string& json) {
  auto r = readItem(json, kServiceItem);
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_EQ(r ? r->services.size() : 0, 1u);
  return r && !r->services.empty() ? r->services[0] : Service{};
}

EndpointSlice slice(const std::string& json) {
  auto r = readItem(json, kSliceItem);
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_EQ(r ? r->slices.size() : 0, 1u);
  return r && !r->slices.empty() ? r->slices[0] : EndpointSlice{};
}

// A Service as the API server returns it, with the fields it always fills.
constexpr const char* kApiService = R"({
  "metadata": {"name": "web", "namespace": "shop", "uid": "6f1d", "resourceVersion": "4711",
               "creationTimestamp": "2026-11-30T10:00:00Z",
               "labels": {"app": "web"}, "annotations": {"note": "x"},
               "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
  "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                     {"name": "admin", "protocol": "TCP", "port": 81, "targetPort": "admin"}],
           "selector": {"app": "web"}, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
           "type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
           "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
           "someFutureField": {"deep": [1, 2, 3]}},
  "status": {"loadBalancer": {}}
})";

TEST(ObjectReaderJson, ServiceAsTheApiServerSendsIt) {
  Service s = service(kApiService);
  EXPECT_EQ(s.ns, "shop");
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.resourceVersion, "4711");
  EXPECT_EQ(s.labels, (std::map<std::string, std::string>{{"app", "web"}}));
  EXPECT_THAT(s.clusterIPs, ElementsAre(ip("10.96.0.10")));
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].port, 80);       // targetPort as a number
  EXPECT_EQ(s.ports[1].name, "admin");  // and as a name: both accepted, neither used
  EXPECT_EQ(s.type, ServiceType::kClusterIP);
  EXPECT_EQ(origin(s), "API services (Service shop/web)");
}

TEST(ObjectReaderJson, LoadBalancerWithLocalPolicyAndHealthPort) {
  Service s = service(R"({"metadata": {"name": "lb", "namespace": "default"},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.20",
             "ports": [{"port": 443, "nodePort": 31443}],
             "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
             "trafficDistribution": "PreferClose"}})");
  EXPECT_EQ(s.type, ServiceType::kLoadBalancer);
  EXPECT_EQ(s.externalTrafficPolicy, TrafficPolicy::kLocal);
  EXPECT_EQ(s.healthCheckNodePort, 32000);
  EXPECT_EQ(s.ports.at(0).nodePort, 31443);
  EXPECT_EQ(s.trafficDistribution, "PreferClose");
}

TEST(ObjectReaderJson, DualStack) {
  Service s = service(R"({"metadata": {"name": "ds"},
    "spec": {"clusterIP": "10.96.0.30", "clusterIPs": ["10.96.0.30", "fd00::30"],
             "ipFamilies": ["IPv4", "IPv6"], "ipFamilyPolicy": "RequireDualStack",
             "ports": [{"port": 80}]}})");
  EXPECT_EQ(s.ns, "default");
  EXPECT_THAT(s.clusterIPs, ElementsAre(ip("10.96.0.30"), ip("fd00::30")));
}

TEST(ObjectReaderJson, MissingOptionalFieldsTakeTheirDefaults) {
  Service s = service(R"({"metadata": {"name": "bare"},
    "spec": {"clusterIP": "10.96.0.40", "ports": [{"port": 53, "protocol": "UDP"}]}})");
  EXPECT_FALSE(s.affinityClientIP);
  EXPECT_EQ(s.affinityTimeoutSec, 10800u);
  EXPECT_EQ(s.internalTrafficPolicy, TrafficPolicy::kCluster);
  EXPECT_EQ(s.externalTrafficPolicy, TrafficPolicy::kCluster);
  EXPECT_EQ(s.healthCheckNodePort, 0);
  EXPECT_EQ(s.ports.at(0).protocol, Protocol::kUdp);
  EXPECT_TRUE(s.labels.empty());
}

TEST(ObjectReaderJson, HeadlessAndExternalName) {
  EXPECT_TRUE(service(R"({"metadata": {"name": "h"}, "spec": {"clusterIP": "None",
      "clusterIPs": ["None"], "ports": [{"port": 80}]}})")
                  .headless);
  EXPECT_EQ(service(R"({"metadata": {"name": "x"}, "spec": {"type": "ExternalName",
      "externalName": "example.com"}})")
                .type,
            ServiceType::kExternalName);
}

TEST(ObjectReaderJson, EndpointSliceWithConditionsHintsAndZones) {
  EndpointSlice sl = slice(R"({
    "metadata": {"name": "web-abc12", "namespace": "shop", "resourceVersion": "99",
                 "labels": {"kubernetes.io/service-name": "web",
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                 "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-30T10:00:01Z"},
                 "generateName": "web-", "ownerReferences": [{"kind": "Service", "name": "web"}]},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.1.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
       "nodeName": "node-a", "zone": "zone-a", "hints": {"forZones": [{"name": "zone-a"}]},
       "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}},
      {"addresses": ["10.1.0.2"], "conditions": {}, "zone": "zone-b",
       "hints": {"forZones": [{"name": "zone-b"}], "forNodes": [{"name": "node-b"}]}},
      {"addresses": ["10.1.0.3"]},
      {"addresses": ["10.1.0.4"], "conditions": {"ready": null, "serving": false, "terminating": true}}
    ],
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}]
  })");
  EXPECT_EQ(sl.serviceName, "web");
  EXPECT_EQ(sl.resourceVersion, "99");
  EXPECT_EQ(sl.lastChangeTriggerTime, "2026-11-30T10:00:01Z");
  ASSERT_EQ(sl.endpoints.size(), 4u);
  const auto& e = sl.endpoints;
  EXPECT_EQ(e[0].conditions.ready, true);
  EXPECT_EQ(e[0].nodeName, "node-a");
  EXPECT_EQ(e[0].zone, "zone-a");
  EXPECT_THAT(e[0].hintZones, ElementsAre("zone-a"));
  EXPECT_THAT(e[0].hintNodes, IsEmpty());
  EXPECT_THAT(e[1].hintNodes, ElementsAre("node-b"));
  // Conditions empty, absent, or null: unset, which the selection defaults.
  EXPECT_FALSE(e[1].conditions.ready.has_value());
  EXPECT_FALSE(e[2].conditions.ready.has_value());
  EXPECT_FALSE(e[3].conditions.ready.has_value());
  EXPECT_EQ(e[3].conditions.serving, false);
  EXPECT_EQ(e[3].conditions.terminating, true);
  ASSERT_EQ(sl.ports.size(), 1u);
  EXPECT_EQ(sl.ports[0].port, 8080);
}

TEST(ObjectReaderJson, SliceWithNullEndpointsAndPorts) {
  // An EndpointSlice of a Service with no pods: the API server sends null.
  EndpointSlice sl = slice(R"({"metadata": {"name": "empty-x",
      "labels": {"kubernetes.io/service-name": "empty"}},
      "addressType": "IPv6", "endpoints": null, "ports": null})");
  EXPECT_EQ(sl.addressType, AddressType::kIPv6);
  EXPECT_THAT(sl.endpoints, IsEmpty());
  EXPECT_THAT(sl.ports, IsEmpty());
}

TEST(ObjectReaderJson, WatchEventObjectsCarryKind) {
  // In watch events the object has kind and apiVersion; they must agree.
  auto ok = readItem(R"({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "a"},
      "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}})",
                     kServiceItem);
  EXPECT_TRUE(ok);
  auto wrong =
      readItem(R"({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a"}})", kServiceItem);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().what, "API services: kind: \"Pod\" in a Service");
}

TEST(ObjectReaderJson, TypesAreJsonTypes) {
  // A port as a JSON string is text, not a number; as in kubectl's YAML.
  auto r = readItem(R"({"metadata": {"name": "t"}, "spec": {"clusterIP": "10.96.0.1",
      "ports": [{"port": "80"}]}})",
                    kServiceItem);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what,
            "API services (Service default/t): spec.ports[0].port: must be an integer, not a "
            "string");
  auto b = readItem(R"({"metadata": {"name": "e", "labels": {"kubernetes.io/service-name": "t"}},
      "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"],
      "conditions": {"ready": "true"}}]})",
                    kSliceItem);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().what,
            "API services (EndpointSlice default/e): endpoints[0].conditions.ready: must be true "
            "or false, not a string");
}

TEST(ObjectReaderJson, NodeZoneAndDeletion) {
  auto doc = nlohmann::json::parse(R"({"kind": "Node", "apiVersion": "v1",
      "metadata": {"name": "node-a", "resourceVersion": "7",
                   "labels": {"topology.kubernetes.io/zone": "zone-a", "kubernetes.io/os": "linux"}},
      "spec": {"podCIDR": "10.244.0.0/24"}, "status": {"addresses": []}})");
  auto n = readNode(DocNode(doc), "API nodes");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->name, "node-a");
  EXPECT_EQ(n->labels.at("topology.kubernetes.io/zone"), "zone-a");
  EXPECT_FALSE(n->deleting);
  doc["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z";
  EXPECT_TRUE(readNode(DocNode(doc), "API nodes")->deleting);
}

// The hints read from JSON reach backend selection with the node's zone.
TEST(ObjectReaderJson, HintsNarrowTheDesiredSet) {
  Objects objects;
  auto svc = nlohmann::json::parse(R"({"metadata": {"name": "web"},
      "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}],
               "trafficDistribution": "PreferClose"}})");
  auto sl = nlohmann::json::parse(R"({"metadata": {"name": "web-1",
      "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
      "ports": [{"port": 8080}],
      "endpoints": [{"addresses": ["10.1.0.1"], "hints": {"forZones": [{"name": "zone-a"}]}},
                    {"addresses": ["10.1.0.2"], "hints": {"forZones": [{"name": "zone-b"}]}}]})");
  ASSERT_TRUE(readObject(DocNode(svc), "API", objects, kServiceItem));
  ASSERT_TRUE(readObject(DocNode(sl), "API", objects, kSliceItem));
  auto backendsIn = [&](const std::string& zone) {
    auto want = buildDesiredState(objects, {.nodeName = "n", .proxyName = "", .nodeZone = zone});
    std::vector<std::string> out;
    for (const auto& b : want->services.begin()->second.backends) out.push_back(describe(b.addr));
    return out;
  };
  EXPECT_THAT(backendsIn("zone-a"), ElementsAre("10.1.0.1:8080"));
  EXPECT_THAT(backendsIn("zone-b"), ElementsAre("10.1.0.2:8080"));
  EXPECT_THAT(backendsIn("zone-c"), ElementsAre("10.1.0.1:8080", "10.1.0.2:8080"));
}

}  // namespace
}  // namespace svcrouter
