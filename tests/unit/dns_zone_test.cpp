// The zone: every record kind of the Kubernetes DNS specification (and the
// pod and endpoint names CoreDNS adds), NXDOMAIN against NODATA, case,
// truncation, and updates of a few Services. Answers are read back with
// ldns and compared section by section, as dig would print them.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/support/dns_messages.h"
#include "userspace/dns/zone.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter::dns {
namespace {

using testing::Reply;

constexpr const char* kObjects = R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00::10"]
  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- addresses: [10.77.0.11]
- addresses: [10.77.0.12]
  conditions: {ready: true}
- addresses: [10.77.0.13]
  conditions: {ready: false}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {clusterIP: 10.96.1.1, ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-v4, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints:
- {addresses: [10.1.0.2], hostname: db-1}
- {addresses: [10.1.0.1], hostname: db-0}
- {addresses: [10.1.0.3]}
- {addresses: [10.1.0.4], hostname: db-3, conditions: {ready: false}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-v6, namespace: default, labels: {kubernetes.io/service-name: db}}
addressType: IPv6
ports: [{name: pg, port: 5432}]
endpoints:
- {addresses: ["fd00:1::1"], hostname: db-0}
---
apiVersion: v1
kind: Service
metadata: {name: nobody, namespace: default}
spec: {clusterIP: None, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: WWW.Example.com.}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: default}
spec: {type: ExternalName, externalName: web.default.svc.cluster.local}
)";

Objects objects(const std::string& yaml) {
  auto parsed = parseManifests(yaml, "zone.yaml");
  EXPECT_TRUE(parsed.has_value()) << parsed.error().message();
  return parsed ? *parsed : Objects{};
}

struct Asked {
  Zone::Outcome outcome;
  std::string target;  // on kChase, dotted
  Reply reply;
};

// Asks the zone as the handler does: header and question, then answer().
Asked ask(const Zone& zone, const std::string& name, uint16_t type, size_t limit = 65535) {
  std::array<uint8_t, 65535> buf{};
  MessageWriter w(buf.data(), limit);
  w.header(0x4242, kFlagQr | kFlagRd | kFlagRa);
  auto wire = nameFromDotted(name);
  EXPECT_TRUE(wire.has_value()) << name;
  w.question(*wire, type, kClassIn);
  std::string target;
  Asked a{zone.answer(lowerName(*wire), type, w, &target), "", {}};
  if (!target.empty()) a.target = dottedName(target);
  size_t n = w.finish();
  a.reply = testing::decode(buf.data(), n);
  EXPECT_TRUE(a.reply.ok);
  return a;
}

class ZoneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    builder.replaceAll(objects(kObjects));
    zone = holder.get();
    ASSERT_TRUE(zone);
  }
  Reply answered(const std::string& name, uint16_t type) {
    auto a = ask(*zone, name, type);
    EXPECT_EQ(a.outcome, Zone::Outcome::kAnswered) << name;
    EXPECT_TRUE(a.reply.aa) << name;
    return a.reply;
  }
  std::vector<std::string> answer(const std::string& name, uint16_t type) {
    auto r = answered(name, type);
    EXPECT_EQ(r.rcode, kNoError) << name;
    return r.answer;
  }
  ZoneHolder holder;
  ZoneBuilder builder{ZoneOptions{.domain = "cluster.local", .ttl = 30}, holder};
  std::shared_ptr<const Zone> zone;
};

using Lines = std::vector<std::string>;

TEST_F(ZoneTest, ServiceAddresses) {
  EXPECT_EQ(answer("web.default.svc.cluster.local", kTypeA),
            Lines{"web.default.svc.cluster.local. 30 IN A 10.96.0.10"});
  EXPECT_EQ(answer("web.default.svc.cluster.local", kTypeAaaa),
            Lines{"web.default.svc.cluster.local. 30 IN AAAA fd00::10"});
  EXPECT_EQ(answer("plain.shop.svc.cluster.local.", kTypeA),
            Lines{"plain.shop.svc.cluster.local. 30 IN A 10.96.1.1"});
  EXPECT_EQ(answer("web.default.svc.cluster.local", kTypeAny),
            (Lines{"web.default.svc.cluster.local. 30 IN A 10.96.0.10",
                   "web.default.svc.cluster.local. 30 IN AAAA fd00::10"}));
}

