#include "userspace/dns/config.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "userspace/dns/wire.h"
#include "userspace/k8s/names.h"

namespace svcrouter::dns {

namespace {

constexpr uint16_t kDnsPort = 53;

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool isWildcard(const IpAddr& a) {
  return a == *IpAddr::parse("0.0.0.0") || a == *IpAddr::parse("::");
}

bool isLoopback(const IpAddr& a) {
  return a.isV4() ? a.bytes()[12] == 127 : a == *IpAddr::parse("::1");
}

// Every address of this network namespace's interfaces.
std::vector<IpAddr> localAddresses() {
  std::vector<IpAddr> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    std::array<uint8_t, 16> b{};
    if (i->ifa_addr->sa_family == AF_INET) {
      b[10] = b[11] = 0xff;
      std::memcpy(&b[12], &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(IpAddr::fromBytes(b));
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

std::string describe(const SocketAddress& a) {
  std::string host = a.addr.str();
  if (!a.addr.isV4()) host = "[" + host + "]";
  return host + ":" + std::to_string(a.port);
}

Result<SocketAddress> parseSocketAddress(std::string_view text,
                                         std::optional<uint16_t> defaultPort) {
  const std::string want = defaultPort ? "ADDR[:PORT]" : "ADDR:PORT";
  std::string_view host = text, port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == text.npos) return fail(quoted(text) + " has no closing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return fail(quoted(text) + " is not " + want);
      port = rest.substr(1);
      if (port.empty()) return fail(quoted(text) + " has an empty port");
    }
  } else if (size_t colon = text.rfind(':'); colon != text.npos) {
    // One colon: host:port. More: an IPv6 address without brackets (no port).
    if (text.find(':') == colon) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return fail(quoted(text) + " has an empty port");
    }
  }
  auto ip = IpAddr::parse(host);
  if (!ip) return fail(quoted(text) + ": " + quoted(host) + " is not an IP address");
  SocketAddress out{*ip, defaultPort.value_or(0)};
  if (port.empty()) {
    if (!defaultPort) return fail(quoted(text) + " has no port (" + want + ")");
    return out;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return fail(quoted(text) + ": the port must be a number from 0 to 65535");
  out.port = static_cast<uint16_t>(value);
  return out;
}

std::vector<SocketAddress> resolvConfNameservers(std::string_view text) {
  std::vector<SocketAddress> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, addr;
    if (!(words >> keyword >> addr) || keyword != "nameserver") continue;
    if (size_t zone = addr.find('%'); zone != addr.npos) addr.resize(zone);
    if (auto ip = IpAddr::parse(addr)) out.push_back({*ip, kDnsPort});
  }
  return out;
}

Result<std::vector<SocketAddress>> defaultUpstreams(const std::string& resolvConf,
                                                    const std::vector<SocketAddress>& listen) {
  std::ifstream in(resolvConf);
  if (!in) return fail("read " + resolvConf + " (for the default --dns-upstream)", errno);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<IpAddr> local;
  bool wildcard = false;
  for (const auto& l : listen) wildcard |= isWildcard(l.addr) && l.port == kDnsPort;
  if (wildcard) local = localAddresses();
  std::vector<SocketAddress> out;
  for (const SocketAddress& ns : resolvConfNameservers(text.str())) {
    bool self = std::ranges::any_of(listen, [&](const SocketAddress& l) {
      if (l.port != ns.port) return false;
      if (l.addr == ns.addr) return true;
      if (!isWildcard(l.addr) || l.addr.isV4() != ns.addr.isV4()) return false;
      return isLoopback(ns.addr) || std::ranges::find(local, ns.addr) != local.end();
    });
    if (!self && std::ranges::find(out, ns) == out.end()) out.push_back(ns);
  }
  return out;
}

Result<std::string> parseClusterDomain(std::string_view text) {
  std::string lower(text);
  if (lower.ends_with('.')) lower.pop_back();
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  auto wire = isDns1123Subdomain(lower) ? nameFromDotted(lower) : std::nullopt;
  // Room below it for <hostname>.<service>.<namespace>.svc: most of a name.
  if (!wire || wire->size() > 100)
    return fail(quoted(text) +
                " is not a domain name (labels of letters, digits and '-', at most 100 bytes)");
  return lower;
}

}  // namespace svcrouter::dns
