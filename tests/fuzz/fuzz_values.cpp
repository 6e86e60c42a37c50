// The short values the agent parses: the first byte chooses the parser, the
// rest is the text. Options of the command line (--node-ip, --nodeport-
// addresses, --metrics/--healthz-bind-address, --conntrack-gc-interval),
// the fields they share with objects (CIDRs of loadBalancerSourceRanges),
// EndpointSlices' last-change-trigger-time (RFC 3339), and the API server's
// response header lines (status, Retry-After). Each value read is checked
// to say the same when written back and read again.
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

void headers(std::string_view text) {  // the API server's response header lines
  ResponseReader reader(ResponseLimits{});
  for (std::string_view line : lines(text)) reader.header(line);
  (void)reader.response();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
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
    default:
      headers(text);
      break;
  }
  return 0;
}