TEST_F(ZoneTest, CaseInsensitiveAndEchoed) {
  // The answer's owner is the question's name, in the client's case
  // (resolvers that randomize case check it).
  EXPECT_EQ(answer("WeB.DeFAULT.Svc.Cluster.LOCAL", kTypeA),
            Lines{"WeB.DeFAULT.Svc.Cluster.LOCAL. 30 IN A 10.96.0.10"});
  auto r = answered("NOPE.default.svc.cluster.local", kTypeA);
  EXPECT_EQ(r.rcode, kNxDomain);
}

TEST_F(ZoneTest, SrvForNamedPorts) {
  EXPECT_EQ(answer("_http._tcp.web.default.svc.cluster.local", kTypeSrv),
            Lines{"_http._tcp.web.default.svc.cluster.local. 30 IN SRV 0 100 80 "
                  "web.default.svc.cluster.local."});
  EXPECT_EQ(answer("_dns._udp.web.default.svc.cluster.local", kTypeSrv),
            Lines{"_dns._udp.web.default.svc.cluster.local. 30 IN SRV 0 100 53 "
                  "web.default.svc.cluster.local."});
  EXPECT_EQ(answered("_http._udp.web.default.svc.cluster.local", kTypeSrv).rcode, kNxDomain);
  // An unnamed port has none.
  EXPECT_EQ(answered("_tcp.plain.shop.svc.cluster.local", kTypeSrv).rcode, kNxDomain);
}

TEST_F(ZoneTest, NxDomainAndNoData) {
  const std::string soa =
      "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. ";
  auto nx = answered("nope.default.svc.cluster.local", kTypeA);
  EXPECT_EQ(nx.rcode, kNxDomain);
  EXPECT_TRUE(nx.answer.empty());
  ASSERT_EQ(nx.authority.size(), 1u);
  EXPECT_TRUE(nx.authority[0].starts_with(soa)) << nx.authority[0];
  EXPECT_TRUE(nx.authority[0].ends_with(" 7200 1800 86400 30")) << nx.authority[0];
  // The name exists, the type does not.
  auto nodata = answered("web.default.svc.cluster.local", kTypeTxt);
  EXPECT_EQ(nodata.rcode, kNoError);
  EXPECT_TRUE(nodata.answer.empty());
  ASSERT_EQ(nodata.authority.size(), 1u);
  EXPECT_TRUE(nodata.authority[0].starts_with(soa));
  // Names with names below them exist too.
  for (const char* name : {"default.svc.cluster.local", "svc.cluster.local", "cluster.local",
                           "_tcp.web.default.svc.cluster.local", "pod.cluster.local"}) {
    auto r = answered(name, kTypeA);
    EXPECT_EQ(r.rcode, kNoError) << name;
    EXPECT_TRUE(r.answer.empty()) << name;
  }
  EXPECT_EQ(answered("other.svc.cluster.local", kTypeA).rcode, kNxDomain);
  EXPECT_EQ(answered("a.b.web.default.svc.cluster.local", kTypeA).rcode, kNxDomain);
  // The apex has its SOA.
  auto apex = answer("cluster.local", kTypeSoa);
  ASSERT_EQ(apex.size(), 1u);
  EXPECT_TRUE(apex[0].starts_with(soa));
}

TEST_F(ZoneTest, ReverseNames) {
  EXPECT_EQ(answer("10.0.96.10.in-addr.arpa", kTypePtr),
            Lines{"10.0.96.10.in-addr.arpa. 30 IN PTR web.default.svc.cluster.local."});
  EXPECT_EQ(
      answer("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", kTypePtr),
      Lines{"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 30 "
            "IN PTR web.default.svc.cluster.local."});
  // Endpoints: their hostname, else their address with dashes.
  EXPECT_EQ(answer("11.0.77.10.in-addr.arpa", kTypePtr),
            Lines{"11.0.77.10.in-addr.arpa. 30 IN PTR 10-77-0-11.web.default.svc.cluster.local."});
  EXPECT_EQ(answer("1.0.1.10.in-addr.arpa", kTypePtr),
            Lines{"1.0.1.10.in-addr.arpa. 30 IN PTR db-0.db.default.svc.cluster.local."});
  // Not ready: no name.
  EXPECT_EQ(ask(*zone, "13.0.77.10.in-addr.arpa", kTypePtr).outcome, Zone::Outcome::kNotOurs);
  EXPECT_EQ(ask(*zone, "4.3.2.1.in-addr.arpa", kTypePtr).outcome, Zone::Outcome::kNotOurs);
}

