#include "userspace/core/desired.h"

#include <gtest/gtest.h>

#include <ostream>

#include "maps/layout/service.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {
namespace {

constexpr uint8_t kReady = SVCR_REASON_READY;
constexpr uint8_t kTerm = SVCR_REASON_TERMINATING;
constexpr uint8_t kLocal = SVCR_REASON_LOCAL;

IpAddr ip(const std::string& text) { return *IpAddr::parse(text); }

BackendAddr be(const std::string& addr, uint16_t port = 80, Protocol p = Protocol::kTcp) {
  return {ip(addr), port, p};
}

// ---- selectBackends: kube-proxy's CategorizeEndpoints as a table ----------

constexpr const char* kNode = "node-a";

// An endpoint on this node ("node-a") or elsewhere ("node-b").
CandidateEndpoint ep(const std::string& addr, bool ready, bool serving, bool terminating,
                     bool local, uint16_t port = 80) {
  return {be(addr, port), ready, serving, terminating, local ? kNode : "node-b", {}, {}};
}
CandidateEndpoint readyEp(const std::string& addr, bool local) {
  return ep(addr, true, true, false, local);
}
CandidateEndpoint termServing(const std::string& addr, bool local) {
  return ep(addr, false, true, true, local);
}
CandidateEndpoint termNotServing(const std::string& addr, bool local) {
  return ep(addr, false, false, true, local);
}

struct SelectCase {
  std::string name;
  std::vector<CandidateEndpoint> eps;
  std::vector<DesiredBackend> cluster;  // policy Cluster
  std::vector<DesiredBackend> local;    // policy Local, on node-a
};
void PrintTo(const SelectCase& c, std::ostream* os) { *os << c.name; }

std::string show(const std::vector<DesiredBackend>& bs) {
  std::string out;
  for (const auto& b : bs) out += describe(b.addr) + "#" + std::to_string(b.reason) + " ";
  return out;
}

class SelectBackends : public testing::TestWithParam<SelectCase> {};

TEST_P(SelectBackends, ClusterAndLocal) {
  const SelectCase& c = GetParam();
  auto cluster = selectBackends(c.eps, TrafficPolicy::kCluster, {kNode, ""});
  EXPECT_EQ(cluster, c.cluster) << "Cluster: " << show(cluster);
  auto local = selectBackends(c.eps, TrafficPolicy::kLocal, {kNode, ""});
  EXPECT_EQ(local, c.local) << "Local: " << show(local);
}

INSTANTIATE_TEST_SUITE_P(
    Conditions, SelectBackends,
    testing::Values(
        SelectCase{"NoEndpoints", {}, {}, {}},
        SelectCase{
            "AllReadyMixedNodes",
            {readyEp("10.0.0.1", true), readyEp("10.0.0.2", false), readyEp("10.0.0.3", false)},
            {{be("10.0.0.1"), kReady}, {be("10.0.0.2"), kReady}, {be("10.0.0.3"), kReady}},
            {{be("10.0.0.1"), kReady | kLocal}}},
        SelectCase{"ReadyOnlyRemote",
                   {readyEp("10.0.0.1", false), readyEp("10.0.0.2", false)},
                   {{be("10.0.0.1"), kReady}, {be("10.0.0.2"), kReady}},
                   {}},
        // Fallback is decided separately: Cluster has ready endpoints, Local has none.
        SelectCase{"RemoteReadyLocalTerminating",
                   {readyEp("10.0.0.1", false), termServing("10.0.0.2", true)},
                   {{be("10.0.0.1"), kReady}},
                   {{be("10.0.0.2"), kTerm | kLocal}}},
        SelectCase{"LocalReadyRemoteTerminating",
                   {readyEp("10.0.0.1", true), termServing("10.0.0.2", false)},
                   {{be("10.0.0.1"), kReady}},
                   {{be("10.0.0.1"), kReady | kLocal}}},
        SelectCase{"NoReadyAnywhere",
                   {termServing("10.0.0.1", true), termServing("10.0.0.2", false),
                    termNotServing("10.0.0.3", true)},
                   {{be("10.0.0.1"), kTerm}, {be("10.0.0.2"), kTerm}},
                   {{be("10.0.0.1"), kTerm | kLocal}}},
        SelectCase{"TerminatingNotServingNever",
                   {termNotServing("10.0.0.1", true), termNotServing("10.0.0.2", false)},
                   {},
                   {}},
        SelectCase{"LocalOnlyNotServingRemoteServing",
                   {termNotServing("10.0.0.1", true), termServing("10.0.0.2", false)},
                   {{be("10.0.0.2"), kTerm}},
                   {}},
        // Serving but not ready and not terminating (starting up): never used.
        SelectCase{
            "NotReadyNotTerminating",
            {ep("10.0.0.1", false, true, false, true), ep("10.0.0.2", false, false, false, false)},
            {},
            {}},
        // Ready wins even when also terminating (publishNotReadyAddresses).
        SelectCase{"ReadyAndTerminatingCountsAsReady",
                   {ep("10.0.0.1", true, true, true, true), termServing("10.0.0.2", false)},
                   {{be("10.0.0.1"), kReady}},
                   {{be("10.0.0.1"), kReady | kLocal}}},
        SelectCase{
            "LocalReadyAndLocalTerminating",
            {readyEp("10.0.0.1", true), termServing("10.0.0.2", true), readyEp("10.0.0.3", false)},
            {{be("10.0.0.1"), kReady}, {be("10.0.0.3"), kReady}},
            {{be("10.0.0.1"), kReady | kLocal}}},
        SelectCase{"NoReadyLocalTerminatingOnly",
                   {termServing("10.0.0.1", true), ep("10.0.0.2", false, false, false, false)},
                   {{be("10.0.0.1"), kTerm}},
                   {{be("10.0.0.1"), kTerm | kLocal}}},
        SelectCase{
            "SortedByIpThenPort",
            {ep("10.0.0.10", true, true, false, true, 80),
             ep("10.0.0.2", true, true, false, true, 90),
             ep("10.0.0.2", true, true, false, false, 81)},
            {{be("10.0.0.2", 81), kReady},
             {be("10.0.0.2", 90), kReady},
             {be("10.0.0.10", 80), kReady}},
            {{be("10.0.0.2", 90), kReady | kLocal}, {be("10.0.0.10", 80), kReady | kLocal}}}),
    [](const testing::TestParamInfo<SelectCase>& info) { return info.param.name; });

// ---- topology hints: kube-proxy's topologyModeFromHints as a table ----------

constexpr uint8_t kTopo = SVCR_REASON_TOPOLOGY;

// A ready endpoint (on node-b) with the given hints; not ready when asked.
CandidateEndpoint hinted(const std::string& addr, std::vector<std::string> zones,
                         std::vector<std::string> nodes = {}, bool ready = true) {
  auto e = ep(addr, ready, true, !ready, false);
  e.hintZones = std::move(zones);
  e.hintNodes = std::move(nodes);
  return e;
}

struct TopologyCase {
  std::string name;
  std::vector<CandidateEndpoint> eps;
  NodeTopology node;
  std::vector<DesiredBackend> cluster;  // policy Cluster
};
void PrintTo(const TopologyCase& c, std::ostream* os) { *os << c.name; }

class Topology : public testing::TestWithParam<TopologyCase> {};

TEST_P(Topology, Cluster) {
  const auto& c = GetParam();
  auto got = selectBackends(c.eps, TrafficPolicy::kCluster, c.node);
  EXPECT_EQ(got, c.cluster) << show(got);
  // internalTrafficPolicy: Local never looks at hints.
  for (const auto& b : selectBackends(c.eps, TrafficPolicy::kLocal, c.node))
    EXPECT_EQ(b.reason & kTopo, 0) << describe(b.addr);
}

const NodeTopology kZoneA{kNode, "zone-a"};

INSTANTIATE_TEST_SUITE_P(
    Hints, Topology,
    testing::Values(
        TopologyCase{"ZoneHintsNarrowToMyZone",
                     {hinted("10.0.0.1", {"zone-a"}), hinted("10.0.0.2", {"zone-b"}),
                      hinted("10.0.0.3", {"zone-a", "zone-c"})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady | kTopo}, {be("10.0.0.3"), kReady | kTopo}}},
        TopologyCase{"OneReadyEndpointWithoutHintsDisablesThem",
                     {hinted("10.0.0.1", {"zone-a"}), hinted("10.0.0.2", {})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady}, {be("10.0.0.2"), kReady}}},
        TopologyCase{"NoHintForMyZoneMeansAll",
                     {hinted("10.0.0.1", {"zone-b"}), hinted("10.0.0.2", {"zone-c"})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady}, {be("10.0.0.2"), kReady}}},
        TopologyCase{"NodeWithoutZoneLabelMeansAll",
                     {hinted("10.0.0.1", {"zone-a"}), hinted("10.0.0.2", {"zone-b"})},
                     {kNode, ""},
                     {{be("10.0.0.1"), kReady}, {be("10.0.0.2"), kReady}}},
        TopologyCase{
            "NodeHintsWinOverZoneHints",
            {hinted("10.0.0.1", {"zone-a"}, {"node-x"}), hinted("10.0.0.2", {"zone-a"}, {kNode}),
             hinted("10.0.0.3", {"zone-b"}, {"node-y"})},
            kZoneA,
            {{be("10.0.0.2"), kReady | kTopo}}},
        TopologyCase{"NodeHintsNotForMeFallBackToZoneHints",
                     {hinted("10.0.0.1", {"zone-a"}, {"node-x"}),
                      hinted("10.0.0.2", {"zone-b"}, {"node-y"})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady | kTopo}}},
        TopologyCase{"PartialNodeHintsFallBackToZoneHints",
                     {hinted("10.0.0.1", {"zone-a"}, {kNode}), hinted("10.0.0.2", {"zone-a"})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady | kTopo}, {be("10.0.0.2"), kReady | kTopo}}},
        // Only ready endpoints are looked at to decide.
        TopologyCase{"NotReadyEndpointsDoNotCount",
                     {hinted("10.0.0.1", {"zone-a"}), hinted("10.0.0.2", {}, {}, false),
                      hinted("10.0.0.3", {"zone-b"})},
                     kZoneA,
                     {{be("10.0.0.1"), kReady | kTopo}}},
        // With no ready endpoint, the terminating fallback ignores topology.
        TopologyCase{
            "TerminatingFallbackIgnoresHints",
            {hinted("10.0.0.1", {"zone-b"}, {}, false), hinted("10.0.0.2", {"zone-a"}, {}, false)},
            kZoneA,
            {{be("10.0.0.1"), kTerm}, {be("10.0.0.2"), kTerm}}}),
    [](const testing::TestParamInfo<TopologyCase>& info) { return info.param.name; });

