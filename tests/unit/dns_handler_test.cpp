// The query handler, bytes in and bytes out without a socket: malformed
// queries, EDNS0, truncation, the cache's answers (ID, case, TTLs, OPT),
// ExternalName chasing, and what is handed over to be forwarded.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "tests/support/dns_messages.h"
#include "userspace/dns/handler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter::dns {
namespace {

using testing::decode;
using testing::makeQuery;
using testing::QueryOptions;
using testing::Reply;
using Lines = std::vector<std::string>;

constexpr const char* kObjects = R"(
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: www.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: many, namespace: default}
spec: {clusterIP: None, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: many-1, labels: {kubernetes.io/service-name: many}}
addressType: IPv4
endpoints:
)";

std::string manyEndpoints() {
  std::string yaml = kObjects;
  for (int i = 1; i <= 60; ++i) yaml += "- addresses: [10.2.0." + std::to_string(i) + "]\n";
  return yaml;
}

// An upstream's response to (name, type) with these answer records (zone
// file lines), read as the server reads it.
CachedAnswer upstreamAnswer(const std::string& name, uint16_t type,
                            const std::vector<std::string>& answers, Clock::time_point now,
                            uint16_t rcode = LDNS_RCODE_NOERROR, bool withOpt = true) {
  ldns_pkt* p = nullptr;
  ldns_pkt_query_new_frm_str(&p, name.c_str(), static_cast<ldns_rr_type>(type), LDNS_RR_CLASS_IN,
                             LDNS_RD);
  ldns_pkt_set_qr(p, true);
  ldns_pkt_set_ra(p, true);
  ldns_pkt_set_id(p, 777);
  ldns_pkt_set_rcode(p, static_cast<uint8_t>(rcode));
  for (const auto& line : answers) {
    ldns_rr* rr = nullptr;
    EXPECT_EQ(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr), LDNS_STATUS_OK) << line;
    ldns_pkt_push_rr(
        p, line.find(" SOA ") != std::string::npos ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ANSWER,
        rr);
  }
  if (withOpt) ldns_pkt_set_edns_udp_size(p, 1232);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, p, &size);
  auto a = readAnswer({wire, size}, now);
  free(wire);
  ldns_pkt_free(p);
  EXPECT_TRUE(a.has_value());
  return a.value_or(CachedAnswer{});
}

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto objects = parseManifests(manyEndpoints(), "h.yaml");
    ASSERT_TRUE(objects.has_value()) << objects.error().message();
    builder.replaceAll(*objects);
  }
  // Handles a query; the reply (decoded) if there is one.
  Handler::Result run(const std::vector<uint8_t>& query, Transport t = Transport::kUdp) {
    out.fill(0);
    return handler.handle(query, t, out, fwd, now);
  }
  Reply reply(const std::vector<uint8_t>& query, Transport t = Transport::kUdp) {
    auto r = run(query, t);
    EXPECT_EQ(r.action, Handler::Action::kRespond);
    size = r.size;
    return decode(out.data(), r.size);
  }
  Clock::time_point now = Clock::now();
  ZoneHolder zones;
  ZoneBuilder builder{ZoneOptions{}, zones};
  Cache cache{100, 1 << 20};
  Stats stats;
  Handler handler{{}, zones, cache, stats};
  std::array<uint8_t, kMaxMessageSize> out{};
  Forward fwd;
  size_t size = 0;
};

TEST_F(HandlerTest, AnswersFromTheZone) {
  auto r = reply(makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.id, 0x1234);
  EXPECT_TRUE(r.qr && r.aa && r.rd && r.ra);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_EQ(r.question, Lines{"web.default.svc.cluster.local. IN A"});
  EXPECT_EQ(r.answer, Lines{"web.default.svc.cluster.local. 30 IN A 10.96.0.10"});
  EXPECT_FALSE(r.edns);                      // none asked, none given
  EXPECT_EQ(stats.answeredCount(0, 0), 1u);  // A, NOERROR
}

