// Which connected UDP sockets lose their backend (core/sock_term.h), the
// endpoints the desired state keeps for it, and when the agent runs a pass:
// without root, with a scripted maps::SockTerm and the fake kernel.
#include "userspace/core/sock_term.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <sstream>

#include "tests/unit/fake_kernel.h"
#include "userspace/agent/agent.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {
namespace {

using fakes::FakeKernel;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

IpAddr ip(const std::string& text) { return *IpAddr::parse(text); }

// A UDP Service `name` at vip:53 (a NodePort 30053 too, with nodePort),
// its endpoints on port 5353: "10.0.0.1", or with conditions
// "10.0.0.2 terminating" (serving, not ready) or "10.0.0.3 notready".
std::string udpService(const std::string& name, const std::string& vip,
                       const std::vector<std::string>& endpoints, bool nodePort = false) {
  std::string yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
                     ", namespace: default}\nspec:\n  clusterIP: " + vip + "\n" +
                     (nodePort ? "  type: NodePort\n" : "") +
                     "  ports: [{name: dns, port: 53, protocol: UDP" +
                     (nodePort ? ", nodePort: 30053" : "") +
                     "}, {name: tcp, port: 53, protocol: TCP}]\n---\n"
                     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " +
                     name + "-1, namespace: default, labels: {kubernetes.io/service-name: " + name +
                     "}}\naddressType: IPv4\nports: [{name: dns, port: 5353, protocol: UDP}, "
                     "{name: tcp, port: 5353, protocol: TCP}]\nendpoints:\n";
  for (const auto& e : endpoints) {
    auto space = e.find(' ');
    yaml += "  - addresses: [" + e.substr(0, space) + "]\n";
    if (space == std::string::npos) continue;
    std::string cond = e.substr(space + 1);
    if (cond == "terminating")
      yaml += "    conditions: {ready: false, serving: true, terminating: true}\n";
    else
      yaml += "    conditions: {ready: false, serving: false}\n";
  }
  return yaml;
}

DesiredState build(const std::string& yaml, SelectOptions opts = {}) {
  auto objects = parseManifests(yaml, "t.yaml");
  EXPECT_TRUE(objects) << objects.error().message();
  auto st = buildDesiredState(objects.value_or(Objects{}), opts);
  EXPECT_TRUE(st) << st.error().message();
  return st.value_or(DesiredState{});
}

// A connected UDP socket that asked for vip:53 and was sent to backend:5353.
maps::TranslatedSocket socketTo(const std::string& vip, const std::string& backend,
                                uint64_t cookie = 1, uint16_t vipPort = 53,
                                Protocol p = Protocol::kUdp) {
  return {.cookie = cookie,
          .backend = {ip(backend), 5353, p},
          .vip = ip(vip),
          .vipPort = vipPort,
          .serviceId = 1};
}

// ---- the rule ------------------------------------------------------------------

TEST(BackendLeft, AnEndpointThatIsMerelyNotReadyOrTerminatingHasNotLeft) {
  auto want = build(
      udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2 terminating", "10.0.0.3 notready"}));
  const auto& d = want.services.at({ip("10.96.0.53"), 53, Protocol::kUdp, Scope::kCluster});
  ASSERT_EQ(d.backends.size(), 1u);        // the ready one serves...
  EXPECT_EQ(d.otherEndpoints.size(), 2u);  // ...the others are still endpoints
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.1")));
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.2")));
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.3")));
  EXPECT_TRUE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.4")));  // gone from the slice
}

TEST(BackendLeft, TheServiceOrItsPortGone) {
  auto want = build(udpService("dns", "10.96.0.53", {"10.0.0.1"}));
  EXPECT_TRUE(backendLeft(want, socketTo("10.96.0.99", "10.0.0.1")));         // no such Service
  EXPECT_TRUE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.1", 1, 54)));  // no such port
  EXPECT_TRUE(backendLeft(DesiredState{}, socketTo("10.96.0.53", "10.0.0.1")));
}

TEST(BackendLeft, ABackendThatMovedToAnotherServiceLeftTheFirst) {
  auto want = build(udpService("dns", "10.96.0.53", {"10.0.0.2"}) + "---\n" +
                    udpService("other", "10.96.0.54", {"10.0.0.1"}));
  EXPECT_TRUE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.1")));
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.54", "10.0.0.1")));
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.2")));
}

TEST(BackendLeft, NeverATcpSocket) {
  auto want = build(udpService("dns", "10.96.0.53", {"10.0.0.2"}));
  EXPECT_FALSE(backendLeft(want, socketTo("10.96.0.53", "10.0.0.1", 1, 53, Protocol::kTcp)));
  EXPECT_FALSE(
      backendLeft(DesiredState{}, socketTo("10.96.0.53", "10.0.0.1", 1, 53, Protocol::kTcp)));
}

TEST(BackendLeft, ANodePortFoundAsTheSocketPathFindsIt) {
  auto want =
      build(udpService("dns", "10.96.0.53", {"10.0.0.1"}, true),
            {.nodeName = "", .proxyName = "", .nodeZone = "", .nodeIps = {ip("192.168.1.5")}});
  EXPECT_FALSE(backendLeft(want, socketTo("192.168.1.5", "10.0.0.1", 1, 30053)));
  EXPECT_TRUE(backendLeft(want, socketTo("192.168.1.5", "10.0.0.9", 1, 30053)));
}

TEST(DesiredState, OtherEndpointsOnlyForUdpEntriesOfTheSocketPath) {
  auto want =
      build(udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2 terminating"}, true),
            {.nodeName = "", .proxyName = "", .nodeZone = "", .nodeIps = {ip("192.168.1.5")}});
  for (const auto& [key, d] : want.services) {
    SCOPED_TRACE(describe(key));
    bool kept = key.protocol == Protocol::kUdp && key.scope != Scope::kExternal;
    if (kept)
      EXPECT_THAT(d.otherEndpoints, ElementsAre(BackendAddr{ip("10.0.0.2"), 5353, Protocol::kUdp}));
    else
      EXPECT_THAT(d.otherEndpoints, IsEmpty());
  }
  EXPECT_EQ(want.services.size(), 4u);  // UDP: cluster, node, external; TCP: cluster
}

TEST(UdpEndpointsLeft, OnlyWhenAUdpEntryOfTheSocketPathLostAnEndpoint) {
  auto before =
      build(udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2"}, true),
            {.nodeName = "", .proxyName = "", .nodeZone = "", .nodeIps = {ip("192.168.1.5")}});
  auto draining =
      build(udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2 terminating"}, true),
            {.nodeName = "", .proxyName = "", .nodeZone = "", .nodeIps = {ip("192.168.1.5")}});
  auto removed =
      build(udpService("dns", "10.96.0.53", {"10.0.0.1"}, true),
            {.nodeName = "", .proxyName = "", .nodeZone = "", .nodeIps = {ip("192.168.1.5")}});
  auto left = [](const DesiredState& a, const DesiredState& b, const ServiceKey& k) {
    auto it = b.services.find(k);
    return udpEndpointsLeft(a.services.at(k), it == b.services.end() ? nullptr : &it->second);
  };
  ServiceKey udp{ip("10.96.0.53"), 53, Protocol::kUdp, Scope::kCluster};
  ServiceKey node{ip("192.168.1.5"), 30053, Protocol::kUdp, Scope::kNode};
  ServiceKey external{ip("192.168.1.5"), 30053, Protocol::kUdp, Scope::kExternal};
  ServiceKey tcp{ip("10.96.0.53"), 53, Protocol::kTcp, Scope::kCluster};
  EXPECT_FALSE(left(before, draining, udp));  // terminating is not leaving
  EXPECT_FALSE(left(draining, before, udp));  // nor is coming back
  EXPECT_TRUE(left(before, removed, udp));
  EXPECT_TRUE(left(draining, removed, udp));  // a terminating one that goes now
  EXPECT_TRUE(left(before, removed, node));
  EXPECT_FALSE(left(before, removed, external));   // the packet path has no sockets
  EXPECT_FALSE(left(before, removed, tcp));        // TCP connections are left alone
  EXPECT_TRUE(left(before, DesiredState{}, udp));  // the Service went
  EXPECT_FALSE(left(before, DesiredState{}, tcp));
}

// ---- the pass --------------------------------------------------------------------

// Finds the sockets it is given, closes what it is told to, and checks
// that the table's writer lock is held meanwhile and, with a table, that
// the grace period of the last flips is over (no reclamation pending).
class ScriptedSockTerm final : public maps::SockTerm {
 public:
  explicit ScriptedSockTerm(const FakeKernel& kernel, const maps::Table* table = nullptr)
      : kernel_(kernel), table_(table) {}
  Result<maps::SockTermReport> closeUdp(const Chooser& choose) override {
    ++passes;
    unlocked += !kernel_.writerLockHeld();
    early += table_ && table_->reclaimPending();
    maps::SockTermReport r;
    r.mechanism = "scripted";
    std::vector<maps::TranslatedSocket> kept;
    for (const auto& s : sockets) {
      ++r.sockets;
      if (choose(s)) {
        ++r.closed;
        closed.push_back(s.cookie);
      } else {
        kept.push_back(s);
      }
    }
    sockets = kept;
    return r;
  }
  std::vector<maps::TranslatedSocket> sockets;
  std::vector<uint64_t> closed;
  int passes = 0, unlocked = 0, early = 0;

 private:
  const FakeKernel& kernel_;
  const maps::Table* table_;
};

TEST(CloseStaleUdpSockets, ClosesTheOnesWhoseBackendLeftUnderTheWriterLock) {
  FakeKernel kernel;
  kernel.checkLocks();
  maps::Table table(kernel);
  ScriptedSockTerm term(kernel);
  term.sockets = {socketTo("10.96.0.53", "10.0.0.1", 1), socketTo("10.96.0.53", "10.0.0.2", 2),
                  socketTo("10.96.0.53", "10.0.0.3", 3),
                  socketTo("10.96.0.53", "10.0.0.3", 4, 53, Protocol::kTcp)};
  auto want = build(udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2 terminating"}));
  auto r = closeStaleUdpSockets(table, want, term);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->sockets, 4u);
  EXPECT_EQ(r->closed, 1u);
  EXPECT_THAT(term.closed, ElementsAre(3));
  EXPECT_EQ(term.unlocked, 0);
  EXPECT_FALSE(kernel.writerLockHeld());
  EXPECT_THAT(kernel.violations(), IsEmpty());
  EXPECT_EQ(describe(*r, 1.25),
            "closed 1 connected UDP socket whose backend left (scripted, 4 UDP translations, 0 "
            "namespaces, 1.2 ms)");
}

// A source whose every step is the whole truth; with `incremental`, it
// also says which Services changed (as KubeSource does).
class StepSource final : public Source {
 public:
  struct Step {
    std::string content;
    std::set<std::pair<std::string, std::string>> changed;
  };
  StepSource(std::string initial, std::vector<Step> steps, bool incremental)
      : content_(std::move(initial)),
        steps_(steps.begin(), steps.end()),
        incremental_(incremental) {}
  const std::string& name() const override { return name_; }
  Event next(int) override {
    if (steps_.empty()) return Event::kStop;
    content_ = steps_.front().content;
    changed_ = steps_.front().changed;
    steps_.pop_front();
    return Event::kChanged;
  }
  Result<Objects> objects() override { return parseManifests(content_, name_); }
  std::optional<Changes> changes() override {
    if (!incremental_) return std::nullopt;
    auto all = parseManifests(content_, name_);
    Changes out;
    out.services = std::exchange(changed_, {});
    for (const auto& s : all->services)
      if (out.services.contains({s.ns, s.name})) out.objects.services.push_back(s);
    for (const auto& sl : all->slices)
      if (out.services.contains({sl.ns, sl.serviceName})) out.objects.slices.push_back(sl);
    return out;
  }
  InputCheck inputCheck() const override { return InputCheck::kLenient; }
  bool synced() const override { return true; }

 private:
  std::string name_ = "steps";
  std::string content_;
  std::deque<Step> steps_;
  std::set<std::pair<std::string, std::string>> changed_;
  bool incremental_;
};

class AgentSockTerm : public ::testing::TestWithParam<bool> {};

// Passes run after the first sync, and after a sync in which a UDP endpoint
// left; not when a TCP backend changed or a UDP one only began terminating.
TEST_P(AgentSockTerm, PassesOnlyWhenAUdpEndpointLeft) {
  FakeKernel kernel;
  kernel.checkLocks();
  maps::Table table(kernel);
  ScriptedSockTerm term(kernel);
  std::ostringstream out;
  observe::Metrics metrics;
  Agent agent(table, {.select = {}, .metrics = &metrics, .sockTerm = &term}, out);
  const std::pair<std::string, std::string> dns{"default", "dns"}, web{"default", "web"};
  auto both = [&](std::vector<std::string> d, std::string w) {
    return udpService("dns", "10.96.0.53", std::move(d)) + "---\n" +
           udpService("web", "10.96.0.80", {std::move(w)});
  };
  StepSource source(both({"10.0.0.1", "10.0.0.2"}, "10.0.1.1"),
                    {
                        {both({"10.0.0.1", "10.0.0.2 terminating"}, "10.0.1.1"), {dns}},
                        {both({"10.0.0.1", "10.0.0.2 terminating"}, "10.0.1.2"), {web}},
                        {both({"10.0.0.1"}, "10.0.1.2"), {dns}},
                        {both({"10.0.0.1"}, "10.0.1.2"), {dns}},
                    },
                    GetParam());
  term.sockets = {socketTo("10.96.0.53", "10.0.0.1", 1), socketTo("10.96.0.53", "10.0.0.2", 2),
                  socketTo("10.96.0.80", "10.0.1.1", 3, 53, Protocol::kTcp)};
  ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  EXPECT_EQ(term.passes, 1);  // the first sync: sockets may have lost theirs while no agent ran
  std::vector<int> passes;
  while (source.next(0) == Source::Event::kChanged) {
    ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
    passes.push_back(term.passes);
  }
  // Terminating: no pass; web's (TCP and UDP) backend replaced: its UDP
  // entry lost one; 10.0.0.2 gone: a pass that closes its socket; no change: none.
  EXPECT_THAT(passes, ElementsAre(1, 2, 3, 3));
  EXPECT_THAT(term.closed, ElementsAre(2));
  EXPECT_EQ(term.unlocked, 0);
  EXPECT_THAT(kernel.violations(), IsEmpty());
  EXPECT_THAT(metrics.exposition(), ::testing::HasSubstr("svcrouter_udp_sockets_closed_total 1\n"));
}

// While following, the agent publishes at the flips and waits for readers
// later: the pass comes once that wait is over (reclaim), never before (a
// connect() that read the old set may still be running until then).
TEST(AgentSockTermFollowing, ThePassWaitsForTheGracePeriod) {
  FakeKernel kernel;
  kernel.checkLocks();
  maps::Table table(kernel);
  ScriptedSockTerm term(kernel, &table);
  std::ostringstream out;
  Agent agent(table, {.select = {}, .sockTerm = &term}, out);
  StepSource source(udpService("dns", "10.96.0.53", {"10.0.0.1", "10.0.0.2"}),
                    {{udpService("dns", "10.96.0.53", {"10.0.0.1"}), {{"default", "dns"}}}}, true);
  term.sockets = {socketTo("10.96.0.53", "10.0.0.1", 1), socketTo("10.96.0.53", "10.0.0.2", 2)};
  ASSERT_EQ(agent.sync(source), Agent::Outcome::kApplied);
  ASSERT_EQ(term.passes, 1);
  agent.follow(source);  // the removal, then stop: its reclamation on the way out
  EXPECT_EQ(term.passes, 2);
  EXPECT_THAT(term.closed, ElementsAre(2));
  EXPECT_EQ(term.early, 0) << "a pass ran before the grace period of its flips";
  EXPECT_FALSE(table.reclaimPending());
  EXPECT_THAT(kernel.violations(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(FullAndIncremental, AgentSockTerm, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Incremental" : "Full"; });

}  // namespace
}  // namespace svcrouter