TEST(SelectBackendsNode, EmptyNodeNameIsNeverLocal) {
  // kube-proxy's isLocal needs a non-empty node name on both sides.
  std::vector<CandidateEndpoint> eps{{be("10.0.0.1"), true, true, false, "", {}, {}}};
  EXPECT_TRUE(selectBackends(eps, TrafficPolicy::kLocal, {}).empty());
  EXPECT_EQ(selectBackends(eps, TrafficPolicy::kCluster, {}).size(), 1u);
}

// ---- buildDesiredState ----------------------------------------------------

Objects parse(const std::string& yaml) {
  auto m = parseManifests(yaml, "t.yaml");
  EXPECT_TRUE(m.has_value()) << m.error().message();
  return m.value_or(Objects{});
}

DesiredState build(const std::string& yaml, SelectOptions opts = {kNode, "", ""}) {
  auto st = buildDesiredState(parse(yaml), opts);
  EXPECT_TRUE(st.has_value()) << st.error().message();
  return st.value_or(DesiredState{});
}

std::string buildError(const std::string& yaml, SelectOptions opts = {kNode, "", ""}) {
  auto st = buildDesiredState(parse(yaml), opts);
  EXPECT_FALSE(st.has_value());
  return st.has_value() ? "" : st.error().message();
}