TEST_F(HandlerTest, MalformedQueries) {
  // Too short for a header: nothing.
  EXPECT_EQ(run({0x12, 0x34, 0x01}).action, Handler::Action::kDrop);
  // A response: never answered (no loops between servers).
  auto response = makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A);
  response[2] |= 0x80;
  EXPECT_EQ(run(response).action, Handler::Action::kDrop);
  // A header that promises a question that is not there: FORMERR, same ID.
  std::vector<uint8_t> header = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  auto r = reply(header);
  EXPECT_EQ(r.rcode, kFormErr);
  EXPECT_EQ(r.id, 0xabcd);
  EXPECT_TRUE(r.question.empty());
  // A name cut short.
  auto q = makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A);
  q.resize(20);
  EXPECT_EQ(reply(q).rcode, kFormErr);
  // More than one additional record (several OPT or TSIG records).
  auto two = makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A, {.ednsSize = 1232});
  two[11] = 2;
  two.insert(two.end(), two.end() - 11, two.end());
  EXPECT_EQ(reply(two).rcode, kFormErr);
  // No question at all.
  std::vector<uint8_t> none = {0, 7, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(reply(none).rcode, kFormErr);
  // A label pointing at itself.
  std::vector<uint8_t> loop = {0, 8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  EXPECT_EQ(reply(loop).rcode, kFormErr);
  EXPECT_EQ(stats.droppedCount(), 2u);
}

TEST_F(HandlerTest, OtherOpcodesAndTypes) {
  auto q = makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A);
  q[2] = static_cast<uint8_t>((q[2] & 0x87) | (2 << 3));  // STATUS
  EXPECT_EQ(reply(q).rcode, kNotImp);
  EXPECT_EQ(reply(makeQuery("cluster.local", LDNS_RR_TYPE_AXFR)).rcode, kRefused);
  EXPECT_EQ(
      reply(makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A, {.klass = LDNS_RR_CLASS_CH}))
          .rcode,
      kRefused);
}

TEST_F(HandlerTest, Edns0) {
  auto r = reply(makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A,
                           {.ednsSize = 4096, .dnssecOk = true}));
  EXPECT_TRUE(r.edns);
  EXPECT_EQ(r.ednsSize, kOfferedUdpSize);
  EXPECT_TRUE(r.dnssecOk);  // RFC 3225: DO is echoed
  EXPECT_EQ(r.answer.size(), 1u);
  EXPECT_EQ(r.additional.size(), 0u);  // ldns shows OPT apart
  auto bad = reply(makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A,
                             {.ednsSize = 1232, .ednsVersion = 1}));
  EXPECT_EQ(bad.rcode, kBadVers);
  EXPECT_TRUE(bad.answer.empty());
  EXPECT_EQ(stats.answeredCount(0, 6), 1u);  // A, BADVERS
}

TEST_F(HandlerTest, TruncatedOverTheClientsBuffer) {
  // 60 addresses: 16 + 60 * 16 bytes; 512 without EDNS0.
  auto r = reply(makeQuery("many.default.svc.cluster.local", LDNS_RR_TYPE_A));
  EXPECT_TRUE(r.tc);
  EXPECT_LE(size, 512u);
  EXPECT_LT(r.answer.size(), 60u);
  // An EDNS0 buffer of 1232 holds them all.
  r = reply(makeQuery("many.default.svc.cluster.local", LDNS_RR_TYPE_A, {.ednsSize = 1232}));
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.answer.size(), 60u);
  // A buffer below 512 counts as 512.
  r = reply(makeQuery("many.default.svc.cluster.local", LDNS_RR_TYPE_A, {.ednsSize = 100}));
  EXPECT_TRUE(r.tc);
  EXPECT_LE(size, 512u);
  EXPECT_TRUE(r.edns);
  // TCP has room.
  r = reply(makeQuery("many.default.svc.cluster.local", LDNS_RR_TYPE_A), Transport::kTcp);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.answer.size(), 60u);
  EXPECT_EQ(stats.truncatedCount(), 2u);
}

