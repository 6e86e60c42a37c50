#include "userspace/k8s/manifest.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <ostream>

#include "userspace/k8s/yaml_doc.h"

namespace svcrouter {
namespace {

IpAddr ip(const char* text) { return *IpAddr::parse(text); }

Objects parseOk(const std::string& yaml) {
  auto m = parseManifests(yaml, "t.yaml");
  EXPECT_TRUE(m.has_value()) << m.error().message();
  return m.value_or(Objects{});
}

// ---- Valid input ----------------------------------------------------------

constexpr const char* kValidFile = R"(# Service, EndpointSlice, an empty document and a List.
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: "1"}
  annotations: {note: ignored}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
  - name: dns
    port: 53
    protocol: UDP
    nodePort: 30053
    targetPort: dns
  - name: dns-tcp
    port: 53
    protocol: TCP
  - name: assoc
    port: 9
    protocol: SCTP
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  internalTrafficPolicy: Local
  externalTrafficPolicy: Local
status: {loadBalancer: {}}
---
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: ["10.0.0.1", "10.0.0.9"]
  conditions: {ready: false, serving: true, terminating: yes}
  nodeName: node-a
  zone: z1
  targetRef: {kind: Pod, name: web-1}
- addresses: [10.0.0.2]
ports:
- name: http
  port: 8080
  appProtocol: http
- name: dns
  protocol: UDP
  port: 5353
- name: noport
- name: assoc
  protocol: SCTP
  port: 9
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: dual}
  spec:
    clusterIPs: [fd00::10, 10.96.0.11]
    ipFamilies: [IPv6, IPv4]
    ports: [{port: 443}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: dual-v6, labels: {kubernetes.io/service-name: dual}}
  addressType: IPv6
  endpoints: [{addresses: ["fd00::1"]}]
  ports: [{port: 8443}]
- apiVersion: v1
  kind: Service
  metadata: {name: headless}
  spec: {clusterIP: None, ports: [{port: 80}]}
- apiVersion: v1
  kind: Service
  metadata: {name: ext}
  spec: {type: ExternalName, externalName: example.com, ports: [{port: 0}]}
)";

TEST(ManifestValid, MultiDocumentFile) {
  auto r = parseManifests(kValidFile, "svc.yaml");
  ASSERT_TRUE(r.has_value()) << r.error().message();
  const Objects& m = *r;
  ASSERT_EQ(m.services.size(), 4u);
  ASSERT_EQ(m.slices.size(), 2u);

  const Service& web = m.services[0];
  EXPECT_EQ(web.where, "svc.yaml: document 1");
  EXPECT_EQ(web.ns, "shop");
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.labels, (std::map<std::string, std::string>{{"app", "web"}, {"tier", "1"}}));
  EXPECT_EQ(web.type, ServiceType::kNodePort);
  EXPECT_FALSE(web.headless);
  EXPECT_EQ(web.clusterIPs, std::vector<IpAddr>{ip("10.96.0.10")});
  ASSERT_EQ(web.ports.size(), 3u);  // SCTP dropped
  EXPECT_EQ(web.ports[0].name, "http");
  EXPECT_EQ(web.ports[0].port, 80);
  EXPECT_EQ(web.ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(web.ports[0].nodePort, 0);
  EXPECT_EQ(web.ports[1].name, "dns");
  EXPECT_EQ(web.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(web.ports[1].nodePort, 30053);
  EXPECT_EQ(web.ports[1].specIndex, 1u);
  EXPECT_EQ(web.ports[2].name, "dns-tcp");
  EXPECT_EQ(web.ports[2].specIndex, 2u);
  EXPECT_TRUE(web.affinityClientIP);
  EXPECT_EQ(web.affinityTimeoutSec, 60u);
  EXPECT_EQ(web.internalTrafficPolicy, TrafficPolicy::kLocal);

  const EndpointSlice& s = m.slices[0];
  EXPECT_EQ(s.where, "svc.yaml: document 3");
  EXPECT_EQ(s.ns, "shop");
  EXPECT_EQ(s.name, "web-abc");
  EXPECT_EQ(s.serviceName, "web");
  EXPECT_EQ(s.addressType, AddressType::kIPv4);
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[0].addresses, (std::vector<IpAddr>{ip("10.0.0.1"), ip("10.0.0.9")}));
  EXPECT_EQ(s.endpoints[0].conditions.ready, false);
  EXPECT_EQ(s.endpoints[0].conditions.serving, true);
  EXPECT_EQ(s.endpoints[0].conditions.terminating, true);
  EXPECT_EQ(s.endpoints[0].nodeName, "node-a");
  EXPECT_EQ(s.endpoints[1].addresses, std::vector<IpAddr>{ip("10.0.0.2")});
  ASSERT_EQ(s.ports.size(), 3u);  // SCTP dropped
  EXPECT_EQ(s.ports[0].name, "http");
  EXPECT_EQ(s.ports[0].port, 8080);
  EXPECT_EQ(s.ports[1].protocol, Protocol::kUdp);
  EXPECT_EQ(s.ports[2].name, "noport");
  EXPECT_EQ(s.ports[2].port, std::nullopt);

  const Service& dual = m.services[1];
  EXPECT_EQ(dual.where, "svc.yaml: document 4, items[0]");
  EXPECT_EQ(dual.ns, "default");
  EXPECT_EQ(dual.clusterIPs, (std::vector<IpAddr>{ip("fd00::10"), ip("10.96.0.11")}));
  EXPECT_EQ(m.slices[1].where, "svc.yaml: document 4, items[1]");
  EXPECT_EQ(m.slices[1].addressType, AddressType::kIPv6);

  const Service& headless = m.services[2];
  EXPECT_TRUE(headless.headless);
  EXPECT_TRUE(headless.clusterIPs.empty());
  ASSERT_EQ(headless.ports.size(), 1u);
  EXPECT_EQ(headless.where, "svc.yaml: document 4, items[2]");

  const Service& ext = m.services[3];
  EXPECT_EQ(ext.type, ServiceType::kExternalName);  // ports not validated
  EXPECT_TRUE(ext.clusterIPs.empty());

  EXPECT_EQ(m.warnings, (std::vector<std::string>{
                            "svc.yaml: document 1 (Service shop/web): spec.ports[3]: SCTP is "
                            "not supported; port 9/SCTP skipped",
                            "svc.yaml: document 3 (EndpointSlice shop/web-abc): ports[3]: SCTP "
                            "is not supported; port skipped",
                        }));
}

