#include "userspace/k8s/objects.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace svcrouter {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string familyName(const IpAddr& a) { return a.isV4() ? "IPv4" : "IPv6"; }

Result<IpCidr> parseCidr(std::string_view text) {
  std::string notCidr = quote(text) + " is not a CIDR";
  size_t slash = text.find('/');
  if (slash == text.npos) return fail(notCidr + " (address/prefix length)");
  std::string_view addrText = text.substr(0, slash);
  std::string_view bitsText = text.substr(slash + 1);
  auto addr = IpAddr::parse(addrText);
  if (!addr) return fail(notCidr + ": " + quote(addrText) + " is not an IP address");
  unsigned maxBits = addr->isV4() ? 32 : 128;
  unsigned bits = 0;
  auto [end, ec] = std::from_chars(bitsText.data(), bitsText.data() + bitsText.size(), bits);
  if (bitsText.empty() || ec != std::errc() || end != bitsText.data() + bitsText.size() ||
      bits > maxBits) {
    return fail(notCidr + ": the prefix length must be 0-" + std::to_string(maxBits) + " for " +
                familyName(*addr));
  }
  return IpCidr::network(*addr, static_cast<uint8_t>(bits));
}

std::string objectName(std::string_view kind, std::string_view ns, std::string_view name) {
  return std::string(kind) + " " + std::string(ns) + "/" + std::string(name);
}

std::string origin(std::string_view where, std::string_view object) {
  if (object.empty()) return std::string(where);
  return std::string(where) + " (" + std::string(object) + ")";
}

std::string origin(const Service& s) {
  return origin(s.where, objectName("Service", s.ns, s.name));
}

std::string origin(const EndpointSlice& s) {
  return origin(s.where, objectName("EndpointSlice", s.ns, s.name));
}

}  // namespace svcrouter