TEST_F(ZoneTest, EndpointNamesOfAClusterIpService) {
  EXPECT_EQ(answer("10-77-0-12.web.default.svc.cluster.local", kTypeA),
            Lines{"10-77-0-12.web.default.svc.cluster.local. 30 IN A 10.77.0.12"});
  EXPECT_EQ(answered("10-77-0-13.web.default.svc.cluster.local", kTypeA).rcode, kNxDomain);
}

TEST_F(ZoneTest, HeadlessService) {
  EXPECT_EQ(answer("db.default.svc.cluster.local", kTypeA),
            (Lines{"db.default.svc.cluster.local. 30 IN A 10.1.0.1",
                   "db.default.svc.cluster.local. 30 IN A 10.1.0.2",
                   "db.default.svc.cluster.local. 30 IN A 10.1.0.3"}));
  EXPECT_EQ(answer("db.default.svc.cluster.local", kTypeAaaa),
            Lines{"db.default.svc.cluster.local. 30 IN AAAA fd00:1::1"});
  EXPECT_EQ(answer("db-0.db.default.svc.cluster.local", kTypeA),
            Lines{"db-0.db.default.svc.cluster.local. 30 IN A 10.1.0.1"});
  EXPECT_EQ(answer("db-0.db.default.svc.cluster.local", kTypeAaaa),
            Lines{"db-0.db.default.svc.cluster.local. 30 IN AAAA fd00:1::1"});
  EXPECT_EQ(answer("10-1-0-3.db.default.svc.cluster.local", kTypeA),
            Lines{"10-1-0-3.db.default.svc.cluster.local. 30 IN A 10.1.0.3"});
  EXPECT_EQ(answered("db-3.db.default.svc.cluster.local", kTypeA).rcode, kNxDomain);
  // One SRV record per ready endpoint, at the endpoint's name.
  // (In the order of their wire form: the shorter target first.)
  EXPECT_EQ(answer("_pg._tcp.db.default.svc.cluster.local", kTypeSrv),
            (Lines{"_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 5432 "
                   "db-0.db.default.svc.cluster.local.",
                   "_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 5432 "
                   "db-1.db.default.svc.cluster.local.",
                   "_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 5432 "
                   "10-1-0-3.db.default.svc.cluster.local."}));
  // Without ready endpoints: NXDOMAIN, as the specification says.
  EXPECT_EQ(answered("nobody.default.svc.cluster.local", kTypeA).rcode, kNxDomain);
}

TEST_F(ZoneTest, ExternalName) {
  auto a = ask(*zone, "ext.default.svc.cluster.local", kTypeA);
  EXPECT_EQ(a.outcome, Zone::Outcome::kChase);
  EXPECT_EQ(a.target, "www.example.com.");
  EXPECT_EQ(a.reply.answer, Lines{"ext.default.svc.cluster.local. 30 IN CNAME www.example.com."});
  EXPECT_EQ(answer("ext.default.svc.cluster.local", kTypeCname),
            Lines{"ext.default.svc.cluster.local. 30 IN CNAME www.example.com."});
  // A target in the zone is answered at once.
  EXPECT_EQ(answer("alias.default.svc.cluster.local", kTypeA),
            (Lines{"alias.default.svc.cluster.local. 30 IN CNAME web.default.svc.cluster.local.",
                   "web.default.svc.cluster.local. 30 IN A 10.96.0.10"}));
}

TEST_F(ZoneTest, PodNames) {
  EXPECT_EQ(answer("10-0-0-1.default.pod.cluster.local", kTypeA),
            Lines{"10-0-0-1.default.pod.cluster.local. 30 IN A 10.0.0.1"});
  EXPECT_EQ(answer("fd00--1.shop.pod.cluster.local", kTypeAaaa),
            Lines{"fd00--1.shop.pod.cluster.local. 30 IN AAAA fd00::1"});
  auto nodata = answered("10-0-0-1.default.pod.cluster.local", kTypeAaaa);
  EXPECT_EQ(nodata.rcode, kNoError);
  EXPECT_TRUE(nodata.answer.empty());
  EXPECT_EQ(answered("10-0-0-300.default.pod.cluster.local", kTypeA).rcode, kNxDomain);
  EXPECT_EQ(answered("web.default.pod.cluster.local", kTypeA).rcode, kNxDomain);
  EXPECT_EQ(answered("default.pod.cluster.local", kTypeA).rcode, kNoError);
}

