// The model's Services and EndpointSlices written back as the API server's
// JSON, so that a fuzz target can check that what was read re-validates:
// read(write(x)) must succeed and write the same JSON again.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "userspace/k8s/doc_node.h"
#include "userspace/k8s/object_reader.h"
#include "userspace/k8s/objects.h"

namespace svcrouter::fuzz {

inline const char* protocolText(Protocol p) { return p == Protocol::kUdp ? "UDP" : "TCP"; }

inline nlohmann::json metadata(const std::string& ns, const std::string& name,
                               const std::map<std::string, std::string>& labels,
                               const std::string& resourceVersion) {
  nlohmann::json md = {{"namespace", ns}, {"name", name}, {"labels", labels}};
  if (!resourceVersion.empty()) md["resourceVersion"] = resourceVersion;
  return md;
}

inline nlohmann::json toJson(const Service& s) {
  static const char* kTypes[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"};
  nlohmann::json spec = {{"type", kTypes[static_cast<int>(s.type)]}};
  nlohmann::json j = {{"apiVersion", "v1"},
                      {"kind", "Service"},
                      {"metadata", metadata(s.ns, s.name, s.labels, s.resourceVersion)}};
  if (s.type == ServiceType::kExternalName) {
    spec["externalName"] = s.externalName;
    j["spec"] = spec;
    return j;
  }
  if (s.headless) {
    spec["clusterIP"] = "None";
  } else {
    nlohmann::json ips = nlohmann::json::array();
    for (const IpAddr& ip : s.clusterIPs) ips.push_back(ip.str());
    spec["clusterIPs"] = ips;
  }
  nlohmann::json ports = nlohmann::json::array();
  for (const ServicePort& p : s.ports) {
    nlohmann::json port = {
        {"name", p.name}, {"protocol", protocolText(p.protocol)}, {"port", p.port}};
    if (p.nodePort) port["nodePort"] = p.nodePort;
    ports.push_back(port);
  }
  spec["ports"] = ports;
  nlohmann::json external = nlohmann::json::array();
  for (const IpAddr& ip : s.externalIPs) external.push_back(ip.str());
  spec["externalIPs"] = external;
  nlohmann::json ranges = nlohmann::json::array();
  for (const IpCidr& c : s.loadBalancerSourceRanges) ranges.push_back(describe(c));
  spec["loadBalancerSourceRanges"] = ranges;
  spec["sessionAffinity"] = s.affinityClientIP ? "ClientIP" : "None";
  spec["sessionAffinityConfig"] = {{"clientIP", {{"timeoutSeconds", s.affinityTimeoutSec}}}};
  spec["internalTrafficPolicy"] =
      s.internalTrafficPolicy == TrafficPolicy::kLocal ? "Local" : "Cluster";
  spec["externalTrafficPolicy"] =
      s.externalTrafficPolicy == TrafficPolicy::kLocal ? "Local" : "Cluster";
  if (s.healthCheckNodePort) spec["healthCheckNodePort"] = s.healthCheckNodePort;
  if (!s.trafficDistribution.empty()) spec["trafficDistribution"] = s.trafficDistribution;
  j["spec"] = spec;
  nlohmann::json ingress = nlohmann::json::array();
  for (const IpAddr& ip : s.loadBalancerIPs) ingress.push_back({{"ip", ip.str()}});
  j["status"] = {{"loadBalancer", {{"ingress", ingress}}}};
  return j;
}

inline nlohmann::json toJson(const EndpointSlice& s) {
  static const char* kTypes[] = {"IPv4", "IPv6", "FQDN"};
  nlohmann::json md = metadata(s.ns, s.name, s.labels, s.resourceVersion);
  if (!s.lastChangeTriggerTime.empty())
    md["annotations"] = {
        {"endpoints.kubernetes.io/last-change-trigger-time", s.lastChangeTriggerTime}};
  nlohmann::json endpoints = nlohmann::json::array();
  for (const Endpoint& e : s.endpoints) {
    nlohmann::json addresses = nlohmann::json::array();
    for (const IpAddr& ip : e.addresses) addresses.push_back(ip.str());
    // FQDN addresses are not kept (never resolved): one name stands for them.
    if (s.addressType == AddressType::kFQDN) addresses.push_back("name.example");
    nlohmann::json conditions = nlohmann::json::object();
    if (e.conditions.ready) conditions["ready"] = *e.conditions.ready;
    if (e.conditions.serving) conditions["serving"] = *e.conditions.serving;
    if (e.conditions.terminating) conditions["terminating"] = *e.conditions.terminating;
    nlohmann::json zones = nlohmann::json::array(), nodes = nlohmann::json::array();
    for (const auto& z : e.hintZones) zones.push_back({{"name", z}});
    for (const auto& n : e.hintNodes) nodes.push_back({{"name", n}});
    nlohmann::json endpoint = {{"addresses", addresses},
                               {"conditions", conditions},
                               {"nodeName", e.nodeName},
                               {"zone", e.zone},
                               {"hints", {{"forZones", zones}, {"forNodes", nodes}}}};
    if (!e.hostname.empty()) endpoint["hostname"] = e.hostname;
    endpoints.push_back(std::move(endpoint));
  }
  nlohmann::json ports = nlohmann::json::array();
  for (const EndpointPort& p : s.ports) {
    nlohmann::json port = {{"name", p.name}, {"protocol", protocolText(p.protocol)}};
    if (p.port) port["port"] = *p.port;
    ports.push_back(port);
  }
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata", md},
          {"addressType", kTypes[static_cast<int>(s.addressType)]},
          {"endpoints", endpoints},
          {"ports", ports}};
}

// JSON for messages, whatever its strings hold.
inline std::string text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Every object read re-validates: written as JSON and read back, it writes
// the same JSON again (so nothing was read that cannot be said again, and
// the YAML and JSON readers agree).
inline void checkRereads(const Objects& objects) {
  auto reread = [](const nlohmann::json& j) {
    Objects again;
    auto r = readObject(DocNode(j), "reread", again);
    FUZZ_CHECK(r, (r ? "" : r.error().what) + " in " + text(j));
    FUZZ_CHECK(again.services.size() + again.slices.size() == 1, text(j));
    nlohmann::json back =
        again.services.empty() ? toJson(again.slices[0]) : toJson(again.services[0]);
    FUZZ_CHECK(back == j, text(j) + " read back as " + text(back));
  };
  for (const Service& s : objects.services) reread(toJson(s));
  for (const EndpointSlice& s : objects.slices) reread(toJson(s));
}

}  // namespace svcrouter::fuzz