TEST(ManifestValid, Defaults) {
  Objects m = parseOk(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: ~}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 8080, protocol: null}]
)");
  ASSERT_EQ(m.services.size(), 1u);
  const Service& s = m.services[0];
  EXPECT_EQ(s.ns, "default");
  EXPECT_TRUE(s.labels.empty());
  EXPECT_EQ(s.type, ServiceType::kClusterIP);
  EXPECT_FALSE(s.affinityClientIP);
  EXPECT_EQ(s.affinityTimeoutSec, 10800u);
  EXPECT_EQ(s.internalTrafficPolicy, TrafficPolicy::kCluster);
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].name, "");
  EXPECT_EQ(s.ports[0].protocol, Protocol::kTcp);
  EXPECT_EQ(s.ports[0].nodePort, 0);

  ASSERT_EQ(m.slices.size(), 1u);
  const EndpointSlice& e = m.slices[0];
  EXPECT_EQ(e.ns, "default");
  EXPECT_EQ(e.serviceName, "");
  const EndpointConditions& c = e.endpoints.at(0).conditions;
  EXPECT_EQ(c.ready, std::nullopt);
  EXPECT_EQ(c.serving, std::nullopt);
  EXPECT_EQ(c.terminating, std::nullopt);
  EXPECT_EQ(e.endpoints[0].nodeName, "");
  EXPECT_EQ(e.ports.at(0).name, "");
  EXPECT_EQ(e.ports[0].protocol, Protocol::kTcp);
  EXPECT_TRUE(m.warnings.empty());
}

TEST(ManifestValid, EmptyInputs) {
  for (const char* yaml : {"", "# nothing\n", "---\n", "---\n---\n", "~\n"}) {
    Objects m = parseOk(yaml);
    EXPECT_TRUE(m.services.empty() && m.slices.empty()) << yaml;
  }
}

TEST(ManifestValid, TypedListsSupplyKindAndApiVersion) {
  // The API server omits kind and apiVersion in the items of a ServiceList.
  Objects m = parseOk(R"(
apiVersion: v1
kind: ServiceList
items:
- metadata: {name: a}
  spec: {clusterIP: 10.96.0.1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSliceList
items:
- metadata: {name: a-1, labels: {kubernetes.io/service-name: a}}
  addressType: IPv4
- kind: EndpointSlice
  apiVersion: discovery.k8s.io/v1
  metadata: {name: a-2}
  addressType: FQDN
  endpoints: [{addresses: [db.example.com]}]
)");
  ASSERT_EQ(m.services.size(), 1u);
  EXPECT_EQ(m.services[0].where, "t.yaml: document 1, items[0]");
  ASSERT_EQ(m.slices.size(), 2u);
  EXPECT_EQ(m.slices[1].where, "t.yaml: document 2, items[1]");
  EXPECT_EQ(m.slices[1].addressType, AddressType::kFQDN);
  EXPECT_TRUE(m.slices[1].endpoints.at(0).addresses.empty());  // names are not kept
}

TEST(ManifestValid, ClusterIPForms) {
  Objects m = parseOk(R"(
apiVersion: v1
kind: Service
metadata: {name: only-list}
spec: {clusterIPs: ["10.96.0.1", "fd00::1"]}
---
apiVersion: v1
kind: Service
metadata: {name: both}
spec: {clusterIP: "fd00::2", clusterIPs: ["fd00::2", "10.96.0.2"], ipFamilies: [IPv6, IPv4]}
---
apiVersion: v1
kind: Service
metadata: {name: headless-list}
spec: {clusterIPs: [None]}
---
apiVersion: v1
kind: Service
metadata: {name: empty-list}
spec: {clusterIP: 10.96.0.3, clusterIPs: []}
)");
  ASSERT_EQ(m.services.size(), 4u);
  EXPECT_EQ(m.services[0].clusterIPs, (std::vector<IpAddr>{ip("10.96.0.1"), ip("fd00::1")}));
  EXPECT_EQ(m.services[1].clusterIPs, (std::vector<IpAddr>{ip("fd00::2"), ip("10.96.0.2")}));
  EXPECT_TRUE(m.services[2].headless);
  EXPECT_EQ(m.services[3].clusterIPs, std::vector<IpAddr>{ip("10.96.0.3")});
}

TEST(ManifestFile, ReadsAFile) {
  std::string path = testing::TempDir() + "/svcr_manifest_test.yaml";
  std::ofstream(path) << kValidFile;
  auto m = readManifestFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_EQ(m->services.at(0).where, path + ": document 1");
}

TEST(ManifestFile, UnreadableFiles) {
  auto missing = readManifestFile("/nonexistent/svc.yaml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().what, "cannot read /nonexistent/svc.yaml");
  EXPECT_EQ(missing.error().err, ENOENT);

  auto dir = readManifestFile(testing::TempDir());
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().what, "cannot read " + testing::TempDir());
  EXPECT_EQ(dir.error().err, EISDIR);
}

// ---- Invalid input: one exact message each --------------------------------

// A valid first document, so every bad object below is document 2.
constexpr const char* kFirst = R"(apiVersion: v1
kind: Service
metadata: {name: ok}
spec: {clusterIP: 10.96.0.1}
---
)";