TEST_F(ZoneTest, SchemaVersion) {
  EXPECT_EQ(answer("dns-version.cluster.local", kTypeTxt),
            Lines{"dns-version.cluster.local. 30 IN TXT \"1.1.0\""});
}

TEST_F(ZoneTest, OtherNamesAreNotOurs) {
  EXPECT_EQ(ask(*zone, "example.com", kTypeA).outcome, Zone::Outcome::kNotOurs);
  EXPECT_EQ(ask(*zone, "local", kTypeA).outcome, Zone::Outcome::kNotOurs);
  EXPECT_EQ(ask(*zone, "xcluster.local", kTypeA).outcome, Zone::Outcome::kNotOurs);
}

TEST_F(ZoneTest, TruncatedAtTheClientsSize) {
  std::string yaml =
      "apiVersion: v1\nkind: Service\nmetadata: {name: many}\n"
      "spec: {clusterIP: None, ports: [{port: 80}]}\n---\n"
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata: {name: many-1, labels: {kubernetes.io/service-name: many}}\n"
      "addressType: IPv4\nendpoints:\n";
  for (int i = 1; i <= 100; ++i) yaml += "- addresses: [10.2.0." + std::to_string(i) + "]\n";
  builder.replaceAll(objects(yaml));
  auto small = ask(*holder.get(), "many.default.svc.cluster.local", kTypeA, 512);
  EXPECT_TRUE(small.reply.tc);
  EXPECT_LE(small.reply.size, 512u);
  EXPECT_GT(small.reply.answer.size(), 10u);
  EXPECT_LT(small.reply.answer.size(), 100u);
  auto whole = ask(*holder.get(), "many.default.svc.cluster.local", kTypeA);
  EXPECT_FALSE(whole.reply.tc);
  EXPECT_EQ(whole.reply.answer.size(), 100u);
}

TEST_F(ZoneTest, OtherDomainAndTtl) {
  ZoneHolder other;
  ZoneBuilder b(ZoneOptions{.domain = "Example.Internal.", .ttl = 5}, other);
  b.replaceAll(objects(kObjects));
  auto a = ask(*other.get(), "web.default.svc.example.internal", kTypeA);
  EXPECT_EQ(a.reply.answer, Lines{"web.default.svc.example.internal. 5 IN A 10.96.0.10"});
  EXPECT_EQ(ask(*other.get(), "web.default.svc.cluster.local", kTypeA).outcome,
            Zone::Outcome::kNotOurs);
  EXPECT_EQ(ask(*other.get(), "dns-version.example.internal", kTypeTxt).reply.answer,
            Lines{"dns-version.example.internal. 5 IN TXT \"1.1.0\""});
}

TEST_F(ZoneTest, ChangedServicesOnly) {
  auto before = holder.get();
  // web moves to another address, plain goes, a new one comes.
  Objects changed = objects(R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.99, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: fresh, namespace: shop}
spec: {clusterIP: 10.96.1.2, ports: [{port: 80}]}
)");
  builder.replaceServices({{"default", "web"}, {"shop", "plain"}, {"shop", "fresh"}}, changed);
  auto now = holder.get();
  EXPECT_EQ(ask(*now, "web.default.svc.cluster.local", kTypeA).reply.answer,
            Lines{"web.default.svc.cluster.local. 30 IN A 10.96.0.99"});
  EXPECT_EQ(ask(*now, "plain.shop.svc.cluster.local", kTypeA).reply.rcode, kNxDomain);
  EXPECT_EQ(ask(*now, "fresh.shop.svc.cluster.local", kTypeA).reply.answer,
            Lines{"fresh.shop.svc.cluster.local. 30 IN A 10.96.1.2"});
  // Its endpoints' names went with the old object (its slices were not given).
  EXPECT_EQ(ask(*now, "10-77-0-11.web.default.svc.cluster.local", kTypeA).reply.rcode, kNxDomain);
  EXPECT_EQ(ask(*now, "db.default.svc.cluster.local", kTypeA).reply.answer.size(), 3u);
  // The snapshot a query holds stays whole.
  EXPECT_EQ(ask(*before, "web.default.svc.cluster.local", kTypeA).reply.answer,
            Lines{"web.default.svc.cluster.local. 30 IN A 10.96.0.10"});
}

