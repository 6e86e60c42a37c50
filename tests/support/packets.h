// Ethernet frames of IPv4 and IPv6 TCP, UDP and ICMP error packets, built
// from scratch with their checksums computed here (never taken from a program's output): what
// the packet path's in-kernel tests and its cost benchmark feed the kernel.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "maps/addr.h"

namespace svcrouter::packets {

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kFin = 0x01;

// One end of a packet: "10.0.0.1", 8080.
struct End {
  std::string ip;
  uint16_t port;
  bool operator==(const End&) const = default;
};

struct Packet {
  End src, dst;
  Protocol proto = Protocol::kTcp;
  uint8_t tcpFlags = kSyn;
  bool udpChecksum = true;  // false: a UDP packet sent without one (0)
  uint32_t seq = 1, ack = 0;
  uint16_t window = 65535;
  std::string payload = "hello";
  bool swapMacs = false;  // the frame goes back where it came from
};

inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

inline uint32_t add16(uint32_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n % 2) sum += p[n - 1] << 8;
  return sum;
}

inline void put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

inline uint32_t ip4(const std::string& text) {
  uint32_t a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) throw std::invalid_argument(text);
  return a;
}

inline bool isV6(const std::string& ip) { return ip.find(':') != std::string::npos; }

// The address's bytes as they go on the wire: 4 for IPv4, 16 for IPv6.
inline std::vector<uint8_t> wire(const std::string& ip) {
  std::vector<uint8_t> b(isV6(ip) ? 16 : 4);
  if (inet_pton(isV6(ip) ? AF_INET6 : AF_INET, ip.c_str(), b.data()) != 1)
    throw std::invalid_argument(ip);
  return b;
}

// An IP header (IPv4: identification 0x1234 unless said, DF; IPv6: hop
// limit 64) for a payload of `len` bytes of protocol `proto`, checksummed.
struct IpHeader {
  std::string src, dst;
  uint8_t proto;
  uint16_t id = 0x1234;
  bool df = true;
};

inline std::vector<uint8_t> ipHeader(const IpHeader& h, size_t len) {
  std::vector<uint8_t> b;
  auto s = wire(h.src), d = wire(h.dst);
  if (s.size() != d.size()) throw std::invalid_argument(h.src + " -> " + h.dst);
  if (s.size() == 16) {
    b.assign(40, 0);
    b[0] = 0x60;
    put16(b, 4, static_cast<uint16_t>(len));
    b[6] = h.proto;
    b[7] = 64;
    std::memcpy(b.data() + 8, s.data(), 16);
    std::memcpy(b.data() + 24, d.data(), 16);
    return b;
  }
  b.assign(20, 0);
  b[0] = 0x45;
  put16(b, 2, static_cast<uint16_t>(20 + len));
  put16(b, 4, h.id);
  put16(b, 6, h.df ? 0x4000 : 0);
  b[8] = 64;
  b[9] = h.proto;
  std::memcpy(b.data() + 12, s.data(), 4);
  std::memcpy(b.data() + 16, d.data(), 4);
  put16(b, 10, fold(add16(0, b.data(), 20)));
  return b;
}

// The sum of the pseudo-header of an L4 checksum (RFC 793, RFC 8200).
inline uint32_t pseudoSum(const std::string& src, const std::string& dst, uint8_t proto,
                          size_t len) {
  auto s = wire(src), d = wire(dst);
  return add16(add16(0, s.data(), s.size()), d.data(), d.size()) + proto + len;
}

// An Ethernet frame around an IP packet; swapped: the frame goes back
// where it came from.
inline std::vector<uint8_t> ethernet(const std::vector<uint8_t>& ip, bool swapped = false) {
  std::vector<uint8_t> b(14);
  const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(b.data(), macs + (swapped ? 6 : 0), 6);
  std::memcpy(b.data() + 6, macs + (swapped ? 0 : 6), 6);
  put16(b, 12, (ip[0] >> 4) == 6 ? 0x86dd : 0x0800);
  b.insert(b.end(), ip.begin(), ip.end());
  return b;
}

// An IPv4 or IPv6 TCP or UDP packet (payload "hello" unless said) with
// correct checksums, computed from scratch.
inline std::vector<uint8_t> ipPacket(const Packet& p) {
  const bool tcp = p.proto == Protocol::kTcp;
  const auto proto = static_cast<uint8_t>(p.proto);
  const size_t l4len = (tcp ? 20 : 8) + p.payload.size();
  std::vector<uint8_t> l4(l4len, 0);
  put16(l4, 0, p.src.port);
  put16(l4, 2, p.dst.port);
  size_t csum;
  if (tcp) {
    put16(l4, 4, p.seq >> 16);
    put16(l4, 6, p.seq & 0xffff);
    put16(l4, 8, p.ack >> 16);
    put16(l4, 10, p.ack & 0xffff);
    l4[12] = 5 << 4;
    l4[13] = p.tcpFlags;
    put16(l4, 14, p.window);
    csum = 16;
  } else {
    put16(l4, 4, static_cast<uint16_t>(l4len));
    csum = 6;
  }
  std::memcpy(l4.data() + l4len - p.payload.size(), p.payload.data(), p.payload.size());
  if (tcp || p.udpChecksum) {
    uint16_t c = fold(add16(pseudoSum(p.src.ip, p.dst.ip, proto, l4len), l4.data(), l4len));
    put16(l4, csum, !tcp && c == 0 ? 0xffff : c);
  }
  auto b = ipHeader({p.src.ip, p.dst.ip, proto}, l4len);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

inline std::vector<uint8_t> frame(const Packet& p) { return ethernet(ipPacket(p), p.swapMacs); }

// An ICMP (ICMPv6, for IPv6 addresses) error from src to dst quoting
// `quoted` (an IP packet, cut to `quoteLen` bytes when shorter), with
// `rest` in its second word (the MTU of "fragmentation needed").
struct IcmpError {
  std::string src, dst;
  uint8_t type, code;
  std::vector<uint8_t> quoted;
  size_t quoteLen = SIZE_MAX;
  uint32_t rest = 0;
  uint16_t id = 0x1234;  // of the outer IPv4 header
  bool df = true;
};

inline std::vector<uint8_t> icmpPacket(const IcmpError& e) {
  const bool v6 = isV6(e.src);
  std::vector<uint8_t> icmp(8, 0);
  icmp[0] = e.type;
  icmp[1] = e.code;
  put16(icmp, 4, e.rest >> 16);
  put16(icmp, 6, e.rest & 0xffff);
  icmp.insert(icmp.end(), e.quoted.begin(),
              e.quoted.begin() + static_cast<long>(std::min(e.quoteLen, e.quoted.size())));
  const uint8_t proto = v6 ? 58 : 1;
  uint32_t sum = v6 ? pseudoSum(e.src, e.dst, proto, icmp.size()) : 0;
  put16(icmp, 2, fold(add16(sum, icmp.data(), icmp.size())));
  auto b = ipHeader({e.src, e.dst, proto, e.id, e.df}, icmp.size());
  b.insert(b.end(), icmp.begin(), icmp.end());
  return b;
}

inline std::vector<uint8_t> icmpFrame(const IcmpError& e, bool swapped = false) {
  return ethernet(icmpPacket(e), swapped);
}

// The source port of a frame built above.
inline uint16_t sourcePort(const std::vector<uint8_t>& f) {
  const size_t l4 = f[12] == 0x86 && f[13] == 0xdd ? 54 : 34;
  return (f[l4] << 8) | f[l4 + 1];
}

}  // namespace svcrouter::packets