std::string service(const std::string& spec) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n" + spec;
}
std::string slice(const std::string& body) {
  return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-abc}\n" + body;
}
constexpr const char* kIp = "  clusterIP: 10.96.0.10\n";

// Message prefixes of the bad Service and EndpointSlice.
const std::string kSvc = "t.yaml: document 2 (Service default/web): ";
const std::string kEps = "t.yaml: document 2 (EndpointSlice default/web-abc): ";

struct BadCase {
  std::string name;
  std::string doc;  // document 2
  std::string message;
};
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class ManifestInvalid : public testing::TestWithParam<BadCase> {};

TEST_P(ManifestInvalid, ExactMessage) {
  const BadCase& c = GetParam();
  auto r = parseManifests(std::string(kFirst) + c.doc, "t.yaml");
  ASSERT_FALSE(r.has_value()) << "accepted:\n" << c.doc;
  EXPECT_EQ(r.error().what, c.message);
  EXPECT_EQ(r.error().err, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Document, ManifestInvalid,
    testing::Values(
        BadCase{"BadYaml", "a: [1, 2\nb: 3\n",
                "t.yaml: line 7, column 2: invalid YAML: did not find expected ',' or ']' (while "
                "parsing a flow sequence at line 6, column 4)"},
        BadCase{"BadYamlIndent", "a: 1\n  b: 2\n",
                "t.yaml: line 7, column 4: invalid YAML: mapping values are not allowed in this "
                "context"},
        BadCase{"UndefinedAlias", "a: *b\n",
                "t.yaml: line 6, column 4: invalid YAML: found undefined alias"},
        // libyaml's own loader would take seconds (quadratic in the depth)
        // on this 200 KB line; the reader stops at the 257th level (the
        // document's root map is the first).
        BadCase{"NestedTooDeep", "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n",
                "t.yaml: line 6, column 259: invalid YAML: nested more than 256 collections "
                "deep"},
        BadCase{"NestedTooDeepInBlocks",
                [] {
                  std::string deep;
                  for (int i = 0; i < 300; ++i) deep += std::string(i, ' ') + "- \n";
                  return deep;
                }(),
                "t.yaml: line 262, column 257: invalid YAML: nested more than 256 collections "
                "deep"},
        BadCase{"NotAMap", "- 1\n",
                "t.yaml: document 2: must be a map (a Kubernetes object), not a list"},
        BadCase{"MissingKind", "apiVersion: v1\nmetadata: {name: web}\n",
                "t.yaml: document 2: kind: required"},
        BadCase{"MissingApiVersion", "kind: Service\nmetadata: {name: web}\n",
                "t.yaml: document 2: apiVersion: required"},
        BadCase{"KindNotString", "apiVersion: v1\nkind: [Service]\n",
                "t.yaml: document 2: kind: must be a string, not a list"},
        BadCase{"UnknownKind", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
                "t.yaml: document 2: kind: \"Deployment\" is not Service, EndpointSlice, List, "
                "ServiceList or EndpointSliceList"},
        BadCase{"ServiceApiVersion",
                "apiVersion: v2\nkind: Service\nmetadata: {name: web}\nspec: {}\n",
                kSvc + "apiVersion: \"v2\" is not v1 (the version of Service svcrouter reads)"},
        BadCase{"SliceApiVersion",
                "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: "
                "web-abc}\naddressType: IPv4\n",
                kEps + "apiVersion: \"discovery.k8s.io/v1beta1\" is not discovery.k8s.io/v1 (the "
                       "version of EndpointSlice svcrouter reads)"},
        BadCase{"MissingName", "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\n",
                "t.yaml: document 2: metadata.name: required"},
        BadCase{"MissingMetadata", "apiVersion: v1\nkind: Service\nspec: {}\n",
                "t.yaml: document 2: metadata.name: required"},
        BadCase{"MetadataNotMap", "apiVersion: v1\nkind: Service\nmetadata: [web]\n",
                "t.yaml: document 2: metadata: must be a map, not a list"},
        BadCase{"NameNotDns1035", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n",
                "t.yaml: document 2 (Service default/1web): metadata.name: \"1web\" is not a "
                "DNS-1035 label (at most 63 characters: lowercase letters, digits and '-', "
                "starting with a letter)"},
        BadCase{"NameTooLong",
                "apiVersion: v1\nkind: Service\nmetadata: {name: " + std::string(64, 'a') + "}\n",
                "t.yaml: document 2 (Service default/" + std::string(64, 'a') +
                    "): metadata.name: \"" + std::string(64, 'a') +
                    "\" is not a DNS-1035 label (at most 63 characters: lowercase letters, digits "
                    "and '-', starting with a letter)"},
        BadCase{"BadNamespace",
                "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: Prod}\n",
                "t.yaml: document 2 (Service Prod/web): metadata.namespace: \"Prod\" is not a "
                "DNS-1123 label"},
        BadCase{"LabelNotString",
                "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {app: {x: 1}}}\n",
                kSvc + "metadata.labels[app]: must be a string, not a map"},
        BadCase{"SpecNotMap", service("  - 1\n"), kSvc + "spec: must be a map, not a list"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Service, ManifestInvalid,
    testing::Values(
        BadCase{"BadType", service("  type: Foo\n"),
                kSvc + "spec.type: \"Foo\" is not ClusterIP, NodePort, LoadBalancer or "
                       "ExternalName"},
        BadCase{"MissingClusterIP", service("  ports: [{port: 80}]\n"),
                kSvc + "spec.clusterIP: required: svcrouter has no IP allocator, so every "
                       "Service that is not headless or ExternalName needs an explicit clusterIP"},
        BadCase{"EmptyClusterIP", service("  clusterIP: \"\"\n"),
                kSvc + "spec.clusterIP: required: svcrouter has no IP allocator, so every "
                       "Service that is not headless or ExternalName needs an explicit clusterIP"},
        BadCase{"MalformedClusterIP", service("  clusterIP: 10.96.0.300\n"),
                kSvc + "spec.clusterIP: \"10.96.0.300\" is not an IP address"},
        BadCase{"CidrClusterIP", service("  clusterIP: 10.96.0.0/12\n"),
                kSvc + "spec.clusterIP: \"10.96.0.0/12\" is not an IP address"},
        BadCase{"ClusterIPNotString", service("  clusterIP: {a: b}\n"),
                kSvc + "spec.clusterIP: must be a string, not a map"},
        BadCase{"ClusterIPsMismatch",
                service("  clusterIP: 10.96.0.10\n  clusterIPs: [10.96.0.11]\n"),
                kSvc + "spec.clusterIPs[0]: 10.96.0.11 does not match spec.clusterIP 10.96.0.10"},
        BadCase{"ClusterIPsSameFamily", service("  clusterIPs: [10.96.0.10, 10.96.0.11]\n"),
                kSvc + "spec.clusterIPs[1]: 10.96.0.11 is IPv4 like spec.clusterIPs[0]; "
                       "dual-stack needs one IP of each family"},
        BadCase{"ClusterIPsTooMany", service("  clusterIPs: [10.96.0.10, fd00::1, 10.96.0.11]\n"),
                kSvc + "spec.clusterIPs: has 3 entries, at most 2 allowed"},
        BadCase{"ClusterIPsMalformed", service("  clusterIPs: [10.96.0.10, \"fd00::1/64\"]\n"),
                kSvc + "spec.clusterIPs[1]: \"fd00::1/64\" is not an IP address"},
        BadCase{"ClusterIPsNotList", service("  clusterIPs: 10.96.0.10\n"),
                kSvc + "spec.clusterIPs: must be a list, not a scalar"},
        BadCase{"IpFamiliesOrder",
                service("  clusterIPs: [10.96.0.10, fd00::1]\n  ipFamilies: [IPv6, IPv4]\n"),
                kSvc + "spec.ipFamilies: [IPv6, IPv4] does not match the families of the "
                       "cluster IPs [IPv4, IPv6]"},
        BadCase{"IpFamiliesLength",
                service("  clusterIP: 10.96.0.10\n  ipFamilies: [IPv4, IPv6]\n"),
                kSvc + "spec.ipFamilies: [IPv4, IPv6] does not match the families of the "
                       "cluster IPs [IPv4]"},
        BadCase{"IpFamiliesWrong", service("  clusterIP: fd00::1\n  ipFamilies: [IPv4]\n"),
                kSvc + "spec.ipFamilies: [IPv4] does not match the families of the cluster IPs "
                       "[IPv6]"},
        BadCase{"IpFamiliesUnknown", service(std::string(kIp) + "  ipFamilies: [IPv5]\n"),
                kSvc + "spec.ipFamilies[0]: \"IPv5\" is not IPv4 or IPv6"},
        BadCase{"PortZero", service(std::string(kIp) + "  ports: [{port: 0}]\n"),
                kSvc + "spec.ports[0].port: 0 is outside 1-65535"},
        BadCase{"Port70000", service(std::string(kIp) + "  ports: [{port: 70000}]\n"),
                kSvc + "spec.ports[0].port: 70000 is outside 1-65535"},
        BadCase{"PortNegative", service(std::string(kIp) + "  ports: [{port: -80}]\n"),
                kSvc + "spec.ports[0].port: -80 is outside 1-65535"},
        BadCase{"PortHuge", service(std::string(kIp) + "  ports: [{port: 99999999999999999999}]\n"),
                kSvc + "spec.ports[0].port: 99999999999999999999 is outside 1-65535"},
        BadCase{"PortEighty", service(std::string(kIp) + "  ports: [{port: eighty}]\n"),
                kSvc + "spec.ports[0].port: \"eighty\" is not an integer"},
        BadCase{"PortFloat", service(std::string(kIp) + "  ports: [{port: 80.5}]\n"),
                kSvc + "spec.ports[0].port: \"80.5\" is not an integer"},
        BadCase{"PortQuoted", service(std::string(kIp) + "  ports: [{port: \"80\"}]\n"),
                kSvc + "spec.ports[0].port: must be an integer, not a string"},
        BadCase{"NodePortQuoted",
                service(std::string(kIp) + "  ports: [{port: 80, nodePort: \"30080\"}]\n"),
                kSvc + "spec.ports[0].nodePort: must be an integer, not a string"},
        BadCase{"AffinityTimeoutQuoted",
                service(std::string(kIp) +
                        "  sessionAffinityConfig: {clientIP: {timeoutSeconds: '60'}}\n"),
                kSvc + "spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be an integer, "
                       "not a string"},
        BadCase{"PortMap", service(std::string(kIp) + "  ports: [{port: {n: 80}}]\n"),
                kSvc + "spec.ports[0].port: must be an integer, not a map"},
        BadCase{"PortMissing", service(std::string(kIp) + "  ports: [{name: http}]\n"),
                kSvc + "spec.ports[0].port: required"},
        BadCase{"PortsNotList", service(std::string(kIp) + "  ports: {port: 80}\n"),
                kSvc + "spec.ports: must be a list, not a map"},
        BadCase{"PortItemNotMap", service(std::string(kIp) + "  ports: [80]\n"),
                kSvc + "spec.ports[0]: must be a map, not a scalar"},
        BadCase{"UnknownProtocol",
                service(std::string(kIp) + "  ports: [{port: 80, protocol: ICMP}]\n"),
                kSvc + "spec.ports[0].protocol: unknown protocol \"ICMP\" (TCP, UDP or SCTP)"},
        BadCase{"LowercaseProtocol",
                service(std::string(kIp) + "  ports: [{port: 80, protocol: tcp}]\n"),
                kSvc + "spec.ports[0].protocol: unknown protocol \"tcp\" (TCP, UDP or SCTP)"},
        BadCase{"DuplicatePort",
                service(std::string(kIp) +
                        "  ports: [{name: a, port: 80}, {name: b, port: 53, protocol: UDP}, "
                        "{name: c, port: 80, protocol: TCP}]\n"),
                kSvc + "spec.ports[2]: 80/TCP is also spec.ports[0]"},
        BadCase{"DuplicateSctpPort",
                service(std::string(kIp) +
                        "  ports: [{name: a, port: 9, protocol: SCTP}, {name: b, port: 9, "
                        "protocol: SCTP}]\n"),
                kSvc + "spec.ports[1]: 9/SCTP is also spec.ports[0]"},
        BadCase{"UnnamedMultiPort",
                service(std::string(kIp) + "  ports: [{name: a, port: 80}, {port: 81}]\n"),
                kSvc + "spec.ports[1].name: required when a Service has more than one port"},
        BadCase{"FirstUnnamedMultiPort",
                service(std::string(kIp) + "  ports: [{port: 80}, {name: b, port: 81}]\n"),
                kSvc + "spec.ports[0].name: required when a Service has more than one port"},
        BadCase{"DuplicatePortName",
                service(std::string(kIp) + "  ports: [{name: a, port: 80}, {name: a, port: 81}]\n"),
                kSvc + "spec.ports[1].name: \"a\" is also the name of spec.ports[0]"},
        BadCase{"NodePort", service(std::string(kIp) + "  ports: [{port: 80, nodePort: 70000}]\n"),
                kSvc + "spec.ports[0].nodePort: 70000 is outside 1-65535"},
        BadCase{"TargetPortMap",
                service(std::string(kIp) + "  ports: [{port: 80, targetPort: {a: 1}}]\n"),
                kSvc + "spec.ports[0].targetPort: must be an integer or a string, not a map"},
        BadCase{"SessionAffinity", service(std::string(kIp) + "  sessionAffinity: Sticky\n"),
                kSvc + "spec.sessionAffinity: \"Sticky\" is not None or ClientIP"},
        BadCase{"AffinityTimeout0",
                service(std::string(kIp) +
                        "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: "
                        "{timeoutSeconds: 0}}\n"),
                kSvc + "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is outside 1-86400"},
        BadCase{"AffinityTimeout86401",
                service(std::string(kIp) +
                        "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: "
                        "{timeoutSeconds: 86401}}\n"),
                kSvc + "spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 is outside "
                       "1-86400"},
        BadCase{"AffinityConfigNotMap",
                service(std::string(kIp) + "  sessionAffinityConfig: {clientIP: 5}\n"),
                kSvc + "spec.sessionAffinityConfig.clientIP: must be a map, not a scalar"},
        BadCase{"InternalTrafficPolicy",
                service(std::string(kIp) + "  internalTrafficPolicy: Node\n"),
                kSvc + "spec.internalTrafficPolicy: \"Node\" is not Cluster or Local"},
        BadCase{"ExternalTrafficPolicy",
                service(std::string(kIp) + "  externalTrafficPolicy: Global\n"),
                kSvc + "spec.externalTrafficPolicy: \"Global\" is not Cluster or Local"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    EndpointSlice, ManifestInvalid,
    testing::Values(
        BadCase{"MissingAddressType", slice("endpoints: []\n"), kEps + "addressType: required"},
        BadCase{"BadAddressType", slice("addressType: IPv5\n"),
                kEps + "addressType: \"IPv5\" is not IPv4, IPv6 or FQDN"},
        BadCase{"BadName",
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: "
                "Web_abc}\naddressType: IPv4\n",
                "t.yaml: document 2 (EndpointSlice default/Web_abc): metadata.name: \"Web_abc\" "
                "is not a DNS-1123 subdomain"},
        BadCase{"V6InV4Slice",
                slice("addressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n- addresses: "
                      "[10.0.0.2, \"fd00::1\"]\n"),
                kEps + "endpoints[1].addresses[1]: fd00::1 is an IPv6 address in an IPv4 slice"},
        BadCase{"V4InV6Slice", slice("addressType: IPv6\nendpoints: [{addresses: [10.0.0.1]}]\n"),
                kEps + "endpoints[0].addresses[0]: 10.0.0.1 is an IPv4 address in an IPv6 slice"},
        BadCase{"MalformedAddress",
                slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.300]}]\n"),
                kEps + "endpoints[0].addresses[0]: \"10.0.0.300\" is not an IPv4 address"},
        BadCase{"EmptyAddresses",
                slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}, {addresses: []}]\n"),
                kEps + "endpoints[1].addresses: must have at least one address"},
        BadCase{"MissingAddresses", slice("addressType: IPv4\nendpoints: [{nodeName: a}]\n"),
                kEps + "endpoints[0].addresses: must have at least one address"},
        BadCase{"EndpointsNotList", slice("addressType: IPv4\nendpoints: {addresses: []}\n"),
                kEps + "endpoints: must be a list, not a map"},
        BadCase{"ReadyQuoted",
                slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: "
                      "{ready: \"true\"}}]\n"),
                kEps + "endpoints[0].conditions.ready: must be true or false, not a string"},
        BadCase{"TerminatingNotBool",
                slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: "
                      "{terminating: maybe}}]\n"),
                kEps + "endpoints[0].conditions.terminating: must be true or false, not \"maybe\""},
        BadCase{"EndpointPortZero", slice("addressType: IPv4\nports: [{name: a, port: 0}]\n"),
                kEps + "ports[0].port: 0 is outside 1-65535"},
        BadCase{"EndpointPort70000",
                slice("addressType: IPv4\nports: [{name: a, port: 1}, {name: b, port: 70000}]\n"),
                kEps + "ports[1].port: 70000 is outside 1-65535"},
        BadCase{"EndpointPortText", slice("addressType: IPv4\nports: [{port: http}]\n"),
                kEps + "ports[0].port: \"http\" is not an integer"},
        BadCase{"EndpointPortQuoted", slice("addressType: IPv4\nports: [{port: \"8080\"}]\n"),
                kEps + "ports[0].port: must be an integer, not a string"},
        BadCase{"EndpointPortProtocol",
                slice("addressType: IPv4\nports: [{port: 80, protocol: QUIC}]\n"),
                kEps + "ports[0].protocol: unknown protocol \"QUIC\" (TCP, UDP or SCTP)"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    List, ManifestInvalid,
    testing::Values(
        BadCase{"ItemIndexInMessage",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  "
                "metadata: {name: a}\n  spec: {clusterIP: 10.96.0.2}\n- apiVersion: v1\n  kind: "
                "Service\n  metadata: {name: b, namespace: shop}\n  spec: {clusterIP: 10.96.0.3, "
                "ports: [{port: 0}]}\n",
                "t.yaml: document 2, items[1] (Service shop/b): spec.ports[0].port: 0 is outside "
                "1-65535"},
        BadCase{"ItemSliceField",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: discovery.k8s.io/v1\n  kind: "
                "EndpointSlice\n  metadata: {name: s}\n  addressType: IPv4\n  endpoints: "
                "[{addresses: [10.0.0.1]}, {addresses: [x]}]\n",
                "t.yaml: document 2, items[0] (EndpointSlice default/s): "
                "endpoints[1].addresses[0]: \"x\" is not an IPv4 address"},
        BadCase{"ItemWithoutKind",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: a}\n",
                "t.yaml: document 2, items[0]: kind: required"},
        BadCase{"ItemNotMap", "apiVersion: v1\nkind: List\nitems: [5]\n",
                "t.yaml: document 2, items[0]: must be a map (a Kubernetes object), not a scalar"},
        BadCase{"NestedList",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
                "t.yaml: document 2, items[0]: kind: \"List\" is not Service, EndpointSlice "
                "(Lists do not nest)"},
        BadCase{"WrongItemKind",
                "apiVersion: v1\nkind: ServiceList\nitems:\n- kind: EndpointSlice\n  metadata: "
                "{name: a}\n",
                "t.yaml: document 2, items[0]: kind: \"EndpointSlice\" in a ServiceList"},
        BadCase{"ListApiVersion", "apiVersion: v2\nkind: List\nitems: []\n",
                "t.yaml: document 2: apiVersion: \"v2\" is not v1 (the version of List svcrouter "
                "reads)"},
        BadCase{"SliceListApiVersion", "apiVersion: v1\nkind: EndpointSliceList\nitems: []\n",
                "t.yaml: document 2: apiVersion: \"v1\" is not discovery.k8s.io/v1 (the version of "
                "EndpointSliceList svcrouter reads)"},
        BadCase{"ItemsNotList", "apiVersion: v1\nkind: List\nitems: {a: b}\n",
                "t.yaml: document 2: items: must be a list, not a map"}),
    [](const testing::TestParamInfo<BadCase>& info) { return info.param.name; });