ServiceKey key(const std::string& vip, uint16_t port, Protocol p = Protocol::kTcp,
               Scope scope = Scope::kCluster) {
  return {ip(vip), port, p, scope};
}
ServiceKey nodeKey(const std::string& vip, uint16_t port) {
  return key(vip, port, Protocol::kTcp, Scope::kNode);
}
ServiceKey externalKey(const std::string& vip, uint16_t port) {
  return key(vip, port, Protocol::kTcp, Scope::kExternal);
}

// The backend addresses of one entry, in order ("10.0.0.1:8080").
std::vector<std::string> backendsOf(const DesiredState& st, const ServiceKey& k) {
  auto it = st.services.find(k);
  if (it == st.services.end()) return {"<no service " + describe(k) + ">"};
  std::vector<std::string> out;
  for (const auto& b : it->second.backends) out.push_back(describe(b.addr));
  return out;
}

using Strings = std::vector<std::string>;

constexpr const char* kWeb = R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 9999}]
)";

TEST(BuildDesiredState, MergesSlicesFirstAddressAndDedup) {
  DesiredState st = build(std::string(kWeb) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.0.0.3, 10.0.0.99]
- addresses: [10.0.0.1]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-b, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.0.0.2]
- addresses: [10.0.0.1]
ports: [{name: http, port: 8080}]
)");
  ASSERT_EQ(st.services.size(), 1u);
  const DesiredService& d = st.services.begin()->second;
  EXPECT_EQ(d.key, key("10.96.0.10", 80));
  EXPECT_EQ(d.ns, "default");
  EXPECT_EQ(d.name, "web");
  EXPECT_EQ(d.portName, "http");
  EXPECT_FALSE(d.affinity);
  EXPECT_EQ(d.affinityTimeoutSec, 0u);
  EXPECT_EQ(d.policy, TrafficPolicy::kCluster);
  // First address only; 10.0.0.1 once; slice port number, never targetPort.
  EXPECT_EQ(backendsOf(st, d.key), (Strings{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}));
  for (const auto& b : d.backends) EXPECT_EQ(b.reason, kReady);
  EXPECT_TRUE(st.warnings.empty());
}

// The same IP:port in two slices with different conditions: a later copy
// replaces an earlier one unless it is terminating (kube-proxy addEndpoints).
std::string twoCopies(const std::string& first, const std::string& second) {
  auto sliceDoc = [](const std::string& name, const std::string& cond) {
    return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
           ", labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints:\n- "
           "addresses: [10.0.0.1]\n  conditions: " +
           cond +
           "\n- addresses: [10.0.0.2]\n  conditions: {ready: false, serving: true, terminating: "
           "true}\nports: [{name: http, port: 8080}]\n";
  };
  return std::string(kWeb) + sliceDoc("web-a", first) + sliceDoc("web-b", second);
}

TEST(BuildDesiredState, DuplicateEndpointPrecedence) {
  const std::string kReadyCond = "{ready: true}";
  const std::string kTerminating = "{ready: false, serving: true, terminating: true}";
  const std::string kNotReady = "{ready: false, serving: false, terminating: false}";
  auto chosen = [&](const std::string& a, const std::string& b) {
    DesiredState st = build(twoCopies(a, b));
    return backendsOf(st, key("10.96.0.10", 80));
  };
  // Ready (not terminating) beats terminating, whichever slice comes first;
  // 10.0.0.2 (terminating) is then not needed.
  EXPECT_EQ(chosen(kReadyCond, kTerminating), Strings{"10.0.0.1:8080"});
  EXPECT_EQ(chosen(kTerminating, kReadyCond), Strings{"10.0.0.1:8080"});
  // Two non-terminating copies: the later one wins. Here it is not ready, so
  // only terminating endpoints remain and the fallback picks both.
  EXPECT_EQ(chosen(kReadyCond, kNotReady), Strings{"10.0.0.2:8080"});
  EXPECT_EQ(chosen(kNotReady, kReadyCond), Strings{"10.0.0.1:8080"});
  // Two terminating copies: the first is kept.
  EXPECT_EQ(chosen(kTerminating, "{ready: false, serving: false, terminating: true}"),
            (Strings{"10.0.0.1:8080", "10.0.0.2:8080"}));
}

