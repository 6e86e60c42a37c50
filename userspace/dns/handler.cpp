#include "userspace/dns/handler.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace svcrouter::dns {

namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

// The largest UDP reply sent, whatever buffer a client offers.
constexpr size_t kMaxUdpReply = 4096;

uint16_t clientFlags(const Forward& q) { return q.flags & (kFlagRd | kFlagCd | kOpcodeMask); }

}  // namespace

std::string_view Stats::typeLabel(size_t slot) {
  return slot < std::size(kTypes) ? typeName(kTypes[slot]) : "other";
}

std::string_view Stats::rcodeLabel(size_t slot) {
  return slot < std::size(kRcodes) ? rcodeName(kRcodes[slot]) : "other";
}

size_t Stats::typeSlot(uint16_t type) {
  for (size_t i = 0; i < std::size(kTypes); ++i)
    if (kTypes[i] == type) return i;
  return std::size(kTypes);
}

size_t Stats::rcodeSlot(uint16_t rcode) {
  for (size_t i = 0; i < std::size(kRcodes); ++i)
    if (kRcodes[i] == rcode) return i;
  return std::size(kRcodes);
}

std::string Forward::upstreamKey() const { return cacheKey(upstreamName(), type, upstreamClass()); }

Handler::Handler(Options options, const ZoneHolder& zones, Cache& cache, Stats& stats)
    : options_(std::move(options)), zones_(zones), cache_(cache), stats_(stats) {
  apex_ = lowerName(nameFromDotted(options_.domain).value_or(std::string(1, '\0')));
}

void Handler::count(const Forward& q, std::span<const uint8_t> reply) {
  uint16_t rcode = LDNS_RCODE_WIRE(reply.data());
  // BADVERS is the one extended code sent here: rcode 0 with OPT's 1.
  if (q.edns && rcode == 0 && reply.size() >= kOptSize &&
      reply[reply.size() - kOptSize + 5] == (kBadVers >> 4))
    rcode = kBadVers;
  stats_.answered(q.type, rcode);
  if (LDNS_TC_WIRE(reply.data())) stats_.truncated();
}

size_t Handler::bare(const Forward& q, uint16_t rcode, uint16_t flags, std::span<uint8_t> out) {
  MessageWriter w(out.data(), std::max(q.limit, kClassicUdpSize));
  w.header(q.id, static_cast<uint16_t>(kFlagQr | kFlagRa | clientFlags(q) | flags));
  if (q.edns) w.reserveOpt(kOfferedUdpSize, q.dnssecOk, 0);
  if (q.nameSize) w.question(q.qname(), q.type, q.klass);
  w.setRcode(rcode);
  return w.finish();
}