// ---- YAML scalars, nulls and aliases ------------------------------------------

// 256 levels of collections are read (the limit is on more).
TEST(ManifestYaml, NestingUpToTheLimitIsRead) {
  std::string deep =
      "apiVersion: v1\nkind: Service\nmetadata: {name: web, annotations: {a: b}}\n"
      "spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\nx: " +
      std::string(255, '[') + std::string(255, ']') + "\n";
  auto m = parseManifests(deep, "t.yaml");
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_EQ(m->services.size(), 1u);
}

std::string errorOf(const std::string& yaml) {
  auto r = parseManifests(yaml, "t.yaml");
  return r.has_value() ? "accepted" : r.error().what;
}

TEST(ManifestYaml, EmptyView) {
  // A default string_view has no data pointer; libyaml must not see a null input.
  auto m = parseManifests(std::string_view(), "t.yaml");
  ASSERT_TRUE(m.has_value()) << m.error().message();
  EXPECT_TRUE(m->services.empty() && m->slices.empty());
}

TEST(ManifestYaml, QuotedIntegersAreStrings) {
  // An integer field takes a plain scalar only, as the API server takes a
  // JSON number only: "80" in any quoting is a string.
  std::string head = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n" +
                     std::string(kIp) + "  ports:\n";
  const std::string want =
      "t.yaml: document 1 (Service default/web): spec.ports[0].port: must be "
      "an integer, not a string";
  EXPECT_EQ(errorOf(head + "  - port: \"80\"\n"), want);
  EXPECT_EQ(errorOf(head + "  - port: '80'\n"), want);
  EXPECT_EQ(errorOf(head + "  - port: |\n      80\n"), want);
  EXPECT_EQ(errorOf(head + "  - port: >-\n      80\n"), want);
  // An explicit integer tag makes the quoted text an integer (YAML 1.1).
  Objects m = parseOk(head + "  - port: !!int \"80\"\n");
  EXPECT_EQ(m.services.at(0).ports.at(0).port, 80);
}

