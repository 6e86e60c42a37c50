// The short values the agent parses: the first byte chooses the parser, the
// rest is the text. Options of the command line (--node-ip, --nodeport-
// addresses, --metrics/--healthz-bind-address, --conntrack-gc-interval),
// the fields they share with objects (CIDRs of loadBalancerSourceRanges),
// EndpointSlices' last-change-trigger-time (RFC 3339), the API server's
// response header lines (status, Retry-After), and the DNS responder's
// (--dns-listen/--dns-upstream addresses, resolv.conf, --cluster-domain,
// --dns-ttl). Each value read is checked to say the same when written back
// and read again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "maps/addr.h"
#include "tests/fuzz/fuzz_check.h"
#include "userspace/cli/options.h"
#include "userspace/core/desired.h"
#include "userspace/dns/config.h"
#include "userspace/dns/wire.h"
#include "userspace/k8s/api_client.h"
#include "userspace/k8s/objects.h"
#include "userspace/observe/health.h"
#include "userspace/observe/http_server.h"

using namespace svcrouter;

namespace {

// Lines of `text` (without their '\n').
std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl == text.npos ? text.size() : nl + 1);
  }
  return out;
}

void ipAddress(std::string_view text) {  // --node-ip, and every IP of an object
  auto ip = IpAddr::parse(text);
  if (!ip) return;
  auto again = IpAddr::parse(ip->str());
  FUZZ_CHECK(again && *again == *ip, ip->str());
  FUZZ_CHECK(ip->isV4() == (ip->str().find(':') == std::string::npos), ip->str());
}

void cidr(std::string_view text) {  // --nodeport-addresses, loadBalancerSourceRanges
  auto c = parseCidr(text);
  if (!c) {
    FUZZ_CHECK(c.error().what.starts_with("\""), c.error().what);
    return;
  }
  FUZZ_CHECK(c->prefix <= (c->addr.isV4() ? 32 : 128), describe(*c));
  FUZZ_CHECK(c->contains(c->addr), describe(*c));
  FUZZ_CHECK(IpCidr::network(c->addr, c->prefix) == *c, describe(*c));
  auto again = parseCidr(describe(*c));
  FUZZ_CHECK(again && *again == *c, describe(*c));
}

// --nodeport-addresses, several: the node's addresses they select.
void nodePortAddresses(std::string_view text) {
  std::vector<IpCidr> cidrs;
  for (std::string_view line : lines(text))
    if (auto c = parseCidr(line)) cidrs.push_back(*c);
  std::vector<IpAddr> node;
  for (const char* a : {"10.0.0.1", "127.0.0.1", "192.168.1.5", "fd00::1", "::1", "fe80::1"})
    node.push_back(*IpAddr::parse(a));
  auto chosen = svcrouter::nodePortAddresses(cidrs, node);
  FUZZ_CHECK(std::ranges::is_sorted(chosen) && std::ranges::adjacent_find(chosen) == chosen.end(),
             "not sorted, each once");
  for (const IpAddr& a : chosen)
    FUZZ_CHECK(std::ranges::find(node, a) != node.end(), "not a node address: " + a.str());
}

void bindAddress(std::string_view text) {  // --metrics-bind-address, --healthz-bind-address
  auto hp = observe::parseHostPort(std::string(text));
  if (!hp) return;
  FUZZ_CHECK(!hp->first.empty() && hp->second >= 0 && hp->second <= 65535, std::string(text));
}

void duration(std::string_view text) {  // --conntrack-gc-interval
  auto d = parseDuration(text);
  if (!d) return;
  const int64_t ms = d->count();
  FUZZ_CHECK(ms >= 0, std::string(text));
  // Written back as hours, minutes, seconds and milliseconds ("1h2m3s4ms").
  if (ms == 0 || ms / 3'600'000 > 999'999'999) return;
  std::string written = std::to_string(ms / 3'600'000) + "h" + std::to_string(ms / 60'000 % 60) +
                        "m" + std::to_string(ms / 1000 % 60) + "s" + std::to_string(ms % 1000) +
                        "ms";
  auto again = parseDuration(written);
  FUZZ_CHECK(again && *again == *d, std::string(text) + " written as " + written);
}

void timestamp(std::string_view text) {  // endpoints.kubernetes.io/last-change-trigger-time
  auto t = observe::parseRfc3339(std::string(text));
  if (!t) return;
  std::string written = observe::rfc3339(*t);
  auto again = observe::parseRfc3339(written);
  FUZZ_CHECK(again && *again == *t, std::string(text) + " written as " + written);
}

void dnsAddress(std::string_view text) {  // --dns-listen, --dns-upstream
  for (std::optional<uint16_t> port : {std::optional<uint16_t>(), std::optional<uint16_t>(53)}) {
    auto a = dns::parseSocketAddress(text, port);
    if (!a) {
      FUZZ_CHECK(a.error().what.starts_with("\""), a.error().what);
      continue;
    }
    auto again = dns::parseSocketAddress(dns::describe(*a), std::nullopt);
    FUZZ_CHECK(again && *again == *a, dns::describe(*a));
  }
}

void resolvConf(std::string_view text) {  // /etc/resolv.conf, for the default --dns-upstream
  for (const auto& ns : dns::resolvConfNameservers(text)) {
    FUZZ_CHECK(ns.port == 53, dns::describe(ns));
    auto again = dns::resolvConfNameservers("nameserver " + ns.addr.str() + "\n");
    FUZZ_CHECK(again.size() == 1 && again[0] == ns, dns::describe(ns));
  }
}

void clusterDomain(std::string_view text) {  // --cluster-domain
  auto d = dns::parseClusterDomain(text);
  if (!d) return;
  FUZZ_CHECK(dns::nameFromDotted(*d).has_value(), *d);
  auto again = dns::parseClusterDomain(*d);
  FUZZ_CHECK(again && *again == *d, *d);
}

void dnsTtl(std::string_view text) {  // --dns-ttl
  auto ttl = parseDnsTtl(text);
  if (!ttl) return;
  FUZZ_CHECK(*ttl <= kMaxDnsTtl, std::string(text));
  auto again = parseDnsTtl(std::to_string(*ttl) + "s");
  FUZZ_CHECK(again && *again == *ttl, std::string(text));
}

void headers(std::string_view text) {  // the API server's response header lines
  ResponseReader reader(ResponseLimits{});
  for (std::string_view line : lines(text)) reader.header(line);
  (void)reader.response();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 11) {
    case 0:
      ipAddress(text);
      break;
    case 1:
      cidr(text);
      break;
    case 2:
      nodePortAddresses(text);
      break;
    case 3:
      bindAddress(text);
      break;
    case 4:
      duration(text);
      break;
    case 5:
      timestamp(text);
      break;
    case 6:
      headers(text);
      break;
    case 7:
      dnsAddress(text);
      break;
    case 8:
      resolvConf(text);
      break;
    case 9:
      clusterDomain(text);
      break;
    default:
      dnsTtl(text);
      break;
  }
  return 0;
}