TEST(BuildDesiredState, PortsMatchByNameAndProtocol) {
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
  - {name: metrics, port: 9153}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-udp, namespace: kube-system, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: dns, protocol: UDP, port: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-tcp, namespace: kube-system, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2]}]
ports:
- {name: dns-tcp, protocol: TCP, port: 5300}
- {name: dns, protocol: TCP, port: 7777}
- {name: metrics, protocol: UDP, port: 9153}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.3]}]
ports: [{port: 8080}, {port: 8081, protocol: UDP}, {name: other, port: 8082}]
)");
  ASSERT_EQ(st.services.size(), 4u);
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 53, Protocol::kUdp)), Strings{"10.0.0.1:5353"});
  EXPECT_EQ(st.services.at(key("10.96.0.10", 53, Protocol::kUdp)).backends.at(0).addr.protocol,
            Protocol::kUdp);
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 53, Protocol::kTcp)), Strings{"10.0.0.2:5300"});
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 9153)), Strings{});  // only a UDP "metrics"
  EXPECT_EQ(st.services.at(key("10.96.0.10", 9153)).portName, "metrics");
  // Unnamed matches unnamed, and only with the same protocol.
  EXPECT_EQ(backendsOf(st, key("10.96.0.20", 80)), Strings{"10.0.0.3:8080"});
}

TEST(BuildDesiredState, PortsWithoutNumbersIgnored) {
  DesiredState st = build(std::string(kWeb) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-a, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: http}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-b, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2]}]
ports: [{name: http, port: 8080}]
)");
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 80)), Strings{"10.0.0.2:8080"});
}

TEST(BuildDesiredState, FqdnSlicesIgnored) {
  DesiredState st = build(std::string(kWeb) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-fqdn, labels: {kubernetes.io/service-name: web}}
addressType: FQDN
endpoints: [{addresses: [db.example.com]}]
ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: nowhere-fqdn, labels: {kubernetes.io/service-name: nowhere}}
addressType: FQDN
endpoints: [{addresses: [db.example.com]}]
)");
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 80)), Strings{});
  EXPECT_TRUE(st.warnings.empty());
}

// Label filters: which of a labelled Service (and its labelled slice) is served.
struct LabelCase {
  std::string name;
  std::string labels;     // YAML flow map body, for both objects
  std::string proxyName;  // SelectOptions::proxyName
  bool served;
};
void PrintTo(const LabelCase& c, std::ostream* os) { *os << c.name; }

class LabelFilter : public testing::TestWithParam<LabelCase> {};

TEST_P(LabelFilter, ServiceAndSlice) {
  const LabelCase& c = GetParam();
  std::string labels = c.labels.empty() ? "" : ", " + c.labels;
  // The Service carries the label; so does one of two slices.
  DesiredState st =
      build("apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {app: web" + labels +
                "}}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}\n"
                "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                "metadata: {name: web-1, labels: {kubernetes.io/service-name: web" +
                labels +
                "}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n"
                "ports: [{port: 8080}]\n",
            SelectOptions{kNode, c.proxyName, ""});
  if (c.served) {
    EXPECT_EQ(backendsOf(st, key("10.96.0.10", 80)), Strings{"10.0.0.1:8080"});
  } else {
    EXPECT_TRUE(st.services.empty());
  }

  // An unlabelled Service with a labelled slice: the slice is filtered alone.
  DesiredState st2 = build(std::string(kWeb) +
                               "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                               "metadata: {name: web-1, labels: {kubernetes.io/service-name: web" +
                               labels +
                               "}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n"
                               "ports: [{name: http, port: 8080}]\n",
                           SelectOptions{kNode, c.proxyName, ""});
  EXPECT_EQ(backendsOf(st2, key("10.96.0.10", 80)),
            c.served ? Strings{"10.0.0.1:8080"} : Strings{});
}

INSTANTIATE_TEST_SUITE_P(
    Labels, LabelFilter,
    testing::Values(
        LabelCase{"NoLabels", "", "", true}, LabelCase{"NoLabelsWithProxyName", "", "svcr", true},
        LabelCase{"Headless", "service.kubernetes.io/headless: \"\"", "", false},
        LabelCase{"HeadlessEvenIfOurs",
                  "service.kubernetes.io/headless: \"\", service.kubernetes.io/service-proxy-name: "
                  "svcr",
                  "svcr", false},
        LabelCase{"ProxyNameEqual", "service.kubernetes.io/service-proxy-name: svcr", "svcr", true},
        LabelCase{"ProxyNameDifferent", "service.kubernetes.io/service-proxy-name: other", "svcr",
                  false},
        LabelCase{"ProxyNameOptionAbsent", "service.kubernetes.io/service-proxy-name: svcr", "",
                  false},
        LabelCase{"ProxyNameEmptyLabel", "service.kubernetes.io/service-proxy-name: \"\"", "",
                  false}),
    [](const testing::TestParamInfo<LabelCase>& info) { return info.param.name; });

TEST(BuildDesiredState, HeadlessAndExternalNameSkipped) {
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: example.com}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2]}]
ports: [{port: 80}]
)");
  EXPECT_TRUE(st.services.empty());
  EXPECT_TRUE(st.warnings.empty());
}