TEST(ManifestYaml, Yaml11Booleans) {
  // The YAML 1.1 spellings: lowercase, UPPERCASE or Capitalized.
  const std::vector<std::pair<std::string, bool>> valid = {
      {"true", true}, {"True", true},   {"TRUE", true},   {"yes", true},    {"Yes", true},
      {"YES", true},  {"y", true},      {"Y", true},      {"on", true},     {"On", true},
      {"ON", true},   {"false", false}, {"False", false}, {"FALSE", false}, {"no", false},
      {"No", false},  {"NO", false},    {"n", false},     {"N", false},     {"off", false},
      {"Off", false}, {"OFF", false}};
  for (const auto& [text, value] : valid) {
    Objects m =
        parseOk(slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], "
                      "conditions: {ready: " +
                      text + ", serving: " + text + ", terminating: " + text + "}}]\n"));
    ASSERT_EQ(m.slices.size(), 1u) << text;
    const EndpointConditions& c = m.slices[0].endpoints.at(0).conditions;
    EXPECT_EQ(c.ready, value) << text;
    EXPECT_EQ(c.serving, value) << text;
    EXPECT_EQ(c.terminating, value) << text;
  }
  for (const std::string text : {"tRUE", "yEs", "1", "0", "enabled", "\"true\"", "'no'"}) {
    std::string got = text[0] == '"' || text[0] == '\'' ? "a string" : "\"" + text + "\"";
    EXPECT_EQ(errorOf(slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: "
                            "{ready: " +
                            text + "}}]\n")),
              "t.yaml: document 1 (EndpointSlice default/web-abc): "
              "endpoints[0].conditions.ready: must be true or false, not " +
                  got)
        << text;
  }
}

