#include "objects.h"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace apiserver {
namespace {

constexpr std::array<Resource, 3> kResources = {{
    {Kind::kService, "Service", "ServiceList", "v1", "/api/v1", "services", "service", "svc", true},
    {Kind::kEndpointSlice, "EndpointSlice", "EndpointSliceList", "discovery.k8s.io/v1",
     "/apis/discovery.k8s.io/v1", "endpointslices", "endpointslice", "", true},
    {Kind::kNode, "Node", "NodeList", "v1", "/api/v1", "nodes", "node", "no", false},
}};

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::span<const Resource> resources() { return kResources; }

const Resource& resourceOf(Kind kind) {
  return *std::ranges::find(kResources, kind, &Resource::kind);
}

const Resource* resourceByKindName(std::string_view name) {
  auto it = std::ranges::find_if(
      kResources, [&](const Resource& r) { return equalsIgnoringCase(r.kindName, name); });
  return it == kResources.end() ? nullptr : &*it;
}

const Resource* resourceByPath(std::string_view prefix, std::string_view plural) {
  auto it = std::ranges::find_if(
      kResources, [&](const Resource& r) { return r.pathPrefix == prefix && r.plural == plural; });
  return it == kResources.end() ? nullptr : &*it;
}

nlohmann::json status(int code, std::string_view reason, std::string_view message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

nlohmann::json tooOldStatus(uint64_t requested, uint64_t compacted) {
  return status(410, "Expired",
                "too old resource version: " + std::to_string(requested) + " (" +
                    std::to_string(compacted) + ")");
}

std::string nowTimestamp() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

std::string newUid() {
  std::array<unsigned char, 16> b{};
  RAND_bytes(b.data(), b.size());
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return buf;
}

}  // namespace apiserver
