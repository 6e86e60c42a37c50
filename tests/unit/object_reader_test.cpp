// Objects as the API server sends them (JSON), read by the same readers as
// manifest files: every shape a list or a watch event can carry.
#include "userspace/k8s/object_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "maps/layout/service.h"
#include "userspace/core/desired.h"
#include "userspace/k8s/manifest.h"

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

// The message of reading a Service item that must fail; "" when it is read.
std::string serviceError(const std::string& json) {
  auto r = readItem(json, kServiceItem);
  return r ? "" : r.error().what;
}

IpCidr cidr(const char* addr, uint8_t prefix) { return {ip(addr), prefix}; }

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
  EXPECT_THAT(s.externalIPs, IsEmpty());
  EXPECT_THAT(s.loadBalancerIPs, IsEmpty());
  EXPECT_THAT(s.loadBalancerSourceRanges, IsEmpty());
}

TEST(ObjectReaderJson, NullExternalAddressFieldsAreUnset) {
  Service s = service(R"({"metadata": {"name": "n"},
    "spec": {"clusterIP": "10.96.0.41", "ports": [{"port": 80}], "externalIPs": null,
             "loadBalancerSourceRanges": null},
    "status": {"loadBalancer": {"ingress": null}}})");
  EXPECT_THAT(s.externalIPs, IsEmpty());
  EXPECT_THAT(s.loadBalancerIPs, IsEmpty());
  EXPECT_THAT(s.loadBalancerSourceRanges, IsEmpty());
}

TEST(ObjectReaderJson, ExternalIPsOfBothFamilies) {
  Service s = service(R"({"metadata": {"name": "ext"},
    "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}],
             "externalIPs": ["192.0.2.10", "2001:db8::10", "192.0.2.11"]}})");
  EXPECT_THAT(s.externalIPs, ElementsAre(ip("192.0.2.10"), ip("2001:db8::10"), ip("192.0.2.11")));
}

// kube-proxy serves an ingress ip when its ipMode is unset or VIP (IsVIPMode).
TEST(ObjectReaderJson, LoadBalancerIngressServesVipModeIPs) {
  Service s = service(R"({"metadata": {"name": "lb"},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.60",
             "ports": [{"port": 443, "nodePort": 31443}]},
    "status": {"loadBalancer": {"ingress": [
      {"ip": "203.0.113.10"},
      {"hostname": "lb.example.com"},
      {"ip": "2001:db8::60", "ipMode": "VIP", "ports": [{"port": 443, "protocol": "TCP"}]},
      {"ip": "203.0.113.11", "ipMode": "Proxy"},
      {"ip": "203.0.113.12", "ipMode": "Tunnel"},
      {"ip": "", "hostname": "other.example.com"},
      {"ip": "203.0.113.13", "hostname": "both.example.com", "ipMode": null}]}}})");
  EXPECT_THAT(s.loadBalancerIPs,
              ElementsAre(ip("203.0.113.10"), ip("2001:db8::60"), ip("203.0.113.13")));
}

TEST(ObjectReaderJson, LoadBalancerSourceRangesAreNetworks) {
  Service s = service(R"({"metadata": {"name": "lb"},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.70", "ports": [{"port": 80}],
             "loadBalancerSourceRanges": ["10.0.0.0/8", " 192.168.1.0/24 ", "\t172.16.5.4/12",
                                          "10.1.2.3/16", "10.0.0.200/25", "198.51.100.7/32",
                                          "0.0.0.0/0", "2001:db8::1/64", "fd00::5/127",
                                          "fd00::1/128", "::/0"]}})");
  EXPECT_THAT(s.loadBalancerSourceRanges,
              ElementsAre(cidr("10.0.0.0", 8), cidr("192.168.1.0", 24),  // spaces trimmed
                          cidr("172.16.0.0", 12),                        // host bits masked
                          cidr("10.1.0.0", 16), cidr("10.0.0.128", 25), cidr("198.51.100.7", 32),
                          cidr("0.0.0.0", 0), cidr("2001:db8::", 64), cidr("fd00::4", 127),
                          cidr("fd00::1", 128), cidr("::", 0)));
}

