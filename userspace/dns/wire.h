// The small vocabulary of DNS messages that the zone, the cache and the
// handler share: names in wire form (lowercased for lookups), the record
// types and response codes used here, and MessageWriter, which lays out a
// response in a caller's buffer without allocating. Messages are parsed
// by ldns (handler.cpp, cache.cpp); this file only writes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "maps/addr.h"

namespace svcrouter::dns {

// Record types and classes (RFC 1035, 2782, 3596, 6891) as numbers on the wire.
enum Type : uint16_t {
  kTypeA = 1,
  kTypeNs = 2,
  kTypeCname = 5,
  kTypeSoa = 6,
  kTypePtr = 12,
  kTypeMx = 15,
  kTypeTxt = 16,
  kTypeAaaa = 28,
  kTypeSrv = 33,
  kTypeOpt = 41,
  kTypeIxfr = 251,
  kTypeAxfr = 252,
  kTypeAny = 255,
};
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;

// Response codes; BADVERS is an extended one (the OPT record carries its
// upper bits).
enum Rcode : uint16_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,
};
std::string_view rcodeName(uint16_t rcode);  // "NOERROR", "NXDOMAIN", ...; "RCODE17" otherwise
std::string_view typeName(uint16_t type);    // "A", "SRV", ...; "" for others

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameSize = 255;  // a name in wire form, with its root label
// UDP without EDNS0 (RFC 1035), and what this server offers with EDNS0:
// 1232 avoids fragmentation on any path (the DNS flag day of 2020).
inline constexpr size_t kClassicUdpSize = 512;
inline constexpr uint16_t kOfferedUdpSize = 1232;
inline constexpr size_t kMaxMessageSize = 65535;
inline constexpr size_t kOptSize = 11;  // an OPT record without options

// Names in wire form: length-prefixed labels ending with the root label,
// held in std::string (bytes). Zone keys are lowercased (ASCII only, as
// DNS compares names).
std::string lowerName(std::string_view wire);
void lowerNameInto(std::string_view wire, char* out);
// "web.default.svc.cluster.local" (a final dot optional) -> wire form,
// read by ldns (escapes included); nullopt when it is no name (a label
// over 63 bytes, the name over 255, an empty label).
std::optional<std::string> nameFromDotted(std::string_view text);
// Wire form -> "web.default.svc.cluster.local." for messages and tests.
std::string dottedName(std::string_view wire);
// Appends `label` before an existing name: prefixLabel("web", wire("a.b")) = wire("web.a.b").
std::string prefixLabel(std::string_view label, std::string_view wire);
// Offset in `wire` of the suffix `tail` if it is a suffix at a label
// boundary (both lowercased), or nullopt.
std::optional<size_t> suffixAt(std::string_view wire, std::string_view tail);
// How many labels a name has (the root not counted).
size_t labelCount(std::string_view wire);
// The first label of a name (its text, without the length byte).
std::string_view firstLabel(std::string_view wire);

// The reverse lookup name of an address: d.c.b.a.in-addr.arpa or the 32
// nibbles of ip6.arpa, in wire form.
std::string reverseName(const IpAddr& ip);
// An address written with dashes as one label: "10-0-0-1", "fd00--1"
// (CoreDNS's form for pods and for endpoints without a hostname).
std::string dashedLabel(const IpAddr& ip);
// The address a dashed label stands for, if it is one: IPv4 with four
// dashed parts, or IPv6 with its colons as dashes.
std::optional<IpAddr> parseDashedLabel(std::string_view label);

// One resource record without its owner name: type, class, TTL, RDLENGTH
// and RDATA, as they follow the owner on the wire. The zone keeps records
// this way and MessageWriter puts a compression pointer in front, so one
// record serves any owner (the question's name, in the client's case).
std::string recordTail(uint16_t type, uint32_t ttl, std::string_view rdata);
// RDATA builders.
std::string addressRdata(const IpAddr& ip);  // 4 bytes (A) or 16 (AAAA)
std::string srvRdata(uint16_t priority, uint16_t weight, uint16_t port, std::string_view target);
std::string txtRdata(std::string_view text);  // one character-string, at most 255 bytes
std::string soaRdata(std::string_view mname, std::string_view rname, uint32_t serial,
                     uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum);
// Walks a run of record tails (as above): calls f(tail) for each whole one.
template <typename F>
void forEachTail(std::string_view tails, F&& f) {
  while (tails.size() >= 10) {
    size_t len = 10 + ((static_cast<uint8_t>(tails[8]) << 8) | static_cast<uint8_t>(tails[9]));
    if (len > tails.size()) return;
    f(tails.substr(0, len));
    tails.remove_prefix(len);
  }
}

// Lays out a response in a fixed buffer: header, question, then records of
// the answer, authority and additional sections in that order. `limit` is
// what the client can take (its EDNS0 buffer size, 512, or 65535 over
// TCP): a record that does not fit is left out and the message marked
// truncated (TC). Room for the OPT record is kept from the start.
class MessageWriter {
 public:
  MessageWriter(uint8_t* buf, size_t limit) : buf_(buf), limit_(limit) {}

  // The header: ID and flags (QR, opcode, AA, TC, RD, RA, AD, CD; rcode's
  // low 4 bits), counts zero.
  void header(uint16_t id, uint16_t flags);
  // The question: the name as the client wrote it (wire form) at offset
  // 12, so that pointers to 12 name it; type and class.
  bool question(std::string_view name, uint16_t type, uint16_t klass);
  // Reserves room for an OPT record, added by finish().
  void reserveOpt(uint16_t udpSize, bool dnssecOk, uint8_t extendedRcode);
  enum Section { kAnswer, kAuthority, kAdditional };
  // A record whose owner is the name at `ownerOffset` of this message (a
  // compression pointer), followed by `tail`. False (and truncated) when
  // it does not fit.
  bool record(Section section, uint16_t ownerOffset, std::string_view tail);
  // Every record of `tails` (recordTail runs) with that owner, in order;
  // the offset of the last one's RDATA in the message goes to
  // `lastRdataAt` when given (a CNAME's target). False if one did not fit.
  bool records(Section section, uint16_t ownerOffset, std::string_view tails,
               size_t* lastRdataAt = nullptr);
  // A record with a full (uncompressed) owner name.
  bool recordNamed(Section section, std::string_view owner, std::string_view tail);
  void setRcode(uint16_t rcode);  // extended codes go to the OPT record
  void setFlags(uint16_t flags);  // adds header flags (kFlag*)
  void setTruncated();
  bool truncated() const { return truncated_; }
  size_t size() const { return len_; }
  // Writes the counts and the OPT record; the message's length.
  size_t finish();

 private:
  bool room(size_t n) const { return len_ + n + (opt_ ? kOptSize : 0) <= limit_; }
  uint8_t* buf_;
  size_t limit_;
  size_t len_ = 0;
  uint16_t counts_[3] = {0, 0, 0};
  bool opt_ = false, optDo_ = false, truncated_ = false;
  uint16_t optSize_ = 0;
  uint8_t optRcode_ = 0;
};

// Header flag bits (second and third bytes of the header, as one number).
inline constexpr uint16_t kFlagQr = 0x8000;
inline constexpr uint16_t kFlagAa = 0x0400;
inline constexpr uint16_t kFlagTc = 0x0200;
inline constexpr uint16_t kFlagRd = 0x0100;
inline constexpr uint16_t kFlagRa = 0x0080;
inline constexpr uint16_t kFlagAd = 0x0020;
inline constexpr uint16_t kFlagCd = 0x0010;
inline constexpr uint16_t kOpcodeMask = 0x7800;

}  // namespace svcrouter::dns