TEST_F(HandlerTest, BeforeTheFirstSync) {
  ZoneHolder empty;
  Handler h({}, empty, cache, stats);
  auto q = makeQuery("web.default.svc.cluster.local", LDNS_RR_TYPE_A);
  auto r = h.handle(q, Transport::kUdp, out, fwd, now);
  ASSERT_EQ(r.action, Handler::Action::kRespond);
  EXPECT_EQ(decode(out.data(), r.size).rcode, kServFail);  // not NXDOMAIN: clients cache that
  auto other = makeQuery("example.com", LDNS_RR_TYPE_A);
  EXPECT_EQ(h.handle(other, Transport::kUdp, out, fwd, now).action, Handler::Action::kForward);
}

TEST_F(HandlerTest, WithoutUpstreamsOtherNamesAreRefused) {
  Handler h({.domain = "cluster.local", .forwarding = false}, zones, cache, stats);
  auto q = makeQuery("example.com", LDNS_RR_TYPE_A);
  auto r = h.handle(q, Transport::kUdp, out, fwd, now);
  ASSERT_EQ(r.action, Handler::Action::kRespond);
  EXPECT_EQ(decode(out.data(), r.size).rcode, kRefused);
  // An ExternalName: its CNAME, for the client to follow.
  auto ext = makeQuery("ext.default.svc.cluster.local", LDNS_RR_TYPE_A);
  r = h.handle(ext, Transport::kUdp, out, fwd, now);
  ASSERT_EQ(r.action, Handler::Action::kRespond);
  auto reply = decode(out.data(), r.size);
  EXPECT_EQ(reply.rcode, kNoError);
  EXPECT_EQ(reply.answer, Lines{"ext.default.svc.cluster.local. 30 IN CNAME www.example.com."});
}

TEST_F(HandlerTest, ForwardsOtherNamesThenRelaysAndCaches) {
  auto q = makeQuery("Www.Example.COM", LDNS_RR_TYPE_A, {.id = 99, .ednsSize = 1232});
  ASSERT_EQ(run(q).action, Handler::Action::kForward);
  EXPECT_EQ(fwd.id, 99);
  EXPECT_EQ(dottedName(std::string(fwd.upstreamName())), "www.example.com.");
  EXPECT_EQ(fwd.upstreamKey(), cacheKey(lowerName(*nameFromDotted("www.example.com")), 1, 1));
  EXPECT_EQ(stats.cacheMisses(), 1u);

  // The upstream's answer, relayed: the client's ID and case (its owner
  // names point at the question), one OPT (ours).
  auto answer = upstreamAnswer("www.example.com", LDNS_RR_TYPE_A,
                               {"www.example.com. 300 IN A 192.0.2.1"}, now);
  EXPECT_EQ(answer.ttl, 300u);
  size = handler.respond(fwd, &answer, out, now);
  auto r = decode(out.data(), size);
  EXPECT_EQ(r.id, 99);
  EXPECT_EQ(r.question, Lines{"Www.Example.COM. IN A"});
  EXPECT_EQ(r.answer, Lines{"Www.Example.COM. 300 IN A 192.0.2.1"});
  EXPECT_TRUE(r.edns);
  EXPECT_FALSE(r.aa);
  EXPECT_EQ(stats.forwardedCount(), 1u);

  // Cached: the next asker is answered at once, TTL aged, without OPT if
  // it sent none.
  cache.insert(fwd.upstreamKey(), answer);
  now += std::chrono::seconds(100);
  r = reply(makeQuery("www.example.com", LDNS_RR_TYPE_A, {.id = 5}));
  EXPECT_EQ(r.id, 5);
  EXPECT_EQ(r.answer, Lines{"www.example.com. 200 IN A 192.0.2.1"});
  EXPECT_FALSE(r.edns);
  EXPECT_EQ(stats.cacheHits(), 1u);
  // Expired: asked again.
  now += std::chrono::seconds(201);
  EXPECT_EQ(run(makeQuery("www.example.com", LDNS_RR_TYPE_A)).action, Handler::Action::kForward);
}

