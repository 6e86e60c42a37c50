// The DNS responder's readers of outside input, without sockets: the
// first byte chooses one, the rest is the message.
//   bit 0 clear: a client's query through Handler::handle (bit 1: over
//     TCP), against a zone of every record kind and a cache holding an
//     answer; what must hold: a reply is one ldns reads, a response to
//     that query (its ID, QR), within the client's size; a query handed
//     over to be forwarded is answered, for SERVFAIL and from an upstream
//     answer, within the same bounds.
//   bit 0 set: an upstream's response through readAnswer (what the
//     forwarder caches): its TTLs are where it says, what it keeps is one
//     ldns reads, and relaying it to a client makes a message ldns reads.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

// After the standard headers: ldns's own (common.h) may define bool.
#include <ldns/ldns.h>

#include "tests/fuzz/fuzz_check.h"
#include "userspace/dns/handler.h"
#include "userspace/k8s/manifest.h"

using namespace svcrouter;
using namespace svcrouter::dns;

namespace {

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
metadata: {name: web-1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [10.77.0.11]}, {addresses: [10.77.0.12], hostname: web-b}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: pg, port: 5432}]
endpoints: [{addresses: [10.1.0.1], hostname: db-0}, {addresses: [10.1.0.2]}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: www.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: alias, namespace: default}
spec: {type: ExternalName, externalName: ext.default.svc.cluster.local}
---
apiVersion: v1
kind: Service
metadata: {name: loop, namespace: default}
spec: {type: ExternalName, externalName: loop.default.svc.cluster.local}
)";

struct World {
  ZoneHolder zones;
  ZoneBuilder builder{ZoneOptions{}, zones};
  Cache cache{64, 1 << 20};
  Stats stats;
  Handler handler{{}, zones, cache, stats};
  CachedAnswer answer;  // www.example.com A, as an upstream sent it