TEST(Cidr, ParseErrorsSayWhatIsWrong) {
  auto error = [](std::string_view text) {
    auto c = parseCidr(text);
    return c ? std::string("(parsed)") : c.error().message();
  };
  EXPECT_EQ(error("10.0.0.0"), "\"10.0.0.0\" is not a CIDR (address/prefix length)");
  EXPECT_EQ(error("10.0.0/8"), "\"10.0.0/8\" is not a CIDR: \"10.0.0\" is not an IP address");
  EXPECT_EQ(error("10.0.0.0/33"),
            "\"10.0.0.0/33\" is not a CIDR: the prefix length must be 0-32 for IPv4");
  EXPECT_EQ(error("fd00::/129"),
            "\"fd00::/129\" is not a CIDR: the prefix length must be 0-128 for IPv6");
  EXPECT_EQ(error("fd00::/"),
            "\"fd00::/\" is not a CIDR: the prefix length must be 0-128 for IPv6");
  EXPECT_EQ(error("primary"), "\"primary\" is not a CIDR (address/prefix length)");
}

TEST(Cidr, ContainsWithinItsFamilyOnly) {
  EXPECT_TRUE(cidr("10.0.0.0", 8).contains(ip("10.255.1.2")));
  EXPECT_FALSE(cidr("10.0.0.0", 8).contains(ip("11.0.0.0")));
  EXPECT_TRUE(cidr("10.0.0.128", 25).contains(ip("10.0.0.255")));
  EXPECT_FALSE(cidr("10.0.0.128", 25).contains(ip("10.0.0.127")));
  EXPECT_TRUE(cidr("0.0.0.0", 0).contains(ip("192.0.2.1")));
  EXPECT_FALSE(cidr("0.0.0.0", 0).contains(ip("fd00::1")));
  EXPECT_FALSE(cidr("::", 0).contains(ip("10.0.0.1")));  // ::ffff:10.0.0.1 is IPv4
  EXPECT_TRUE(cidr("::", 0).contains(ip("fd00::1")));
  EXPECT_TRUE(cidr("fd00::4", 127).contains(ip("fd00::5")));
  EXPECT_FALSE(cidr("fd00::4", 127).contains(ip("fd00::6")));
  EXPECT_TRUE(cidr("198.51.100.7", 32).contains(ip("198.51.100.7")));
  EXPECT_FALSE(cidr("198.51.100.7", 32).contains(ip("198.51.100.6")));
}

TEST(ObjectReaderJson, ExternalAddressErrorsNameTheField) {
  auto withSpec = [](const std::string& fields) {
    return serviceError(R"({"metadata": {"name": "e"}, "spec": {"clusterIP": "10.96.0.1",
        "ports": [{"port": 80}], )" +
                        fields + "}}");
  };
  auto withIngress = [](const std::string& ingress) {
    return serviceError(R"({"metadata": {"name": "e"}, "spec": {"clusterIP": "10.96.0.1",
        "ports": [{"port": 80}]}, "status": {"loadBalancer": {"ingress": )" +
                        ingress + "}}}");
  };
  const std::string at = "API services (Service default/e): ";
  EXPECT_EQ(withSpec(R"("externalIPs": ["192.0.2.1", "192.0.2.300"])"),
            at + "spec.externalIPs[1]: \"192.0.2.300\" is not an IP address");
  EXPECT_EQ(withSpec(R"("externalIPs": ["2001:db8::1/64"])"),
            at + "spec.externalIPs[0]: \"2001:db8::1/64\" is not an IP address");
  EXPECT_EQ(withSpec(R"("externalIPs": "192.0.2.1")"),
            at + "spec.externalIPs: must be a list, not a string");
  EXPECT_EQ(withIngress(R"([{"hostname": "lb.example.com"}, {"ip": "lb.example.com"}])"),
            at + "status.loadBalancer.ingress[1].ip: \"lb.example.com\" is not an IP address");
  // Checked even where the ip would be skipped.
  EXPECT_EQ(withIngress(R"([{"ip": "203.0.113.999", "ipMode": "Proxy"}])"),
            at + "status.loadBalancer.ingress[0].ip: \"203.0.113.999\" is not an IP address");
  EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0"])"),
            at + "spec.loadBalancerSourceRanges[1]: \"10.0.0.0\" is not a CIDR (address/prefix "
                 "length)");
  EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": ["10.0.0.256/8"])"),
            at + "spec.loadBalancerSourceRanges[0]: \"10.0.0.256/8\" is not a CIDR: "
                 "\"10.0.0.256\" is not an IP address");
  EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": [" 10.0.0.0/33 "])"),
            at + "spec.loadBalancerSourceRanges[0]: \"10.0.0.0/33\" is not a CIDR: the prefix "
                 "length must be 0-32 for IPv4");
  EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": ["fd00::/129"])"),
            at + "spec.loadBalancerSourceRanges[0]: \"fd00::/129\" is not a CIDR: the prefix "
                 "length must be 0-128 for IPv6");
  for (const char* prefix : {"", "x", "-1", "+8", "8a", "8/8"}) {
    std::string range = std::string("10.0.0.0/") + prefix;
    EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": [")" + range + "\"]"),
              at + "spec.loadBalancerSourceRanges[0]: \"" + range +
                  "\" is not a CIDR: the prefix length must be 0-32 for IPv4")
        << range;
  }
  EXPECT_EQ(withSpec(R"("loadBalancerSourceRanges": [""])"),
            at + "spec.loadBalancerSourceRanges[0]: required");
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

