#include "discovery.h"

#include "objects.h"

namespace apiserver {
namespace {

constexpr std::string_view kGroup = "discovery.k8s.io";
constexpr std::string_view kGroupVersion = "discovery.k8s.io/v1";

nlohmann::json groupVersion() { return {{"groupVersion", kGroupVersion}, {"version", "v1"}}; }

nlohmann::json group() {
  return {{"name", kGroup},
          {"versions", nlohmann::json::array({groupVersion()})},
          {"preferredVersion", groupVersion()}};
}

// An APIResourceList: the served resources whose apiVersion is `version`.
nlohmann::json resourceList(std::string_view version) {
  nlohmann::json list = {{"kind", "APIResourceList"},
                         {"apiVersion", "v1"},
                         {"groupVersion", version},
                         {"resources", nlohmann::json::array()}};
  for (const Resource& r : resources()) {
    if (r.apiVersion != version) continue;
    nlohmann::json entry = {{"name", r.plural},
                            {"singularName", r.singular},
                            {"namespaced", r.namespaced},
                            {"kind", r.kindName},
                            {"verbs", {"get", "list", "watch"}}};
    if (!r.shortName.empty()) entry["shortNames"] = {r.shortName};
    list["resources"].push_back(std::move(entry));
  }
  return list;
}

}  // namespace

std::optional<nlohmann::json> discoveryDocument(std::string_view path,
                                                std::string_view serverAddress) {
  if (path == "/version") {
    return nlohmann::json{{"major", "1"},
                          {"minor", "32"},
                          {"gitVersion", "v1.32.0-svcr-apiserver"},
                          {"gitCommit", "0000000000000000000000000000000000000000"},
                          {"gitTreeState", "clean"},
                          {"buildDate", "2025-01-01T00:00:00Z"},
                          {"goVersion", "go1.23.0"},
                          {"compiler", "gc"},
                          {"platform", "linux/amd64"}};
  }
  if (path == "/api") {
    return nlohmann::json{{"kind", "APIVersions"},
                          {"versions", {"v1"}},
                          {"serverAddressByClientCIDRs",
                           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", serverAddress}}}}};
  }
  if (path == "/apis") {
    return nlohmann::json{{"kind", "APIGroupList"},
                          {"apiVersion", "v1"},
                          {"groups", nlohmann::json::array({group()})}};
  }
  if (path == "/apis/discovery.k8s.io") {
    nlohmann::json g = group();
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return g;
  }
  if (path == "/api/v1") return resourceList("v1");
  if (path == "/apis/discovery.k8s.io/v1") return resourceList(kGroupVersion);
  return std::nullopt;
}

}  // namespace apiserver