TEST(ManifestYaml, NullMeansUnset) {
  for (const std::string null : {"~", "null", "Null", "NULL", ""}) {
    std::string v = " " + null;  // "key: " with nothing after it is null too
    Objects m = parseOk("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace:" + v +
                        "\n  labels:\n    app:" + v + "\nspec:\n  type:" + v +
                        "\n  clusterIP: 10.96.0.10\n  ports:\n  - port: 80\n    protocol:" + v +
                        "\n    nodePort:" + v + "\n    name:" + v + "\n  sessionAffinity:" + v +
                        "\n  sessionAffinityConfig: {clientIP: {timeoutSeconds:" + v + "}}\n---\n" +
                        slice("addressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  "
                              "conditions: {ready:" +
                              v + "}\n  nodeName:" + v + "\nports:\n- port:" + v + "\n"));
    ASSERT_EQ(m.services.size(), 1u) << null;
    const Service& s = m.services[0];
    EXPECT_EQ(s.ns, "default") << null;
    EXPECT_EQ(s.labels, (std::map<std::string, std::string>{{"app", ""}})) << null;
    EXPECT_EQ(s.type, ServiceType::kClusterIP) << null;
    ASSERT_EQ(s.ports.size(), 1u) << null;
    EXPECT_EQ(s.ports[0].protocol, Protocol::kTcp) << null;
    EXPECT_EQ(s.ports[0].nodePort, 0) << null;
    EXPECT_EQ(s.ports[0].name, "") << null;
    EXPECT_FALSE(s.affinityClientIP) << null;
    EXPECT_EQ(s.affinityTimeoutSec, 10800u) << null;
    ASSERT_EQ(m.slices.size(), 1u) << null;
    const EndpointSlice& e = m.slices[0];
    EXPECT_EQ(e.endpoints.at(0).conditions.ready, std::nullopt) << null;
    EXPECT_EQ(e.endpoints[0].nodeName, "") << null;
    EXPECT_EQ(e.ports.at(0).port, std::nullopt) << null;

    // A required field given as null is missing.
    EXPECT_EQ(errorOf("apiVersion: v1\nkind: Service\nmetadata: {name:" + v + "}\n"),
              "t.yaml: document 1: metadata.name: required")
        << null;
    EXPECT_EQ(errorOf(service(std::string(kIp) + "  ports:\n  - port:" + v + "\n")),
              "t.yaml: document 1 (Service default/web): spec.ports[0].port: required")
        << null;
  }
  // Quoted, the same text is a string; other spellings are not null.
  Objects m = parseOk(
      "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: \"null\"}\nspec: "
      "{clusterIP: 10.96.0.10}\n---\n" +
      slice("addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], nodeName: '~'}, {addresses: "
            "[10.0.0.2], nodeName: nUll}]\n"));
  EXPECT_EQ(m.services.at(0).ns, "null");
  EXPECT_EQ(m.slices.at(0).endpoints.at(0).nodeName, "~");
  EXPECT_EQ(m.slices[0].endpoints.at(1).nodeName, "nUll");
}