  World() {
    auto objects = parseManifests(kObjects, "fuzz.yaml");
    FUZZ_CHECK(objects.has_value(), objects ? "" : objects.error().message());
    builder.replaceAll(*objects);
    // An upstream's answer, built by ldns, cached under its question.
    ldns_pkt* p = nullptr;
    ldns_pkt_query_new_frm_str(&p, "www.example.com", LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
    ldns_pkt_set_qr(p, true);
    ldns_rr* rr = nullptr;
    ldns_rr_new_frm_str(&rr, "www.example.com. 300 IN A 192.0.2.1", 0, nullptr, nullptr);
    ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
    uint8_t* wire = nullptr;
    size_t size = 0;
    ldns_pkt2wire(&wire, p, &size);
    auto a = readAnswer({wire, size}, Clock::now());
    free(wire);
    ldns_pkt_free(p);
    FUZZ_CHECK(a.has_value(), "the seed answer");
    answer = *a;
    cache.insert(cacheKey(lowerName(*nameFromDotted("www.example.com")), kTypeA, kClassIn), answer);
  }
};

World& world() {
  static World w;
  return w;
}

// A reply must be a message ldns reads, answering the query's ID, within
// the client's limit.
void checkReply(std::span<const uint8_t> reply, size_t limit, std::optional<uint16_t> id) {
  FUZZ_CHECK(reply.size() >= kHeaderSize, "a reply shorter than a header");
  FUZZ_CHECK(reply.size() <= limit,
             std::to_string(reply.size()) + " bytes over a limit of " + std::to_string(limit));
  FUZZ_CHECK(LDNS_QR_WIRE(reply.data()), "a reply without QR");
  if (id) FUZZ_CHECK(LDNS_ID_WIRE(reply.data()) == *id, "a reply with another ID");
  ldns_pkt* p = nullptr;
  ldns_status status = ldns_wire2pkt(&p, reply.data(), reply.size());
  FUZZ_CHECK(status == LDNS_STATUS_OK,
             std::string("ldns cannot read the reply: ") + ldns_get_errorstr_by_id(status));
  ldns_pkt_free(p);
}

// The largest reply a query may get: TCP's, else its EDNS0 size (512 at
// least, 4096 at most) as the handler read it.
size_t limitOf(const Forward& fwd) { return fwd.limit; }

void query(std::span<const uint8_t> q, Transport transport) {
  World& w = world();
  static std::array<uint8_t, kMaxMessageSize> out;
  Forward fwd;
  auto now = Clock::now();
  auto r = w.handler.handle(q, transport, out, fwd, now);
  if (r.action == Handler::Action::kDrop) return;
  std::optional<uint16_t> id;
  if (q.size() >= 2) id = static_cast<uint16_t>((q[0] << 8) | q[1]);
  const size_t ceiling = transport == Transport::kTcp ? kMaxMessageSize : 4096;
  if (r.action == Handler::Action::kRespond) {
    checkReply({out.data(), r.size}, ceiling, id);
    if (r.size > kClassicUdpSize && transport == Transport::kUdp)
      FUZZ_CHECK(fwd.edns, "a UDP reply over 512 bytes to a query without EDNS0");
    return;
  }
  FUZZ_CHECK(fwd.nameSize > 0 && fwd.upstreamName().size() <= kMaxNameSize,
             "a forward with no name");
  FUZZ_CHECK(!w.zones.get()->inDomain(fwd.lowerName()) || !fwd.chase.empty(),
             "a cluster name forwarded: " + dottedName(std::string(fwd.lowerName())));
  size_t n = w.handler.respond(fwd, nullptr, out, now);
  checkReply({out.data(), n}, std::min(limitOf(fwd), ceiling), id);
  n = w.handler.respond(fwd, &w.answer, out, now);
  checkReply({out.data(), n}, std::min(limitOf(fwd), ceiling), id);
}

// Whether `name` is a whole name in wire form: labels of at most 63
// bytes, the root label last, no compression pointer.
bool wholeName(std::string_view name) {
  size_t pos = 0;
  while (pos < name.size()) {
    auto len = static_cast<uint8_t>(name[pos]);
    if (len == 0) return pos + 1 == name.size();
    if (len > 63) return false;
    pos += len + 1;
  }
  return false;
}

void upstream(std::span<const uint8_t> response) {
  World& w = world();
  auto a = readAnswer(response, Clock::now());
  if (!a) return;
  FUZZ_CHECK(a->ttlOffsets.size() == a->ttls.size(), "TTL offsets and values differ");
  for (uint32_t at : a->ttlOffsets) FUZZ_CHECK(at + 4 <= a->wire.size(), "a TTL past the end");
  FUZZ_CHECK(a->questionEnd <= a->wire.size(), "the question past the end");
  FUZZ_CHECK(a->ttl <= kMaxCacheTtl, "a TTL over the cache's longest");
  ldns_pkt* p = nullptr;
  FUZZ_CHECK(ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(a->wire.data()), a->wire.size()) ==
                 LDNS_STATUS_OK,
             "what the cache keeps is no message");
  FUZZ_CHECK(!ldns_pkt_edns(p), "the upstream's OPT record kept");
  ldns_pkt_free(p);
  // Relayed to a client whose question is the one the answer carries.
  if (a->questionEnd < kHeaderSize + 5) return;
  std::string name = a->wire.substr(kHeaderSize, a->questionEnd - kHeaderSize - 4);
  // The server relays only answers whose question is the one it asked,
  // written in full (answersQuestion).
  if (name.size() > kMaxNameSize || !wholeName(name)) return;
  Forward fwd;
  fwd.id = 0x4242;
  fwd.nameSize = static_cast<uint8_t>(name.size());
  std::memcpy(fwd.name.data(), name.data(), name.size());
  lowerNameInto(fwd.qname(), fwd.lower.data());
  auto field = [&](size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(a->wire[at]) << 8) |
                                 static_cast<uint8_t>(a->wire[at + 1]));
  };
  fwd.type = field(a->questionEnd - 4);
  fwd.klass = field(a->questionEnd - 2);
  if (!answersQuestion(response, fwd.lowerName(), fwd.type, fwd.klass)) return;
  for (size_t limit : {kClassicUdpSize, size_t{4096}, kMaxMessageSize}) {
    fwd.limit = limit;
    fwd.edns = limit != kClassicUdpSize;
    static std::array<uint8_t, kMaxMessageSize> out;
    size_t n = w.handler.respond(fwd, &*a, out, Clock::now());
    checkReply({out.data(), n}, limit, fwd.id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> rest(data + 1, size - 1);
  if (data[0] & 1)
    upstream(rest);
  else
    query(rest, (data[0] & 2) ? Transport::kTcp : Transport::kUdp);
  return 0;
}