TEST_F(HandlerTest, UpstreamsFailed) {
  ASSERT_EQ(run(makeQuery("example.com", LDNS_RR_TYPE_AAAA)).action, Handler::Action::kForward);
  size = handler.respond(fwd, nullptr, out, now);
  auto r = decode(out.data(), size);
  EXPECT_EQ(r.rcode, kServFail);
  EXPECT_EQ(r.question, Lines{"example.com. IN AAAA"});
}

TEST_F(HandlerTest, LargeCachedAnswerTruncatedForSmallBuffers) {
  std::vector<std::string> lines;
  for (int i = 1; i <= 40; ++i)
    lines.push_back("big.example. 60 IN TXT \"" + std::string(20, 'a' + i % 26) + "\"");
  auto answer = upstreamAnswer("big.example", LDNS_RR_TYPE_TXT, lines, now);
  cache.insert(cacheKey(lowerName(*nameFromDotted("big.example")), LDNS_RR_TYPE_TXT, 1), answer);
  auto r = reply(makeQuery("big.example", LDNS_RR_TYPE_TXT));
  EXPECT_TRUE(r.tc);
  EXPECT_TRUE(r.answer.empty());
  EXPECT_EQ(r.question, Lines{"big.example. IN TXT"});
  r = reply(makeQuery("big.example", LDNS_RR_TYPE_TXT), Transport::kTcp);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.answer.size(), 40u);
}

TEST_F(HandlerTest, NegativeAnswersCachedForTheSoaMinimum) {
  auto nx = upstreamAnswer("nope.example", LDNS_RR_TYPE_A,
                           {"example. 600 IN SOA ns.example. h.example. 1 2 3 4 45"}, now,
                           LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(nx.rcode, kNxDomain);
  EXPECT_EQ(nx.ttl, 45u);
  auto nosoa = upstreamAnswer("nope.example", LDNS_RR_TYPE_A, {}, now, LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(nosoa.ttl, 0u);  // RFC 2308: not cached without one
  auto fail = upstreamAnswer("x.example", LDNS_RR_TYPE_A, {}, now, LDNS_RCODE_SERVFAIL);
  EXPECT_EQ(fail.ttl, 0u);
  auto plain = upstreamAnswer("x.example", LDNS_RR_TYPE_A, {"x.example. 20 IN A 192.0.2.9"}, now,
                              LDNS_RCODE_NOERROR, false);
  EXPECT_EQ(plain.ttl, 20u);
}

TEST_F(HandlerTest, ExternalNameChasedUpstream) {
  auto q = makeQuery("ext.default.svc.cluster.local", LDNS_RR_TYPE_A);
  ASSERT_EQ(run(q).action, Handler::Action::kForward);
  EXPECT_EQ(dottedName(fwd.chase), "www.example.com.");
  auto answer = upstreamAnswer("www.example.com", LDNS_RR_TYPE_A,
                               {"www.example.com. 120 IN A 192.0.2.53"}, now);
  size = handler.respond(fwd, &answer, out, now);
  auto r = decode(out.data(), size);
  EXPECT_EQ(r.rcode, kNoError);
  EXPECT_EQ(r.answer, (Lines{"ext.default.svc.cluster.local. 30 IN CNAME www.example.com.",
                             "www.example.com. 120 IN A 192.0.2.53"}));
  // From the cache the next time, aged.
  cache.insert(fwd.upstreamKey(), answer);
  now += std::chrono::seconds(20);
  r = reply(q);
  EXPECT_EQ(r.answer, (Lines{"ext.default.svc.cluster.local. 30 IN CNAME www.example.com.",
                             "www.example.com. 100 IN A 192.0.2.53"}));
}

}  // namespace
}  // namespace svcrouter::dns