TEST(ManifestYaml, AnchorsAndAliases) {
  Objects m = parseOk(R"(
apiVersion: v1
kind: List
items:
- apiVersion: &v1 v1
  kind: Service
  metadata: {name: web, labels: &labels {app: web, kubernetes.io/service-name: web}}
  spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: &port 80, nodePort: &np 30080}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1, labels: *labels}
  addressType: IPv4
  endpoints:
  - &ep {addresses: [10.0.0.1], conditions: &ready {ready: true}, nodeName: node-a}
  - *ep
  - {addresses: [10.0.0.2], conditions: *ready}
  ports: [{name: http, port: *port}]
- apiVersion: *v1
  kind: Service
  metadata: {name: other}
  spec: {clusterIP: 10.96.0.11, ports: [{port: 81, nodePort: *np}]}
)");
  ASSERT_EQ(m.services.size(), 2u);
  EXPECT_EQ(m.services[0].ports.at(0).port, 80);
  EXPECT_EQ(m.services[1].ports.at(0).nodePort, 30080);
  ASSERT_EQ(m.slices.size(), 1u);
  const EndpointSlice& s = m.slices[0];
  EXPECT_EQ(s.serviceName, "web");
  EXPECT_EQ(s.labels, m.services[0].labels);
  ASSERT_EQ(s.endpoints.size(), 3u);
  EXPECT_EQ(s.endpoints[1].addresses, std::vector<IpAddr>{ip("10.0.0.1")});
  EXPECT_EQ(s.endpoints[1].nodeName, "node-a");
  EXPECT_EQ(s.endpoints[2].conditions.ready, true);
  EXPECT_EQ(s.ports.at(0).port, 80);

  // An aliased value is checked where it is used, and named by that path.
  EXPECT_EQ(errorOf(service("  clusterIP: &ip 10.96.0.10\n  ports: [{port: *ip}]\n")),
            "t.yaml: document 1 (Service default/web): spec.ports[0].port: \"10.96.0.10\" is not "
            "an integer");
  // A quoted scalar stays a string through an alias.
  EXPECT_EQ(errorOf("apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {a: &q "
                    "\"80\"}}\nspec: {clusterIP: 10.96.0.10, ports: [{port: *q}]}\n"),
            "t.yaml: document 1 (Service default/web): spec.ports[0].port: must be an integer, "
            "not a string");
  // Anchors belong to their document.
  EXPECT_EQ(errorOf("apiVersion: &v v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: "
                    "10.96.0.1}\n---\napiVersion: *v\n"),
            "t.yaml: line 6, column 13: invalid YAML: found undefined alias");
}

}  // namespace
}  // namespace svcrouter

