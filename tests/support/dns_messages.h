// DNS messages for tests, through ldns: queries built as a client would
// send them, and responses read back into text ("NAME TTL IN TYPE RDATA",
// as dig prints them) so that tests compare whole sections.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// After the standard headers: ldns's own (common.h) may define bool.
#include <ldns/ldns.h>

namespace svcrouter::testing {

struct QueryOptions {
  uint16_t id = 0x1234;
  std::optional<uint16_t> ednsSize = {};  // an OPT record with this UDP size
  bool dnssecOk = false;
  bool rd = true;
  uint16_t klass = LDNS_RR_CLASS_IN;
  uint8_t ednsVersion = 0;
};

inline std::vector<uint8_t> makeQuery(const std::string& name, uint16_t type,
                                      const QueryOptions& o = {}) {
  ldns_pkt* q = nullptr;
  if (ldns_pkt_query_new_frm_str(&q, name.c_str(), static_cast<ldns_rr_type>(type),
                                 static_cast<ldns_rr_class>(o.klass),
                                 o.rd ? LDNS_RD : 0) != LDNS_STATUS_OK)
    return {};
  ldns_pkt_set_id(q, o.id);
  if (o.ednsSize) {
    ldns_pkt_set_edns_udp_size(q, *o.ednsSize);
    ldns_pkt_set_edns_do(q, o.dnssecOk);
    ldns_pkt_set_edns_version(q, o.ednsVersion);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, q, &size);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(q);
  return out;
}

// One record as dig prints it, with single spaces.
inline std::string rrText(const ldns_rr* rr) {
  char* text = ldns_rr2str(rr);
  std::string out = text ? text : "";
  free(text);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  for (char& c : out)
    if (c == '\t') c = ' ';
  return out;
}

struct Reply {
  bool ok = false;  // ldns read it
  uint16_t id = 0;
  uint16_t rcode = 0;  // with the OPT record's extended bits
  bool qr = false, aa = false, tc = false, rd = false, ra = false;
  std::vector<std::string> question, answer, authority, additional;
  bool edns = false;
  uint16_t ednsSize = 0;
  bool dnssecOk = false;
  size_t size = 0;
};

inline std::vector<std::string> rrTexts(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i)
    out.push_back(rrText(ldns_rr_list_rr(list, i)));
  return out;
}

inline Reply decode(const uint8_t* data, size_t size) {
  Reply r;
  r.size = size;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, data, size) != LDNS_STATUS_OK) return r;
  r.ok = true;
  r.id = ldns_pkt_id(p);
  r.rcode = static_cast<uint16_t>(ldns_pkt_get_rcode(p) | (ldns_pkt_edns_extended_rcode(p) << 4));
  r.qr = ldns_pkt_qr(p);
  r.aa = ldns_pkt_aa(p);
  r.tc = ldns_pkt_tc(p);
  r.rd = ldns_pkt_rd(p);
  r.ra = ldns_pkt_ra(p);
  r.question = rrTexts(ldns_pkt_question(p));
  r.answer = rrTexts(ldns_pkt_answer(p));
  r.authority = rrTexts(ldns_pkt_authority(p));
  r.additional = rrTexts(ldns_pkt_additional(p));
  r.edns = ldns_pkt_edns(p);
  r.ednsSize = ldns_pkt_edns_udp_size(p);
  r.dnssecOk = ldns_pkt_edns_do(p);
  ldns_pkt_free(p);
  return r;
}

inline Reply decode(const std::vector<uint8_t>& bytes) {
  return decode(bytes.data(), bytes.size());
}

}  // namespace svcrouter::testing