TEST(BuildDesiredState, DualStackFamilySplit) {
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: dual}
spec:
  clusterIPs: [10.96.0.10, "fd00::10"]
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: v4only}
spec: {clusterIP: 10.96.0.11, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dual-v4, labels: {kubernetes.io/service-name: dual}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dual-v6, labels: {kubernetes.io/service-name: dual}}
addressType: IPv6
endpoints: [{addresses: ["fd00::1"]}, {addresses: ["fd00::2"]}]
ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: v4only-v6, labels: {kubernetes.io/service-name: v4only}}
addressType: IPv6
endpoints: [{addresses: ["fd00::3"]}]
ports: [{port: 8080}]
)");
  ASSERT_EQ(st.services.size(), 3u);
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 80)), Strings{"10.0.0.1:8080"});
  EXPECT_EQ(backendsOf(st, key("fd00::10", 80)), (Strings{"[fd00::1]:8080", "[fd00::2]:8080"}));
  EXPECT_EQ(st.services.at(key("fd00::10", 80)).name, "dual");
  EXPECT_EQ(backendsOf(st, key("10.96.0.11", 80)), Strings{});
}

TEST(BuildDesiredState, AffinityAndLocalPolicy) {
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 80}]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  internalTrafficPolicy: Local
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1], nodeName: node-a}
- {addresses: [10.0.0.2], nodeName: node-b}
- {addresses: [10.0.0.3]}
ports: [{port: 8080}]
)",
                          SelectOptions{kNode, "", ""});
  const DesiredService& d = st.services.at(key("10.96.0.10", 80));
  EXPECT_TRUE(d.affinity);
  EXPECT_EQ(d.affinityTimeoutSec, 60u);
  EXPECT_EQ(d.policy, TrafficPolicy::kLocal);
  ASSERT_EQ(d.backends.size(), 1u);
  EXPECT_EQ(d.backends[0], (DesiredBackend{be("10.0.0.1", 8080), kReady | kLocal}));
}

// ---- NodePorts, ExternalIPs, LoadBalancer IPs ---------------------------------

// A LoadBalancer with externalTrafficPolicy: Local, an external IP and an
// ingress IP, endpoints on this node and another. Each address outside the
// cluster has two entries: for local processes (all endpoints, as kube-proxy
// sends local traffic) and for packets from outside (this node's only).
constexpr const char* kLoadBalancer = R"(
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIPs: [10.96.0.20, "fd00::20"]
  ports: [{port: 80, nodePort: 30080}]
  externalTrafficPolicy: Local
  externalIPs: [198.51.100.7]
status:
  loadBalancer: {ingress: [{ip: 203.0.113.9}, {ip: "2001:db8::9"}, {hostname: lb.example.com}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb-1, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
endpoints:
- {addresses: [10.0.0.1], nodeName: node-a}
- {addresses: [10.0.0.2], nodeName: node-b}
ports: [{port: 8080}]
)";

TEST(BuildDesiredState, ExternalFrontendsHaveANodeAndAnExternalEntry) {
  SelectOptions opts{kNode, "", ""};
  opts.nodeIps = {ip("192.168.1.10"), ip("192.168.2.10"), ip("fd99::10")};
  DesiredState st = build(kLoadBalancer, opts);
  const Strings all{"10.0.0.1:8080", "10.0.0.2:8080"}, local{"10.0.0.1:8080"};
  EXPECT_EQ(backendsOf(st, key("10.96.0.20", 80)), all);
  for (const char* addr : {"192.168.1.10", "192.168.2.10"}) {
    EXPECT_EQ(backendsOf(st, nodeKey(addr, 30080)), all) << addr;
    EXPECT_EQ(backendsOf(st, externalKey(addr, 30080)), local) << addr;
    EXPECT_EQ(st.services.at(externalKey(addr, 30080)).policy, TrafficPolicy::kLocal);
  }
  for (const char* addr : {"198.51.100.7", "203.0.113.9"}) {
    EXPECT_EQ(backendsOf(st, nodeKey(addr, 80)), all) << addr;
    EXPECT_EQ(backendsOf(st, externalKey(addr, 80)), local) << addr;
  }
  // IPv6: the service has an IPv6 ClusterIP, but no IPv6 endpoints.
  EXPECT_EQ(backendsOf(st, externalKey("fd99::10", 30080)), Strings{});
  EXPECT_EQ(backendsOf(st, externalKey("2001:db8::9", 80)), Strings{});
  // 2 ClusterIPs + 2 scopes x (3 node addresses + 1 external IP + 2 ingress IPs).
  EXPECT_EQ(st.services.size(), 2u + 2 * 6);
}

TEST(BuildDesiredState, NodePortsNeedTheNodesAddressesAndTheirFamily) {
  // No --node-ip: no NodePort entries (external IPs still come).
  DesiredState none = build(kLoadBalancer);
  EXPECT_FALSE(none.services.contains(nodeKey("192.168.1.10", 30080)));
  EXPECT_TRUE(none.services.contains(externalKey("198.51.100.7", 80)));
  // A single-stack IPv4 service is not served on the node's IPv6 address.
  SelectOptions opts{kNode, "", ""};
  opts.nodeIps = {ip("192.168.1.10"), ip("fd99::10")};
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {type: NodePort, clusterIP: 10.96.0.30, ports: [{port: 80, nodePort: 30090}]}
)",
                          opts);
  EXPECT_TRUE(st.services.contains(nodeKey("192.168.1.10", 30090)));
  EXPECT_TRUE(st.services.contains(externalKey("192.168.1.10", 30090)));
  EXPECT_FALSE(st.services.contains(externalKey("fd99::10", 30090)));
  // externalTrafficPolicy applies to NodePort and LoadBalancer services only.
  EXPECT_EQ(st.services.at(externalKey("192.168.1.10", 30090)).policy, TrafficPolicy::kCluster);
}

