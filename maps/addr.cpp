#include "maps/addr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace svcrouter {

namespace {

// The ::ffff:0:0/96 prefix of IPv4-mapped addresses.
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string withPort(const IpAddr& addr, uint16_t port) {
  std::string host = addr.isV4() ? addr.str() : "[" + addr.str() + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; it already rejects spaces, CIDR
  // suffixes and zone ids, but an embedded NUL would cut the text short.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN || text.find('\0') != text.npos) {
    return std::nullopt;
  }
  const std::string s(text);
  std::array<uint8_t, 16> bytes{};
  if (s.find(':') == s.npos) {
    std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes.begin());
    if (inet_pton(AF_INET, s.c_str(), bytes.data() + 12) != 1) return std::nullopt;
  } else if (inet_pton(AF_INET6, s.c_str(), bytes.data()) != 1) {
    return std::nullopt;
  }
  return fromBytes(bytes);
}

IpAddr IpAddr::fromBytes(const std::array<uint8_t, 16>& bytes) {
  IpAddr a;
  a.bytes_ = bytes;
  return a;
}

bool IpAddr::isV4() const {
  return std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes_.begin());
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isV4()) {
    inet_ntop(AF_INET, bytes_.data() + 12, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof(buf));
  }
  return buf;
}

std::string_view protocolName(Protocol p) { return p == Protocol::kUdp ? "UDP" : "TCP"; }

std::string_view scopeName(Scope s) {
  switch (s) {
    case Scope::kCluster:
      return "cluster";
    case Scope::kNode:
      return "node";
    case Scope::kExternal:
      return "external";
  }
  return "?";
}

std::string describe(const ServiceKey& key) {
  std::string out = withPort(key.vip, key.port) + "/" + std::string(protocolName(key.protocol));
  if (key.scope != Scope::kCluster) out += " (" + std::string(scopeName(key.scope)) + ")";
  return out;
}

std::string describe(const BackendAddr& addr) { return withPort(addr.addr, addr.port); }

namespace {

// IPv4 is stored in the last 4 of the 16 bytes (::ffff:a.b.c.d): its
// prefix, counted within the family, covers 96 more bits of them.
unsigned storedPrefix(const IpAddr& a, unsigned prefix) { return prefix + (a.isV4() ? 96 : 0); }

// The byte mask that keeps the first `keep` bits of byte i.
uint8_t keptBits(unsigned keep, unsigned i) {
  unsigned kept = keep > i * 8 ? std::min(keep - i * 8, 8u) : 0;
  return static_cast<uint8_t>(0xff00u >> kept);
}

}  // namespace

IpCidr IpCidr::network(const IpAddr& addr, uint8_t prefix) {
  unsigned keep = storedPrefix(addr, prefix);
  std::array<uint8_t, 16> bytes = addr.bytes();
  for (unsigned i = 0; i < bytes.size(); ++i) bytes[i] &= keptBits(keep, i);
  return {IpAddr::fromBytes(bytes), prefix};
}

bool IpCidr::contains(const IpAddr& ip) const {
  if (ip.isV4() != addr.isV4()) return false;
  unsigned keep = storedPrefix(addr, prefix);
  for (unsigned i = 0; i < 16; ++i)
    if ((ip.bytes()[i] & keptBits(keep, i)) != addr.bytes()[i]) return false;
  return true;
}

std::string describe(const IpCidr& cidr) {
  return cidr.addr.str() + "/" + std::to_string(cidr.prefix);
}

}  // namespace svcrouter
