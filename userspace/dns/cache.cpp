#include "userspace/dns/cache.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "userspace/dns/wire.h"

namespace svcrouter::dns {

namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

// One record's place in a message.
struct RecordAt {
  size_t start, ttlAt, rdataAt, end;
  uint16_t type;
  int section;  // 0 question, 1 answer, 2 authority, 3 additional
};

// Where every record of a message ldns has read is: names are skipped by
// ldns (compression pointers and all), the fixed fields read in place;
// nullopt if ldns reads a record's extent otherwise.
std::optional<std::vector<RecordAt>> layout(const uint8_t* wire, size_t size) {
  std::vector<RecordAt> out;
  size_t pos = kHeaderSize;
  const uint16_t counts[4] = {LDNS_QDCOUNT(wire), LDNS_ANCOUNT(wire), LDNS_NSCOUNT(wire),
                              LDNS_ARCOUNT(wire)};
  for (int section = 0; section < 4; ++section) {
    for (uint16_t i = 0; i < counts[section]; ++i) {
      RecordAt r{};
      r.start = pos;
      r.section = section;
      ldns_rdf* name = nullptr;
      if (ldns_wire2dname(&name, wire, size, &pos) != LDNS_STATUS_OK) return std::nullopt;
      ldns_rdf_deep_free(name);
      size_t fixed = section == 0 ? 4 : 10;
      if (pos + fixed > size) return std::nullopt;
      r.type = ldns_read_uint16(wire + pos);
      r.ttlAt = pos + 4;
      r.rdataAt = pos + fixed;
      pos += fixed;
      if (section > 0) {
        pos += ldns_read_uint16(wire + r.ttlAt + 4);
        if (pos > size) return std::nullopt;
      }
      r.end = pos;
      // ldns must see the record end where its length says: RDATA that
      // its fields do not fill (or overrun) would shift every record
      // after it once the message is changed (an OPT record appended).
      ldns_rr* rr = nullptr;
      size_t ldnsEnd = r.start;
      const auto kind =
          section == 0 ? LDNS_SECTION_QUESTION : static_cast<ldns_pkt_section>(section);
      if (ldns_wire2rr(&rr, wire, size, &ldnsEnd, kind) != LDNS_STATUS_OK) return std::nullopt;
      ldns_rr_free(rr);
      if (ldnsEnd != r.end) return std::nullopt;
      out.push_back(r);
    }
  }
  return out;
}

// The message without its OPT record, through ldns: a new packet of the
// same header and records, written by ldns.
std::optional<std::string> withoutOpt(const ldns_pkt* p) {
  Pkt copy(ldns_pkt_new());
  if (!copy) return std::nullopt;
  ldns_pkt_set_id(copy.get(), 0);
  ldns_pkt_set_qr(copy.get(), ldns_pkt_qr(p));
  ldns_pkt_set_aa(copy.get(), ldns_pkt_aa(p));
  ldns_pkt_set_tc(copy.get(), ldns_pkt_tc(p));
  ldns_pkt_set_rd(copy.get(), ldns_pkt_rd(p));
  ldns_pkt_set_cd(copy.get(), ldns_pkt_cd(p));
  ldns_pkt_set_ra(copy.get(), ldns_pkt_ra(p));
  ldns_pkt_set_ad(copy.get(), ldns_pkt_ad(p));
  ldns_pkt_set_opcode(copy.get(), ldns_pkt_get_opcode(p));
  ldns_pkt_set_rcode(copy.get(), ldns_pkt_get_rcode(p));
  const std::pair<ldns_rr_list*, ldns_pkt_section> sections[] = {
      {ldns_pkt_question(p), LDNS_SECTION_QUESTION},
      {ldns_pkt_answer(p), LDNS_SECTION_ANSWER},
      {ldns_pkt_authority(p), LDNS_SECTION_AUTHORITY},
      {ldns_pkt_additional(p), LDNS_SECTION_ADDITIONAL}};
  for (auto [list, section] : sections)
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(list, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT) continue;  // a second OPT: dropped too
      ldns_pkt_push_rr(copy.get(), section, ldns_rr_clone(rr));
    }
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, copy.get(), &size) != LDNS_STATUS_OK) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(wire), size);
  free(wire);
  return out;
}

}  // namespace