// ---- --nodeport-addresses: kube-proxy's nodeport_addresses_test.go as a table

// Every address of a node's interfaces: loopback, three IPv4 networks,
// IPv6 loopback, ULA, link-local and global.
const Strings kNodeAddresses{"127.0.0.1", "10.0.0.5", "10.1.0.5", "192.168.1.5",
                             "::1",       "fd00::5",  "fe80::1",  "2001:db8::5"};

struct NodePortAddressesCase {
  std::string name;
  Strings cidrs;
  Strings want;  // sorted as IpAddr sorts: IPv4 (::ffff:a.b.c.d) first
};
void PrintTo(const NodePortAddressesCase& c, std::ostream* os) { *os << c.name; }

class NodePortAddresses : public testing::TestWithParam<NodePortAddressesCase> {};

TEST_P(NodePortAddresses, ChoosesTheNodesAddresses) {
  const NodePortAddressesCase& c = GetParam();
  std::vector<IpCidr> cidrs;
  for (const auto& text : c.cidrs) {
    auto cidr = parseCidr(text);
    ASSERT_TRUE(cidr.has_value()) << text;
    cidrs.push_back(*cidr);
  }
  std::vector<IpAddr> node;
  for (const auto& text : kNodeAddresses) node.push_back(ip(text));
  Strings got;
  for (const IpAddr& a : nodePortAddresses(cidrs, node)) got.push_back(a.str());
  EXPECT_EQ(got, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, NodePortAddresses,
    testing::Values(
        // An IPv4 CIDR only: IPv6 is served on all its addresses (::/0), but ::1.
        NodePortAddressesCase{"OneIPv4Cidr",
                              {"10.0.0.0/8"},
                              {"10.0.0.5", "10.1.0.5", "2001:db8::5", "fd00::5", "fe80::1"}},
        NodePortAddressesCase{"BothFamilies", {"10.0.0.0/16", "fd00::/8"}, {"10.0.0.5", "fd00::5"}},
        // Host bits are ignored, as Go's ParseCIDR does.
        NodePortAddressesCase{
            "HostBitsSet", {"10.1.2.3/16", "fd00::1/64"}, {"10.1.0.5", "fd00::5"}},
        // Overlapping CIDRs: each address once.
        NodePortAddressesCase{
            "Overlapping",
            {"192.168.1.0/24", "192.168.0.0/16", "10.1.0.0/16", "fd00::/8", "fd00::5/128"},
            {"10.1.0.5", "192.168.1.5", "fd00::5"}},
        NodePortAddressesCase{"NoMatch", {"172.16.0.0/12", "2001:db9::/32"}, {}},
        // Loopback: IPv4 only when a CIDR holds 127.0.0.0 or is a loopback
        // network; IPv6 never.
        NodePortAddressesCase{"ZeroCidrsHoldLoopback",
                              {"0.0.0.0/0", "::/0"},
                              {"10.0.0.5", "10.1.0.5", "127.0.0.1", "192.168.1.5", "2001:db8::5",
                               "fd00::5", "fe80::1"}},
        NodePortAddressesCase{"LoopbackNetwork", {"127.0.0.1/32", "::1/128"}, {"127.0.0.1"}},
        NodePortAddressesCase{"IPv6CidrOnly",
                              {"2001:db8::/32"},
                              {"10.0.0.5", "10.1.0.5", "127.0.0.1", "192.168.1.5", "2001:db8::5"}},
        NodePortAddressesCase{
            "NotHoldingLoopback", {"128.0.0.0/1", "fd00::/8"}, {"192.168.1.5", "fd00::5"}}),
    [](const auto& info) { return info.param.name; });

TEST(NodePortAddresses, PrimaryIsTheNodeIPsAsHostNetworks) {
  EXPECT_EQ(primaryCidrs({ip("10.0.0.5"), ip("127.0.0.1"), ip("fd00::5"), ip("::1")}),
            (std::vector<IpCidr>{{ip("10.0.0.5"), 32}, {ip("fd00::5"), 128}}));
  // Primary node IPs not on an interface serve nothing; a family without
  // one is served on all of its addresses.
  std::vector<IpAddr> node{ip("10.0.0.5"), ip("10.1.0.5"), ip("fd00::5")};
  EXPECT_EQ(nodePortAddresses(primaryCidrs({ip("10.1.0.5")}), node),
            (std::vector<IpAddr>{ip("10.1.0.5"), ip("fd00::5")}));
  EXPECT_EQ(nodePortAddresses(primaryCidrs({ip("10.9.0.5"), ip("fd00::9")}), node),
            std::vector<IpAddr>{});
}

TEST(BuildDesiredState, NodePortsOnTheAddressesNodePortAddressesChose) {
  SelectOptions opts{kNode, "", ""};
  opts.nodeIps = nodePortAddresses({*parseCidr("10.0.0.0/8")},
                                   {ip("10.0.0.5"), ip("10.1.0.5"), ip("192.168.1.5")});
  DesiredState st = build(kLoadBalancer, opts);
  for (const char* addr : {"10.0.0.5", "10.1.0.5"}) {
    EXPECT_TRUE(st.services.contains(nodeKey(addr, 30080))) << addr;
    EXPECT_TRUE(st.services.contains(externalKey(addr, 30080))) << addr;
  }
  EXPECT_FALSE(st.services.contains(nodeKey("192.168.1.5", 30080)));
  EXPECT_FALSE(st.services.contains(externalKey("192.168.1.5", 30080)));
}

TEST(BuildDesiredState, ClusterIPServiceWithExternalIPsKeepsTheClusterPolicy) {
  DesiredState st = build(R"(
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  clusterIP: 10.96.0.40
  ports: [{port: 80, nodePort: 30100}]
  externalIPs: [198.51.100.8]
  externalTrafficPolicy: Local
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2], nodeName: node-b}]
ports: [{port: 8080}]
)");
  EXPECT_EQ(backendsOf(st, externalKey("198.51.100.8", 80)), Strings{"10.0.0.2:8080"});
  // A ClusterIP service has no load balancer: its status is not served.
  EXPECT_FALSE(st.services.contains(externalKey("203.0.113.10", 80)));
}