Handler::Result Handler::handle(std::span<const uint8_t> query, Transport transport,
                                std::span<uint8_t> out, Forward& q, Clock::time_point now) {
  // Too short for a header, or a response (never answer one: loops).
  if (query.size() < kHeaderSize || LDNS_QR_WIRE(query.data())) {
    stats_.dropped();
    return {};
  }
  q = Forward{};
  q.id = LDNS_ID_WIRE(query.data());
  q.flags =
      static_cast<uint16_t>(ldns_read_uint16(query.data() + 2) & (kFlagRd | kFlagCd | kOpcodeMask));
  q.limit = transport == Transport::kTcp ? kMaxMessageSize : kClassicUdpSize;
  // A query has at most one additional record, its OPT: more than one OPT
  // is FORMERR (RFC 6891), and TSIG is not served. Checked before ldns
  // reads it: ldns 1.8 leaks all but the last of several TSIG records.
  if (LDNS_ARCOUNT(query.data()) > 1) {
    Result r{Action::kRespond, bare(q, kFormErr, 0, out)};
    count(q, out.first(r.size));
    return r;
  }
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, query.data(), query.size()) != LDNS_STATUS_OK) {
    Result r{Action::kRespond, bare(q, kFormErr, 0, out)};
    count(q, out.first(r.size));
    return r;
  }
  Pkt pkt(raw);
  if (ldns_pkt_edns(pkt.get())) {
    q.edns = true;
    q.dnssecOk = ldns_pkt_edns_do(pkt.get());
    if (transport == Transport::kUdp)
      q.limit =
          std::clamp<size_t>(ldns_pkt_edns_udp_size(pkt.get()), kClassicUdpSize, kMaxUdpReply);
  }
  const ldns_rr_list* questions = ldns_pkt_question(pkt.get());
  if (!questions || ldns_rr_list_rr_count(questions) != 1) {
    Result r{Action::kRespond, bare(q, kFormErr, 0, out)};
    count(q, out.first(r.size));
    return r;
  }
  const ldns_rr* question = ldns_rr_list_rr(questions, 0);
  const ldns_rdf* owner = ldns_rr_owner(question);
  if (!owner || ldns_rdf_size(owner) == 0 || ldns_rdf_size(owner) > kMaxNameSize) {
    Result r{Action::kRespond, bare(q, kFormErr, 0, out)};
    count(q, out.first(r.size));
    return r;
  }
  q.nameSize = static_cast<uint8_t>(ldns_rdf_size(owner));
  std::memcpy(q.name.data(), ldns_rdf_data(owner), q.nameSize);
  lowerNameInto(q.qname(), q.lower.data());
  q.type = ldns_rr_get_type(question);
  q.klass = ldns_rr_get_class(question);

  auto finish = [&](size_t size) {
    count(q, out.first(size));
    return Result{Action::kRespond, size};
  };
  if (ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_QUERY) return finish(bare(q, kNotImp, 0, out));
  if (q.edns && ldns_pkt_edns_version(pkt.get()) != 0) return finish(bare(q, kBadVers, 0, out));
  pkt.reset();
  q.limit = std::min(q.limit, out.size());
  // A question for a record that lives only in the OPT pseudo-section,
  // or a zone transfer: not questions this server answers.
  if (q.type == kTypeOpt) return finish(bare(q, kFormErr, 0, out));
  const bool ours = suffixAt(q.lowerName(), apex_).has_value();
  if (q.type == kTypeAxfr || q.type == kTypeIxfr) return finish(bare(q, kRefused, 0, out));

  std::shared_ptr<const Zone> zone;
  if (q.klass == kClassIn || q.klass == kClassAny) {
    zone = zones_.get();
    // Before the first sync nothing is known yet: not NXDOMAIN, which
    // clients would cache.
    if (!zone && ours) return finish(bare(q, kServFail, 0, out));
  } else if (ours) {
    return finish(bare(q, kRefused, 0, out));
  }
  if (zone) {
    MessageWriter w(out.data(), q.limit);
    w.header(q.id, static_cast<uint16_t>(kFlagQr | kFlagRa | clientFlags(q)));
    if (q.edns) w.reserveOpt(kOfferedUdpSize, q.dnssecOk, 0);
    w.question(q.qname(), q.type, q.klass);
    switch (zone->answer(q.lowerName(), q.type, w, &q.chase)) {
      case Zone::Outcome::kAnswered:
        return finish(w.finish());
      case Zone::Outcome::kNotOurs:
        break;
      case Zone::Outcome::kChase:
        // No upstream to ask for the target: the CNAME alone, for the
        // client's resolver to follow.
        if (!options_.forwarding) return finish(w.finish());
        break;
    }
  }
  if (!options_.forwarding) return finish(bare(q, kRefused, 0, out));
  char key[kMaxNameSize + 4];
  size_t keySize = cacheKeyInto(q.upstreamName(), q.type, q.upstreamClass(), key);
  if (const CachedAnswer* hit = cache_.find({key, keySize}, now)) {
    stats_.cacheHit();
    return finish(q.chase.empty() ? relay(q, *hit, out, now) : chase(q, *hit, out, now));
  }
  stats_.cacheMiss();
  return {Action::kForward, 0};
}

size_t Handler::respond(const Forward& q, const CachedAnswer* answer, std::span<uint8_t> out,
                        Clock::time_point now) {
  stats_.forwarded();
  size_t size = !answer           ? bare(q, kServFail, 0, out)
                : q.chase.empty() ? relay(q, *answer, out, now)
                                  : chase(q, *answer, out, now);
  count(q, out.first(size));
  return size;
}