namespace svcrouter {
namespace {

// ---- Bounds on hostile input (YamlLimits) ------------------------------------

std::string loadError(const std::string& yaml, const YamlLimits& limits) {
  auto r = YamlStream::load(yaml, limits);
  return r ? "accepted" : r.error().what;
}

// `count` documents "a: xxx", each of `size` characters with the line
// "---" that starts it.
std::string documents(size_t count, size_t size) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += "---\na: " + std::string(size - 8, 'x') + "\n";
  return out;
}

TEST(ManifestBounds, ADocumentOverTheLimitIsRefusedNamingItAndItsLine) {
  YamlLimits limits;
  limits.documentSize = 1000;
  // Document 4 starts with its "---", on line 7.
  std::string yaml = documents(3, 900) + "---\nb: [\n" + std::string(2000, ' ') + "\n1]\n";
  EXPECT_EQ(loadError(yaml, limits),
            "document 4 (line 7): larger than 1000 bytes at line 10; split it into smaller "
            "documents");
  // The limit is per document: a file of many documents under it is read.
  auto many = YamlStream::load(documents(100, 900), limits);
  ASSERT_TRUE(many) << many.error().what;
  EXPECT_EQ(many->size(), 100u);
}

TEST(ManifestBounds, AScalarOverTheLimitIsRefused) {
  YamlLimits limits;
  limits.scalarSize = 100;
  EXPECT_EQ(loadError("a: 1\n---\nb:\n  c: " + std::string(101, 'x') + "\n", limits),
            "document 2 (line 2): a scalar larger than 100 bytes at line 4");
  EXPECT_EQ(loadError("a: " + std::string(100, 'x') + "\n", limits), "accepted");
  // The real limit, through the manifest reader: the file is named too.
  auto big = parseManifests(
      "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
      "  annotations: {a: \"" +
          std::string(YamlLimits::kMaxScalarSize + 1, 'x') + "\"}\n",
      "t.yaml");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().what, "t.yaml: document 1 (line 1): a scalar larger than 2 MiB at line 5");
}

// Aliases count as the text of the node they repeat: a small file whose
// aliases would make it billions of nodes ("billion laughs") is refused at
// once, before anything reads it, and so is an alias inside its own node.
TEST(ManifestBounds, AliasesCountAsWhatTheyRepeat) {
  YamlLimits limits;
  limits.documentSize = 1000;
  // 20 characters repeated 4 times, then those 4 more times: 80, then 320.
  std::string yaml = "a: &a [1, 2, 3, 4, 5]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n";
  EXPECT_EQ(loadError(yaml, limits), "accepted");
  yaml += "d: [*b, *b, *b, *b]\ne: [*b, *b, *b, *b]\n";
  EXPECT_EQ(loadError(yaml, limits),
            "document 1 (line 1): larger than 1000 bytes at line 5 (each alias counted as the "
            "node it repeats)");
  EXPECT_EQ(loadError("a: &a [1, *a]\n", {}),
            "line 1, column 11: invalid YAML: alias *a is inside the node it names");
  EXPECT_EQ(loadError("a: &a {b: {c: *a}}\n", {}),
            "line 1, column 15: invalid YAML: alias *a is inside the node it names");

  // A List of 300 aliases of a slice of 300 aliases of an endpoint of 300
  // addresses: 6 KB, and 27 million addresses once read (18 s, 2 GB before
  // the bound). The real limit refuses it before anything reads it.
  std::string addresses, endpoints, bomb;
  for (int i = 0; i < 300; ++i) {
    addresses +=
        (i ? ", 10.0." : "10.0.") + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    if (i) endpoints += ", *e";
  }
  bomb =
      "apiVersion: v1\nkind: List\nitems:\n- &s {apiVersion: discovery.k8s.io/v1, kind: "
      "EndpointSlice, metadata: {name: s}, addressType: IPv4, endpoints: [&e {addresses: [" +
      addresses + "]}" + endpoints + "]}\n";
  for (int i = 1; i < 300; ++i) bomb += "- *s\n";
  auto start = std::chrono::steady_clock::now();
  auto r = parseManifests(bomb, "t.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().what,
            "t.yaml: document 1 (line 1): larger than 64 MiB at line 68 (each alias counted as "
            "the node it repeats)");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace svcrouter