TEST_F(ZoneTest, NamesGoWithTheirLastService) {
  builder.replaceAll(objects(R"(
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: shop}
spec: {clusterIP: 10.96.1.1, ports: [{port: 8080}]}
)"));
  auto now = holder.get();
  EXPECT_EQ(ask(*now, "default.svc.cluster.local", kTypeA).reply.rcode, kNxDomain);
  EXPECT_EQ(ask(*now, "shop.svc.cluster.local", kTypeA).reply.rcode, kNoError);
  EXPECT_EQ(ask(*now, "10.0.96.10.in-addr.arpa", kTypePtr).outcome, Zone::Outcome::kNotOurs);
  builder.replaceAll(Objects{});
  now = holder.get();
  EXPECT_EQ(ask(*now, "shop.svc.cluster.local", kTypeA).reply.rcode, kNxDomain);
  EXPECT_EQ(ask(*now, "svc.cluster.local", kTypeA).reply.rcode, kNxDomain);
  EXPECT_EQ(ask(*now, "pod.cluster.local", kTypeA).reply.rcode, kNoError);
  EXPECT_EQ(ask(*now, "dns-version.cluster.local", kTypeTxt).reply.answer.size(), 1u);
  // What is left: the zone's own names.
  EXPECT_EQ(now->names(), 3u);  // cluster.local, dns-version, pod
}

// Changes of a few Services at a time, at random, end with the zone a
// fresh build of the same objects makes.
TEST_F(ZoneTest, IncrementalUpdatesMatchAFreshBuild) {
  std::mt19937 rng(7);
  constexpr int kServices = 12;
  // Each Service i at one of a few shapes: absent, ClusterIP with
  // endpoints, headless, ExternalName; endpoints shared between Services
  // (their reverse names then hold several records).
  auto yaml = [](int i, int shape) -> std::string {
    std::string name = "s" + std::to_string(i), ns = i % 3 ? "a" : "b";
    std::string md = "metadata: {name: " + name + ", namespace: " + ns + "}\n";
    std::string slice =
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: " +
        name + "-1, namespace: " + ns + ", labels: {kubernetes.io/service-name: " + name +
        "}}\n"
        "addressType: IPv4\nports: [{name: p, port: 80}]\nendpoints:\n"
        "- {addresses: [10.1.0." +
        std::to_string(i % 4 + 1) +
        "], hostname: h}\n"
        "- {addresses: [10.1.0." +
        std::to_string(shape + 10) + "]}\n";
    switch (shape) {
      case 0:
        return "";
      case 1:
        return "apiVersion: v1\nkind: Service\n" + md + "spec: {clusterIP: 10.96.0." +
               std::to_string(i + 1) + ", ports: [{name: p, port: 80}]}\n" + slice;
      case 2:
        return "apiVersion: v1\nkind: Service\n" + md +
               "spec: {clusterIP: None, ports: [{name: p, port: 80}]}\n" + slice;
      default:
        return "apiVersion: v1\nkind: Service\n" + md +
               "spec: {type: ExternalName, externalName: x" + std::to_string(i) + ".example}\n";
    }
  };
  std::vector<int> shape(kServices, 0);
  auto all = [&] {
    std::string out;
    for (int i = 0; i < kServices; ++i)
      if (auto y = yaml(i, shape[i]); !y.empty()) out += (out.empty() ? "" : "---\n") + y;
    return objects(out);
  };
  builder.replaceAll(all());
  for (int step = 0; step < 200; ++step) {
    std::set<ZoneBuilder::NsName> changed;
    Objects part;
    for (int k = 0; k < 3; ++k) {
      int i = static_cast<int>(rng() % kServices);
      shape[i] = static_cast<int>(rng() % 4);
      changed.insert({i % 3 ? "a" : "b", "s" + std::to_string(i)});
    }
    for (const auto& [ns, name] : changed) {
      int i = std::stoi(name.substr(1));
      if (auto y = yaml(i, shape[i]); !y.empty()) {
        Objects one = objects(y);
        for (auto& s : one.services) part.services.push_back(s);
        for (auto& s : one.slices) part.slices.push_back(s);
      }
    }
    if (step % 10 == 9)
      builder.replaceAll(all());
    else
      builder.replaceServices(changed, part);
    ZoneHolder fresh;
    ZoneBuilder(ZoneOptions{}, fresh).replaceAll(all());
    ASSERT_EQ(holder.get()->contents(), fresh.get()->contents()) << "step " << step;
    ASSERT_EQ(holder.get()->names(), fresh.get()->names()) << "step " << step;
  }
}

}  // namespace
}  // namespace svcrouter::dns
