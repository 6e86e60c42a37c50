// Ethernet frames of IPv4 TCP and UDP packets, built from scratch with
// their checksums computed here (never taken from a program's output): what
// the packet path's in-kernel tests and its cost benchmark feed the kernel.
#pragma once

#include <arpa/inet.h>

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

// An Ethernet frame of an IPv4 TCP or UDP packet (payload "hello" unless said) and
// correct checksums, computed from scratch.
inline std::vector<uint8_t> frame(const Packet& p) {
  const bool tcp = p.proto == Protocol::kTcp;
  const size_t l4len = (tcp ? 20 : 8) + p.payload.size();
  std::vector<uint8_t> b(14 + 20 + l4len, 0);
  const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  std::memcpy(b.data(), macs + (p.swapMacs ? 6 : 0), 6);
  std::memcpy(b.data() + 6, macs + (p.swapMacs ? 0 : 6), 6);
  put16(b, 12, 0x0800);
  uint8_t* ip = b.data() + 14;
  ip[0] = 0x45;
  put16(b, 16, static_cast<uint16_t>(20 + l4len));
  put16(b, 18, 0x1234);
  put16(b, 20, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = static_cast<uint8_t>(p.proto);
  uint32_t s = ip4(p.src.ip), d = ip4(p.dst.ip);
  std::memcpy(ip + 12, &s, 4);
  std::memcpy(ip + 16, &d, 4);
  put16(b, 24, fold(add16(0, ip, 20)));
  const size_t l4 = 34;
  put16(b, l4, p.src.port);
  put16(b, l4 + 2, p.dst.port);
  size_t csum;
  if (tcp) {
    put16(b, l4 + 4, p.seq >> 16);
    put16(b, l4 + 6, p.seq & 0xffff);
    put16(b, l4 + 8, p.ack >> 16);
    put16(b, l4 + 10, p.ack & 0xffff);
    b[l4 + 12] = 5 << 4;
    b[l4 + 13] = p.tcpFlags;
    put16(b, l4 + 14, p.window);
    csum = l4 + 16;
  } else {
    put16(b, l4 + 4, static_cast<uint16_t>(l4len));
    csum = l4 + 6;
  }
  std::memcpy(b.data() + b.size() - p.payload.size(), p.payload.data(), p.payload.size());
  if (tcp || p.udpChecksum) {
    uint32_t sum = add16(0, ip + 12, 8);           // pseudo-header: addresses,
    sum += static_cast<uint8_t>(p.proto) + l4len;  // protocol and length
    uint16_t c = fold(add16(sum, b.data() + l4, l4len));
    put16(b, csum, !tcp && c == 0 ? 0xffff : c);
  }
  return b;
}

// The source port of a frame built above.
inline uint16_t sourcePort(const std::vector<uint8_t>& f) { return (f[34] << 8) | f[35]; }

}  // namespace svcrouter::packets