size_t Handler::relay(const Forward& q, const CachedAnswer& a, std::span<uint8_t> out,
                      Clock::time_point now) {
  const size_t need = a.wire.size() + (q.edns ? kOptSize : 0);
  const uint16_t upstreamFlags = ldns_read_uint16(a.wire.data() + 2);
  const uint16_t flags = static_cast<uint16_t>((upstreamFlags & ~(kFlagRd | kFlagCd)) |
                                               clientFlags(q) | kFlagQr | kFlagRa);
  // The question as the upstream echoed it must be the client's but for
  // case (the server checked it); else, or if it is too big, header and
  // question only.
  const bool sameQuestion = a.questionEnd == kHeaderSize + q.nameSize + 4;
  if (!sameQuestion) return bare(q, kServFail, 0, out);
  if (need > q.limit) {
    size_t size = bare(q, a.rcode, static_cast<uint16_t>(upstreamFlags & (kFlagAa | kFlagAd)), out);
    LDNS_TC_SET(out.data());
    return size;
  }
  uint8_t* p = out.data();
  std::memcpy(p, a.wire.data(), a.wire.size());
  ldns_write_uint16(p, q.id);
  ldns_write_uint16(p + 2, flags);
  std::memcpy(p + kHeaderSize, q.name.data(), q.nameSize);
  // TTLs less the time spent in the cache, as caches do.
  auto age = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - a.stored).count());
  for (size_t i = 0; i < a.ttlOffsets.size(); ++i)
    ldns_write_uint32(p + a.ttlOffsets[i], a.ttls[i] > age ? a.ttls[i] - age : 0);
  size_t size = a.wire.size();
  if (q.edns) {  // this server's OPT record, at the end
    uint8_t* opt = p + size;
    opt[0] = 0;
    ldns_write_uint16(opt + 1, kTypeOpt);
    ldns_write_uint16(opt + 3, kOfferedUdpSize);
    opt[5] = static_cast<uint8_t>(a.rcode >> 4);
    opt[6] = 0;
    ldns_write_uint16(opt + 7, q.dnssecOk ? 0x8000 : 0);
    ldns_write_uint16(opt + 9, 0);
    ldns_write_uint16(p + LDNS_ARCOUNT_OFF, static_cast<uint16_t>(LDNS_ARCOUNT(p) + 1));
    size += kOptSize;
  }
  return size;
}

size_t Handler::chase(const Forward& q, const CachedAnswer& a, std::span<uint8_t> out,
                      Clock::time_point now) {
  auto zone = zones_.get();
  MessageWriter w(out.data(), q.limit);
  w.header(q.id, static_cast<uint16_t>(kFlagQr | kFlagRa | clientFlags(q)));
  if (q.edns) w.reserveOpt(kOfferedUdpSize, q.dnssecOk, 0);
  w.question(q.qname(), q.type, q.klass);
  std::string target;
  if (!zone || zone->answer(q.lowerName(), q.type, w, &target) != Zone::Outcome::kChase ||
      w.truncated())
    return w.finish();  // the zone changed meanwhile: what it says now
  // The upstream's answers follow the CNAME, each written whole (their
  // names decompressed: they cannot point into a message they were not in).
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, reinterpret_cast<const uint8_t*>(a.wire.data()), a.wire.size()) !=
      LDNS_STATUS_OK) {
    w.setRcode(kServFail);
    return w.finish();
  }
  Pkt p(raw);
  w.setRcode(a.rcode);
  auto age = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now - a.stored).count());
  const ldns_rr_list* answers = ldns_pkt_answer(p.get());
  for (size_t i = 0; answers && i < ldns_rr_list_rr_count(answers); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(answers, i);
    uint32_t ttl = ldns_rr_ttl(rr);
    ldns_rr_set_ttl(rr, ttl > age ? ttl - age : 0);
    uint8_t* bytes = nullptr;
    size_t size = 0;
    if (ldns_rr2wire(&bytes, rr, LDNS_SECTION_ANSWER, &size) != LDNS_STATUS_OK) continue;
    bool fit =
        w.recordNamed(MessageWriter::kAnswer, "", {reinterpret_cast<const char*>(bytes), size});
    free(bytes);
    if (!fit) break;
  }
  return w.finish();
}

}  // namespace svcrouter::dns