// loadBalancerSourceRanges restrict packets from outside to the load
// balancer IPs (kube-proxy's firewall chain): not NodePorts, not external
// IPs, not local processes (the node scope), not the ClusterIPs; and only
// the ranges of the address's family.
TEST(BuildDesiredState, SourceRangesOnlyOnTheLoadBalancerIpsExternalEntries) {
  std::string ranges =
      R"(  loadBalancerSourceRanges: [" 192.168.1.9/24 ", 10.0.0.0/8, "2001:db8:1::/48"]
)";
  std::string manifest = kLoadBalancer;
  manifest.insert(manifest.find("status:"), ranges);
  SelectOptions opts{kNode, "", ""};
  opts.nodeIps = {ip("192.168.1.10"), ip("fd99::10")};
  DesiredState st = build(manifest, opts);
  auto rangesOf = [&](const ServiceKey& k) {
    std::vector<std::string> out;
    for (const auto& r : st.services.at(k).sourceRanges) out.push_back(describe(r));
    return out;
  };
  EXPECT_EQ(rangesOf(externalKey("203.0.113.9", 80)), (Strings{"10.0.0.0/8", "192.168.1.0/24"}));
  EXPECT_EQ(rangesOf(externalKey("2001:db8::9", 80)), Strings{"2001:db8:1::/48"});
  for (const auto& k :
       {nodeKey("203.0.113.9", 80), nodeKey("2001:db8::9", 80), externalKey("198.51.100.7", 80),
        nodeKey("198.51.100.7", 80), externalKey("192.168.1.10", 30080),
        externalKey("fd99::10", 30080), key("10.96.0.20", 80), key("fd00::20", 80)})
    EXPECT_EQ(rangesOf(k), Strings{}) << describe(k);

  // IPv4 ranges only: the IPv6 load balancer IP is open to anyone.
  manifest = kLoadBalancer;
  manifest.insert(manifest.find("status:"), "  loadBalancerSourceRanges: [10.0.0.0/8]\n");
  st = build(manifest, opts);
  EXPECT_EQ(rangesOf(externalKey("203.0.113.9", 80)), Strings{"10.0.0.0/8"});
  EXPECT_EQ(rangesOf(externalKey("2001:db8::9", 80)), Strings{});
}

// externalTrafficPolicy: Local without an endpoint on this node: packets
// from outside are dropped when the Service has endpoints elsewhere (the
// load balancer's health check moves traffic away), refused when it has
// none anywhere, as kube-proxy does.
TEST(BuildDesiredState, LocalPolicyWithoutLocalEndpointsDropsWhenThereAreOthers) {
  SelectOptions opts{"node-c", "", ""};  // neither endpoint is here
  opts.nodeIps = {ip("192.168.1.10"), ip("fd99::10")};
  DesiredState st = build(kLoadBalancer, opts);
  auto drops = [&](const ServiceKey& k) { return st.services.at(k).dropWhenEmpty; };
  for (const auto& k : {externalKey("192.168.1.10", 30080), externalKey("198.51.100.7", 80),
                        externalKey("203.0.113.9", 80)}) {
    EXPECT_EQ(backendsOf(st, k), Strings{}) << describe(k);
    EXPECT_TRUE(drops(k)) << describe(k);
  }
  // Local processes still reach every endpoint; ClusterIPs are not external.
  EXPECT_FALSE(drops(nodeKey("203.0.113.9", 80)));
  EXPECT_FALSE(drops(key("10.96.0.20", 80)));
  // No IPv6 endpoint anywhere: refused.
  EXPECT_FALSE(drops(externalKey("fd99::10", 30080)));
  EXPECT_FALSE(drops(externalKey("2001:db8::9", 80)));

  // With an endpoint here, nothing is dropped.
  opts.nodeName = kNode;
  st = build(kLoadBalancer, opts);
  EXPECT_EQ(backendsOf(st, externalKey("203.0.113.9", 80)), Strings{"10.0.0.1:8080"});
  EXPECT_FALSE(drops(externalKey("203.0.113.9", 80)));

  // Only a terminating (still serving) endpoint elsewhere still counts;
  // one that no longer serves does not.
  opts.nodeName = "node-c";
  auto withConditions = [&](const std::string& conditions) {
    std::string manifest = kLoadBalancer;
    manifest.replace(manifest.find("endpoints:"), std::string::npos,
                     "endpoints:\n- {addresses: [10.0.0.2], nodeName: node-b, conditions: " +
                         conditions + "}\nports: [{port: 8080}]\n");
    return build(manifest, opts);
  };
  st = withConditions("{ready: false, serving: true, terminating: true}");
  EXPECT_TRUE(drops(externalKey("203.0.113.9", 80)));
  st = withConditions("{ready: false, serving: false, terminating: true}");
  EXPECT_FALSE(drops(externalKey("203.0.113.9", 80)));

  // externalTrafficPolicy: Cluster never drops: no endpoint is refused.
  std::string cluster = kLoadBalancer;
  cluster.replace(cluster.find("externalTrafficPolicy: Local"), 28,
                  "externalTrafficPolicy: Cluster");
  cluster.replace(cluster.find("endpoints:"), std::string::npos, "endpoints: []\n");
  st = build(cluster, opts);
  EXPECT_FALSE(drops(externalKey("203.0.113.9", 80)));
}