std::optional<CachedAnswer> readAnswer(std::span<const uint8_t> response, Clock::time_point now) {
  if (response.size() < kHeaderSize) return std::nullopt;
  // Each record read by ldns one at a time first: ldns_wire2pkt leaks all
  // but the last of several TSIG records (ldns 1.8), and an answer with
  // more than one is no answer.
  auto before = layout(response.data(), response.size());
  if (!before || std::ranges::count_if(*before, [](const RecordAt& r) {
                   return r.section == 3 && r.type == LDNS_RR_TYPE_TSIG;
                 }) > 1)
    return std::nullopt;
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, response.data(), response.size()) != LDNS_STATUS_OK) return std::nullopt;
  Pkt p(raw);
  CachedAnswer a;
  a.stored = now;
  a.rcode = static_cast<uint16_t>(ldns_pkt_get_rcode(p.get()) |
                                  (ldns_pkt_edns_extended_rcode(p.get()) << 4));
  // Written again by ldns, without the OPT record: its names compressed
  // by ldns, so that a pointer only ever names a name. What is changed
  // when it is relayed (the ID, flags, counts, TTLs, the question's case)
  // then changes no other name, whatever pointers the upstream wrote
  // (into the header, a TTL, forwards: ldns reads them all).
  auto rebuilt = withoutOpt(p.get());
  if (!rebuilt) return std::nullopt;
  a.wire = std::move(*rebuilt);
  auto records = layout(reinterpret_cast<const uint8_t*>(a.wire.data()), a.wire.size());
  if (!records) return std::nullopt;
  ldns_write_uint16(a.wire.data(), 0);
  a.questionEnd = kHeaderSize;
  std::optional<uint32_t> answerTtl, soaTtl;
  for (const RecordAt& r : *records) {
    if (r.section == 0) {
      a.questionEnd = r.end;
      continue;
    }
    uint32_t ttl = ldns_read_uint32(a.wire.data() + r.ttlAt);
    // RFC 2181: a TTL with its top bit set is zero.
    if (ttl > 0x7fffffff) ttl = 0;
    a.ttlOffsets.push_back(static_cast<uint32_t>(r.ttlAt));
    a.ttls.push_back(ttl);
    if (r.section == 1) answerTtl = std::min(answerTtl.value_or(ttl), ttl);
    if (r.section == 2 && r.type == kTypeSoa && r.end >= r.rdataAt + 20) {
      uint32_t minimum = ldns_read_uint32(a.wire.data() + r.end - 4);
      soaTtl = std::min(ttl, minimum);
    }
  }
  const bool truncated = LDNS_TC_WIRE(response.data());
  if (!truncated && a.rcode == kNoError && answerTtl)
    a.ttl = std::min(*answerTtl, kMaxCacheTtl);
  else if (!truncated && (a.rcode == kNxDomain || a.rcode == kNoError) && soaTtl)
    a.ttl = std::min(*soaTtl, kMaxNegativeTtl);
  return a;
}

bool answersQuestion(std::span<const uint8_t> response, std::string_view lowerName, uint16_t type,
                     uint16_t klass) {
  const size_t end = kHeaderSize + lowerName.size() + 4;
  if (response.size() < end || !LDNS_QR_WIRE(response.data()) || LDNS_QDCOUNT(response.data()) != 1)
    return false;
  for (size_t i = 0; i < lowerName.size(); ++i) {
    char c = static_cast<char>(response[kHeaderSize + i]);
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lowerName[i]) return false;
  }
  const uint8_t* tail = response.data() + kHeaderSize + lowerName.size();
  return ldns_read_uint16(tail) == type && ldns_read_uint16(tail + 2) == klass;
}

size_t cacheKeyInto(std::string_view lowerName, uint16_t type, uint16_t klass, char* out) {
  std::memcpy(out, lowerName.data(), lowerName.size());
  ldns_write_uint16(out + lowerName.size(), type);
  ldns_write_uint16(out + lowerName.size() + 2, klass);
  return lowerName.size() + 4;
}

std::string cacheKey(std::string_view lowerName, uint16_t type, uint16_t klass) {
  std::string key(lowerName.size() + 4, '\0');
  cacheKeyInto(lowerName, type, klass, key.data());
  return key;
}

size_t Cache::cost(const std::string& key, const CachedAnswer& a) {
  return key.size() + a.wire.size() + a.ttlOffsets.size() * 8 + 128;
}

void Cache::erase(Lru::iterator it) {
  bytes_ -= cost(it->first, it->second);
  map_.erase(std::string_view(it->first));
  lru_.erase(it);
}

const CachedAnswer* Cache::find(std::string_view key, Clock::time_point now) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  auto node = it->second;
  if (now >= node->second.stored + std::chrono::seconds(node->second.ttl)) {
    erase(node);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, node);
  return &node->second;
}

void Cache::insert(std::string key, CachedAnswer answer) {
  if (answer.ttl == 0 || maxEntries_ == 0) return;
  if (auto it = map_.find(std::string_view(key)); it != map_.end()) erase(it->second);
  size_t c = cost(key, answer);
  if (c > maxBytes_) return;
  lru_.emplace_front(std::move(key), std::move(answer));
  map_.emplace(std::string_view(lru_.front().first), lru_.begin());
  bytes_ += c;
  while (map_.size() > maxEntries_ || bytes_ > maxBytes_) erase(std::prev(lru_.end()));
}

}  // namespace svcrouter::dns