// A manifest's YAML goes through the same reader.
TEST(ObjectReaderYaml, ExternalAddressesFromAManifest) {
  auto m = parseManifests(R"(apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.80
  ports: [{port: 80}]
  externalIPs: [192.0.2.80, "2001:db8::80"]
  loadBalancerSourceRanges: [" 192.168.1.9/24 ", "2001:db8:1::/48"]
status:
  loadBalancer:
    ingress:
    - {ip: 203.0.113.80, ipMode: VIP}
    - {ip: 203.0.113.81, ipMode: Proxy}
    - {hostname: lb.example.com}
)",
                          "t.yaml");
  ASSERT_TRUE(m) << m.error().message();
  const Service& s = m->services.at(0);
  EXPECT_THAT(s.externalIPs, ElementsAre(ip("192.0.2.80"), ip("2001:db8::80")));
  EXPECT_THAT(s.loadBalancerSourceRanges,
              ElementsAre(cidr("192.168.1.0", 24), cidr("2001:db8:1::", 48)));
  EXPECT_THAT(s.loadBalancerIPs, ElementsAre(ip("203.0.113.80")));

  auto bad = parseManifests(R"(apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {clusterIP: 10.96.0.80, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.x}]}}
)",
                            "t.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().what,
            "t.yaml: document 1 (Service default/lb): status.loadBalancer.ingress[0].ip: "
            "\"203.0.113.x\" is not an IP address");
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

// What the DNS responder reads besides: an ExternalName's name, an
// endpoint's hostname; both checked as Kubernetes validates them.
TEST(ObjectReaderJson, ExternalNameAndHostname) {
  auto ext = service(R"({"metadata": {"name": "ext"},
                         "spec": {"type": "ExternalName", "externalName": "DB.Example.com."}})");
  EXPECT_EQ(ext.type, ServiceType::kExternalName);
  EXPECT_EQ(ext.externalName, "db.example.com");
  EXPECT_EQ(serviceError(R"({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName"}})"),
            "API services (Service default/ext): spec.externalName: required");
  EXPECT_EQ(serviceError(R"({"metadata": {"name": "ext"},
                             "spec": {"type": "ExternalName", "externalName": "a..b"}})"),
            "API services (Service default/ext): spec.externalName: \"a..b\" is not a DNS-1123 "
            "subdomain");
  auto s = slice(R"({"metadata": {"name": "db-1"}, "addressType": "IPv4",
                     "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "db-0"},
                                   {"addresses": ["10.0.0.2"]}]})");
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].hostname, "db-0");
  EXPECT_EQ(s.endpoints[1].hostname, "");
  auto bad = readItem(R"({"metadata": {"name": "db-1"}, "addressType": "IPv4",
                          "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "Db_0"}]})",
                      kSliceItem);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().what,
            "API services (EndpointSlice default/db-1): endpoints[0].hostname: \"Db_0\" is not a "
            "DNS-1123 label");
}

}  // namespace
}  // namespace svcrouter