TEST(BuildDesiredState, ExternalIPClaimedTwiceNamesBothServices) {
  std::string err = buildError(R"(
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.50, ports: [{port: 80}], externalIPs: [198.51.100.9]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {clusterIP: 10.96.0.51, ports: [{port: 80}], externalIPs: [198.51.100.9]}
)");
  EXPECT_NE(err.find("198.51.100.9:80/TCP (node) is already served by Service default/a"),
            std::string::npos)
      << err;
}

TEST(BuildDesiredState, DuplicateVipPortProtocol) {
  const char* a = R"(
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}
---
)";
  // Same VIP, other port or protocol: fine.
  build(std::string(a) +
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.96.0.10, "
        "ports: [{name: dns, port: 53}, {name: web, port: 8080, protocol: UDP}]}\n");
  // Same VIP:port/protocol: the second Service and its spec.ports index (the
  // SCTP port shifts the model's vector) are named, and the first.
  EXPECT_EQ(buildError(std::string(a) +
                       "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: default}\n"
                       "spec: {clusterIP: 10.96.0.10, ports: [{name: s, port: 9, protocol: SCTP}, "
                       "{name: d, port: 53, protocol: UDP}]}\n"),
            "t.yaml: document 2 (Service default/b): spec.ports[1]: 10.96.0.10:53/UDP is already "
            "served by Service default/a (t.yaml: document 1, spec.ports[1])");
}

// The API server's objects: what cannot be served is skipped, the rest served.
TEST(BuildDesiredState, LenientSkipsWhatCannotBeServed) {
  auto objects = parse(R"(
apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}, {name: other, port: 81}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gone-1, labels: {kubernetes.io/service-name: gone}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
)");
  EXPECT_FALSE(buildDesiredState(objects, {kNode, "", ""}));
  auto st = buildDesiredState(objects, {kNode, "", ""}, InputCheck::kLenient);
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(st->services.size(), 2u);  // a's 80 and b's 81
  EXPECT_EQ(st->services.at(key("10.96.0.10", 80)).name, "a");
  EXPECT_EQ(st->services.at(key("10.96.0.10", 81)).name, "b");
  ASSERT_EQ(st->warnings.size(), 1u);
  EXPECT_EQ(st->warnings[0],
            "t.yaml: document 2 (Service default/b): spec.ports[0]: 10.96.0.10:80/TCP is already "
            "served by Service default/a (t.yaml: document 1, spec.ports[0]); skipped");
}

TEST(BuildDesiredState, DuplicateService) {
  const char* a =
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.10}\n---\n";
  EXPECT_EQ(buildError(std::string(a) + a),
            "t.yaml: document 2 (Service default/a): metadata.name: Service default/a is also "
            "defined in t.yaml: document 1");
  // The same name in another namespace is another Service.
  build(std::string(a) +
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec: {clusterIP: "
        "10.96.0.11}\n");
}

TEST(BuildDesiredState, SliceNamingMissingService) {
  EXPECT_EQ(buildError(std::string(kWeb) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: other, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
)"),
            "t.yaml: document 2 (EndpointSlice other/web-1): "
            "metadata.labels[kubernetes.io/service-name]: Service other/web is not in the input");
}

TEST(BuildDesiredState, SliceWithoutServiceLabelIgnored) {
  DesiredState st = build(std::string(kWeb) + R"(
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, labels: {app: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: http, port: 8080}]
)");
  EXPECT_EQ(backendsOf(st, key("10.96.0.10", 80)), Strings{});
  EXPECT_EQ(st.warnings, Strings{"t.yaml: document 2 (EndpointSlice default/web-1): no "
                                 "kubernetes.io/service-name label; ignored"});
}

TEST(BuildDesiredState, TooManyBackends) {
  Objects m = parse(kWeb);
  EndpointSlice s;
  s.ns = "default";
  s.name = "web-1";
  s.serviceName = "web";
  s.where = "t.yaml: document 2";
  s.ports.push_back(EndpointPort{.name = "http", .protocol = Protocol::kTcp, .port = 8080});
  for (uint32_t i = 0; i <= SVCR_MAX_BACKENDS_PER_SERVICE; ++i) {
    std::array<uint8_t, 16> b{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 0};
    b[14] = uint8_t(i >> 8);
    b[15] = uint8_t(i);
    Endpoint e;
    e.addresses.push_back(IpAddr::fromBytes(b));
    s.endpoints.push_back(std::move(e));
  }
  m.slices.push_back(s);
  auto st = buildDesiredState(m, {});
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().what,
            "t.yaml: document 1 (Service default/web): spec.ports[0]: 65536 backends for "
            "10.96.0.10:80/TCP, at most 65535");

  m.slices[0].endpoints.pop_back();  // exactly the limit is fine
  auto ok = buildDesiredState(m, {});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->services.begin()->second.backends.size(), 65535u);
}

}  // namespace
}  // namespace svcrouter
