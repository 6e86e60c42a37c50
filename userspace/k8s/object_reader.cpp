#include "userspace/k8s/object_reader.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <initializer_list>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "userspace/k8s/names.h"

namespace svcrouter {

namespace {

constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
constexpr std::string_view kLastChangeTriggerTime =
    "endpoints.kubernetes.io/last-change-trigger-time";
constexpr std::string_view kCoreV1 = "v1";
constexpr std::string_view kDiscoveryV1 = "discovery.k8s.io/v1";

// A node and its Kubernetes field path, e.g. "spec.ports[1].port".
struct Field {
  DocNode node;
  std::string path;

  // Missing and null are the same thing: the field is unset.
  bool present() const { return !node.isNull(); }

  // Children of a node already checked to be a map or list (Reader::map,
  // Reader::list); anything else yields an unset field.
  Field operator[](std::string_view key) const {
    std::string p = path.empty() ? std::string(key) : path + "." + std::string(key);
    if (!present() || !node.isMap()) return {DocNode(), std::move(p)};
    return {node.get(key), std::move(p)};
  }
  Field item(size_t i) const { return {node.item(i), path + "[" + std::to_string(i) + "]"}; }
};

std::string joinOr(std::initializer_list<std::string_view> values) {
  std::string out;
  size_t i = 0;
  for (std::string_view v : values) {
    if (i > 0) out += (i + 1 == values.size()) ? " or " : ", ";
    out += v;
    ++i;
  }
  return out;
}

// A scalar that may hold a typed value (integer, boolean), not text.
bool isTypedScalar(const DocNode& n) { return n.isScalar() && !n.isText(); }

// YAML 1.1 booleans, as go-yaml v2 (behind kubectl) reads them: y/n, yes/no,
// true/false, on/off, in lowercase, UPPERCASE or Capitalized spelling.
std::optional<bool> parseBool(std::string_view s) {
  auto allIn = [](std::string_view t, char lo, char hi) {
    for (char c : t) {
      if (c < lo || c > hi) return false;
    }
    return true;
  };
  if (s.empty()) return std::nullopt;
  bool flexibleCase =
      allIn(s, 'a', 'z') || (allIn(s.substr(0, 1), 'A', 'Z') &&
                             (allIn(s.substr(1), 'a', 'z') || allIn(s.substr(1), 'A', 'Z')));
  if (!flexibleCase) return std::nullopt;
  std::string lower(s);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (auto [t, f] : {std::pair{"y", "n"}, {"yes", "no"}, {"true", "false"}, {"on", "off"}}) {
    if (lower == t) return true;
    if (lower == f) return false;
  }
  return std::nullopt;
}

// Reads typed fields of one object. Every failure is one message naming the
// object and field: "FILE: document N (Kind ns/name): field.path: problem".
// Unset fields read as nullopt; a value of the wrong YAML type is an error.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  const std::string& where() const { return where_; }
  void setObject(std::string_view kind, const std::string& ns, const std::string& name) {
    object_ = objectName(kind, ns, name);
  }
  std::string prefix() const { return origin(where_, object_); }

  std::unexpected<Error> fail(const Field& f, std::string_view problem) const {
    std::string path = f.path.empty() ? "" : ": " + f.path;
    return svcrouter::fail(prefix() + path + ": " + std::string(problem));
  }
  std::string warning(const Field& f, std::string_view problem) const {
    return prefix() + ": " + f.path + ": " + std::string(problem);
  }

  Result<std::optional<std::string>> string(const Field& f) const {
    if (!f.present()) return std::nullopt;
    if (!f.node.isScalar())
      return fail(f, "must be a string, not " + std::string(f.node.typeName()));
    return f.node.scalar();
  }

  Result<std::string> requiredString(const Field& f) const {
    SVCR_ASSIGN_OR_RETURN(auto s, string(f));
    if (!s || s->empty()) return fail(f, "required");
    return *s;
  }

  Result<std::optional<int64_t>> integer(const Field& f, int64_t lo, int64_t hi) const {
    if (!f.present()) return std::nullopt;
    if (!isTypedScalar(f.node)) {
      return fail(f, "must be an integer, not " + std::string(f.node.typeName()));
    }
    std::string s = f.node.scalar();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (end != s.data() + s.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return fail(f, quote(s) + " is not an integer");
    }
    if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
      return fail(f,
                  std::string(s) + " is outside " + std::to_string(lo) + "-" + std::to_string(hi));
    }
    return v;
  }

  Result<std::optional<bool>> boolean(const Field& f) const {
    if (!f.present()) return std::nullopt;
    std::optional<bool> v;
    if (isTypedScalar(f.node)) v = parseBool(f.node.scalar());
    if (!v) {
      std::string got =
          isTypedScalar(f.node) ? quote(f.node.scalar()) : std::string(f.node.typeName());
      return fail(f, "must be true or false, not " + got);
    }
    return *v;
  }

  // Index of the value in `values`; nullopt when unset.
  Result<std::optional<size_t>> oneOf(const Field& f,
                                      std::initializer_list<std::string_view> values) const {
    SVCR_ASSIGN_OR_RETURN(auto s, string(f));
    if (!s) return std::nullopt;
    size_t i = 0;
    for (std::string_view v : values) {
      if (*s == v) return i;
      ++i;
    }
    return fail(f, quote(*s) + " is not " + joinOr(values));
  }

  // The field itself when it is a map or unset.
  Result<Field> map(const Field& f) const {
    if (f.present() && !f.node.isMap()) {
      return fail(f, "must be a map, not " + std::string(f.node.typeName()));
    }
    return f;
  }

  // The items of a list; none when unset.
  Result<std::vector<Field>> list(const Field& f) const {
    if (!f.present()) return std::vector<Field>{};
    if (!f.node.isList()) return fail(f, "must be a list, not " + std::string(f.node.typeName()));
    std::vector<Field> items;
    for (size_t i = 0; i < f.node.size(); ++i) items.push_back(f.item(i));
    return items;
  }

 private:
  std::string where_;   // "svc.yaml: document 2, items[3]"
  std::string object_;  // "Service default/web", once known
};

// ---- Shared pieces ----

struct Meta {
  std::string ns, name, resourceVersion;
  std::map<std::string, std::string> labels, annotations;
};

// A map of strings to strings (labels, annotations).
Result<std::map<std::string, std::string>> readStringMap(const Reader& r, const Field& f) {
  std::map<std::string, std::string> out;
  SVCR_ASSIGN_OR_RETURN(Field map, r.map(f));
  for (const auto& [k, v] : map.node.pairs()) {
    Field value{v, map.path + "[" + k.value_or("?") + "]"};
    if (!k) return r.fail(value, "keys must be strings");
    SVCR_ASSIGN_OR_RETURN(auto text, r.string(value));
    out[*k] = text.value_or("");
  }
  return out;
}

// Reads metadata and names the object in the reader's messages.
Result<Meta> readMeta(Reader& r, const Field& root, std::string_view kind) {
  SVCR_ASSIGN_OR_RETURN(Field md, r.map(root["metadata"]));
  Meta meta;
  SVCR_ASSIGN_OR_RETURN(meta.name, r.requiredString(md["name"]));
  SVCR_ASSIGN_OR_RETURN(auto ns, r.string(md["namespace"]));
  meta.ns = ns && !ns->empty() ? *ns : "default";
  if (kind == "Node") meta.ns = "";  // cluster-scoped
  r.setObject(kind, meta.ns, meta.name);
  SVCR_ASSIGN_OR_RETURN(auto rv, r.string(md["resourceVersion"]));
  meta.resourceVersion = rv.value_or("");

  if (kind != "Node" && !isDns1123Label(meta.ns)) {
    return r.fail(md["namespace"], quote(meta.ns) + " is not a DNS-1123 label");
  }
  // Service names become DNS labels; other objects only need a subdomain.
  if (kind == "Service" && !isDns1035Label(meta.name)) {
    return r.fail(md["name"], quote(meta.name) +
                                  " is not a DNS-1035 label (at most 63 characters: lowercase "
                                  "letters, digits and '-', starting with a letter)");
  }
  if (kind != "Service" && !isDns1123Subdomain(meta.name)) {
    return r.fail(md["name"], quote(meta.name) + " is not a DNS-1123 subdomain");
  }

  SVCR_ASSIGN_OR_RETURN(meta.labels, readStringMap(r, md["labels"]));
  SVCR_ASSIGN_OR_RETURN(meta.annotations, readStringMap(r, md["annotations"]));
  return meta;
}

Result<void> checkApiVersion(const Reader& r, const Field& f, const std::string& apiVersion,
                             std::string_view kind, std::string_view want) {
  if (apiVersion != want) {
    return r.fail(f, quote(apiVersion) + " is not " + std::string(want) + " (the version of " +
                         std::string(kind) + " svcrouter reads)");
  }
  return {};
}

// IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP; TCP when unset.
Result<int> readProtocol(const Reader& r, const Field& f) {
  SVCR_ASSIGN_OR_RETURN(auto s, r.string(f));
  if (!s || *s == "TCP") return IPPROTO_TCP;
  if (*s == "UDP") return IPPROTO_UDP;
  if (*s == "SCTP") return IPPROTO_SCTP;
  return r.fail(f, "unknown protocol " + quote(*s) + " (TCP, UDP or SCTP)");
}

Protocol toProtocol(int ipproto) {
  return ipproto == IPPROTO_UDP ? Protocol::kUdp : Protocol::kTcp;
}

std::string protocolText(int ipproto) {
  return ipproto == IPPROTO_SCTP ? "SCTP" : std::string(protocolName(toProtocol(ipproto)));
}

Result<IpAddr> readIp(const Reader& r, const Field& f) {
  SVCR_ASSIGN_OR_RETURN(std::string text, r.requiredString(f));
  auto ip = IpAddr::parse(text);
  if (!ip) return r.fail(f, quote(text) + " is not an IP address");
  return *ip;
}

// A list's items, each an IP address (spec.clusterIPs, spec.externalIPs).
Result<std::vector<IpAddr>> readIps(const Reader& r, const std::vector<Field>& items) {
  std::vector<IpAddr> ips;
  for (const Field& f : items) {
    SVCR_ASSIGN_OR_RETURN(IpAddr ip, readIp(r, f));
    ips.push_back(ip);
  }
  return ips;
}

// Go's strings.TrimSpace, for ASCII white space.
std::string_view trimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == s.npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// A CIDR (parseCidr); spaces around it are trimmed, as Kubernetes allows
// them in spec.loadBalancerSourceRanges.
Result<IpCidr> readCidr(const Reader& r, const Field& f) {
  SVCR_ASSIGN_OR_RETURN(std::string raw, r.requiredString(f));
  auto cidr = parseCidr(trimSpace(raw));
  if (!cidr) return r.fail(f, cidr.error().what);
  return *cidr;
}

// ---- Service ----

// spec.externalName: a DNS-1123 subdomain, as Kubernetes validates it (a
// final dot is allowed and dropped); kept in lowercase, as DNS compares.
Result<std::string> readExternalName(const Reader& r, const Field& f) {
  SVCR_ASSIGN_OR_RETURN(std::string name, r.requiredString(f));
  std::string lower = name;
  if (lower.ends_with('.')) lower.pop_back();
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!isDns1123Subdomain(lower)) return r.fail(f, quote(name) + " is not a DNS-1123 subdomain");
  return lower;
}

// spec.clusterIP / clusterIPs / ipFamilies into svc.headless and svc.clusterIPs.
Result<void> readClusterIPs(const Reader& r, const Field& spec, Service& svc) {
  Field ipField = spec["clusterIP"];
  Field ipsField = spec["clusterIPs"];
  SVCR_ASSIGN_OR_RETURN(auto clusterIP, r.string(ipField));
  if (clusterIP && clusterIP->empty()) clusterIP.reset();  // "" asks for allocation
  SVCR_ASSIGN_OR_RETURN(auto ips, r.list(ipsField));
  std::optional<std::string> firstOfList;
  if (!ips.empty()) {
    SVCR_ASSIGN_OR_RETURN(firstOfList, r.string(ips[0]));
  }
  if (clusterIP.value_or(firstOfList.value_or("")) == "None") {
    svc.headless = true;
    return {};
  }
  if (!clusterIP && ips.empty()) {
    return r.fail(ipField,
                  "required: svcrouter has no IP allocator, so every Service that is not "
                  "headless or ExternalName needs an explicit clusterIP");
  }
  if (ips.size() > 2) {
    return r.fail(ipsField, "has " + std::to_string(ips.size()) + " entries, at most 2 allowed");
  }
  SVCR_ASSIGN_OR_RETURN(svc.clusterIPs, readIps(r, ips));
  if (clusterIP) {
    SVCR_ASSIGN_OR_RETURN(IpAddr ip, readIp(r, ipField));
    if (svc.clusterIPs.empty()) {
      svc.clusterIPs.push_back(ip);
    } else if (svc.clusterIPs[0] != ip) {
      return r.fail(ips[0], svc.clusterIPs[0].str() + " does not match spec.clusterIP " + ip.str());
    }
  }
  if (svc.clusterIPs.size() == 2 && svc.clusterIPs[0].isV4() == svc.clusterIPs[1].isV4()) {
    return r.fail(ips[1], svc.clusterIPs[1].str() + " is " + familyName(svc.clusterIPs[1]) +
                              " like spec.clusterIPs[0]; dual-stack needs one IP of each family");
  }

  Field famField = spec["ipFamilies"];
  SVCR_ASSIGN_OR_RETURN(auto fams, r.list(famField));
  std::string want, got;
  bool match = fams.empty() || fams.size() == svc.clusterIPs.size();
  for (size_t i = 0; i < fams.size(); ++i) {
    SVCR_ASSIGN_OR_RETURN(auto fam, r.oneOf(fams[i], {"IPv4", "IPv6"}));
    if (!fam) return r.fail(fams[i], "required");
    got += (i ? ", " : "") + std::string(*fam == 0 ? "IPv4" : "IPv6");
    if (i < svc.clusterIPs.size() && (*fam == 0) != svc.clusterIPs[i].isV4()) match = false;
  }
  if (!match) {
    for (size_t i = 0; i < svc.clusterIPs.size(); ++i) {
      want += (i ? ", " : "") + familyName(svc.clusterIPs[i]);
    }
    return r.fail(famField,
                  "[" + got + "] does not match the families of the cluster IPs [" + want + "]");
  }
  return {};
}

Result<void> readServicePorts(const Reader& r, const Field& spec, Service& svc,
                              std::vector<std::string>& warnings) {
  SVCR_ASSIGN_OR_RETURN(auto ports, r.list(spec["ports"]));
  std::map<std::string, size_t> byName;
  std::map<std::pair<int64_t, int>, size_t> byPort;
  for (size_t i = 0; i < ports.size(); ++i) {
    SVCR_ASSIGN_OR_RETURN(Field pf, r.map(ports[i]));
    SVCR_ASSIGN_OR_RETURN(auto name, r.string(pf["name"]));
    // Kubernetes: with more than one port, every port needs a distinct name.
    if (ports.size() > 1) {
      if (!name || name->empty()) {
        return r.fail(pf["name"], "required when a Service has more than one port");
      }
      if (auto [it, added] = byName.emplace(*name, i); !added) {
        return r.fail(pf["name"], quote(*name) + " is also the name of spec.ports[" +
                                      std::to_string(it->second) + "]");
      }
    }
    SVCR_ASSIGN_OR_RETURN(int proto, readProtocol(r, pf["protocol"]));
    SVCR_ASSIGN_OR_RETURN(auto port, r.integer(pf["port"], 1, 65535));
    if (!port) return r.fail(pf["port"], "required");
    SVCR_ASSIGN_OR_RETURN(auto nodePort, r.integer(pf["nodePort"], 1, 65535));
    Field target = pf["targetPort"];  // int or named port; only the EndpointSlice port is used
    if (target.present() && !target.node.isScalar()) {
      return r.fail(target,
                    "must be an integer or a string, not " + std::string(target.node.typeName()));
    }
    std::string portText = std::to_string(*port) + "/" + protocolText(proto);
    if (auto [it, added] = byPort.emplace(std::pair{*port, proto}, i); !added) {
      return r.fail(pf, portText + " is also spec.ports[" + std::to_string(it->second) + "]");
    }
    if (proto == IPPROTO_SCTP) {
      warnings.push_back(r.warning(pf, "SCTP is not supported; port " + portText + " skipped"));
      continue;
    }
    svc.ports.push_back(ServicePort{.name = name.value_or(""),
                                    .protocol = toProtocol(proto),
                                    .port = static_cast<uint16_t>(*port),
                                    .nodePort = static_cast<uint16_t>(nodePort.value_or(0)),
                                    .specIndex = i});
  }
  return {};
}

// The fields of a Service the packet path serves besides its cluster IPs:
// external IPs, load balancer IPs and the sources a load balancer admits.
// All are kept whatever their family; kube-proxy filters them per family.
Result<void> readExternalAddresses(const Reader& r, const Field& root, const Field& spec,
                                   Service& svc) {
  SVCR_ASSIGN_OR_RETURN(auto externalIPs, r.list(spec["externalIPs"]));
  SVCR_ASSIGN_OR_RETURN(svc.externalIPs, readIps(r, externalIPs));

  SVCR_ASSIGN_OR_RETURN(auto ranges, r.list(spec["loadBalancerSourceRanges"]));
  for (const Field& f : ranges) {
    SVCR_ASSIGN_OR_RETURN(IpCidr cidr, readCidr(r, f));
    svc.loadBalancerSourceRanges.push_back(cidr);
  }

  // As kube-proxy (IsVIPMode): an ingress entry's ip is served here when its
  // ipMode is unset or VIP. With Proxy (or a value kube-proxy does not know)
  // the load balancer proxies itself, so traffic to that ip must reach it;
  // hostname-only entries have no ip. Every ip is checked all the same.
  SVCR_ASSIGN_OR_RETURN(Field status, r.map(root["status"]));
  SVCR_ASSIGN_OR_RETURN(Field lb, r.map(status["loadBalancer"]));
  SVCR_ASSIGN_OR_RETURN(auto ingress, r.list(lb["ingress"]));
  for (const Field& item : ingress) {
    SVCR_ASSIGN_OR_RETURN(Field entry, r.map(item));
    SVCR_ASSIGN_OR_RETURN(auto ipText, r.string(entry["ip"]));
    if (ipText.value_or("").empty()) continue;
    SVCR_ASSIGN_OR_RETURN(IpAddr ip, readIp(r, entry["ip"]));
    SVCR_ASSIGN_OR_RETURN(auto mode, r.string(entry["ipMode"]));
    if (mode && *mode != "VIP") continue;
    svc.loadBalancerIPs.push_back(ip);
  }
  return {};
}

Result<Service> parseService(Reader& r, const Field& root, const std::string& apiVersion,
                             std::vector<std::string>& warnings) {
  SVCR_ASSIGN_OR_RETURN(Meta meta, readMeta(r, root, "Service"));
  SVCR_RETURN_IF_ERROR(checkApiVersion(r, root["apiVersion"], apiVersion, "Service", kCoreV1));
  Service svc;
  svc.ns = meta.ns;
  svc.name = meta.name;
  svc.labels = std::move(meta.labels);
  svc.resourceVersion = std::move(meta.resourceVersion);
  svc.where = r.where();

  SVCR_ASSIGN_OR_RETURN(Field spec, r.map(root["spec"]));
  SVCR_ASSIGN_OR_RETURN(
      auto type, r.oneOf(spec["type"], {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}));
  svc.type = static_cast<ServiceType>(type.value_or(0));
  if (svc.type == ServiceType::kExternalName) {  // a DNS alias, never proxied
    SVCR_ASSIGN_OR_RETURN(svc.externalName, readExternalName(r, spec["externalName"]));
    return svc;
  }

  SVCR_RETURN_IF_ERROR(readClusterIPs(r, spec, svc));
  SVCR_RETURN_IF_ERROR(readServicePorts(r, spec, svc, warnings));

  SVCR_ASSIGN_OR_RETURN(auto affinity, r.oneOf(spec["sessionAffinity"], {"None", "ClientIP"}));
  svc.affinityClientIP = affinity == 1;
  SVCR_ASSIGN_OR_RETURN(Field sac, r.map(spec["sessionAffinityConfig"]));
  SVCR_ASSIGN_OR_RETURN(Field clientIP, r.map(sac["clientIP"]));
  SVCR_ASSIGN_OR_RETURN(auto timeout, r.integer(clientIP["timeoutSeconds"], 1, 86400));
  svc.affinityTimeoutSec = static_cast<uint32_t>(timeout.value_or(10800));

  SVCR_ASSIGN_OR_RETURN(auto internal,
                        r.oneOf(spec["internalTrafficPolicy"], {"Cluster", "Local"}));
  svc.internalTrafficPolicy = internal == 1 ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  SVCR_ASSIGN_OR_RETURN(auto external,
                        r.oneOf(spec["externalTrafficPolicy"], {"Cluster", "Local"}));
  svc.externalTrafficPolicy = external == 1 ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
  SVCR_ASSIGN_OR_RETURN(auto healthPort, r.integer(spec["healthCheckNodePort"], 1, 65535));
  svc.healthCheckNodePort = static_cast<uint16_t>(healthPort.value_or(0));
  // Any value: it guides the EndpointSlice controller's hints, which are
  // what the datapath follows (as kube-proxy's topology.go does).
  SVCR_ASSIGN_OR_RETURN(auto distribution, r.string(spec["trafficDistribution"]));
  svc.trafficDistribution = distribution.value_or("");
  SVCR_RETURN_IF_ERROR(readExternalAddresses(r, root, spec, svc));
  return svc;
}

// ---- EndpointSlice ----

// hints.forZones or hints.forNodes: a list of {name: ...}.
Result<std::vector<std::string>> readHintNames(const Reader& r, const Field& f) {
  std::vector<std::string> names;
  SVCR_ASSIGN_OR_RETURN(auto items, r.list(f));
  for (const Field& item : items) {
    SVCR_ASSIGN_OR_RETURN(Field hint, r.map(item));
    SVCR_ASSIGN_OR_RETURN(std::string name, r.requiredString(hint["name"]));
    names.push_back(std::move(name));
  }
  return names;
}

Result<Endpoint> readEndpoint(const Reader& r, const Field& ef, AddressType type) {
  Endpoint ep;
  SVCR_ASSIGN_OR_RETURN(auto addrs, r.list(ef["addresses"]));
  if (addrs.empty()) return r.fail(ef["addresses"], "must have at least one address");
  for (const Field& af : addrs) {
    SVCR_ASSIGN_OR_RETURN(std::string text, r.requiredString(af));
    if (type == AddressType::kFQDN) continue;  // names are not resolved; the slice is ignored
    std::string_view want = type == AddressType::kIPv4 ? "IPv4" : "IPv6";
    auto ip = IpAddr::parse(text);
    if (!ip) return r.fail(af, quote(text) + " is not an " + std::string(want) + " address");
    if (ip->isV4() != (type == AddressType::kIPv4)) {
      return r.fail(af, text + " is an " + familyName(*ip) + " address in an " + std::string(want) +
                            " slice");
    }
    ep.addresses.push_back(*ip);
  }
  SVCR_ASSIGN_OR_RETURN(Field cond, r.map(ef["conditions"]));
  SVCR_ASSIGN_OR_RETURN(ep.conditions.ready, r.boolean(cond["ready"]));
  SVCR_ASSIGN_OR_RETURN(ep.conditions.serving, r.boolean(cond["serving"]));
  SVCR_ASSIGN_OR_RETURN(ep.conditions.terminating, r.boolean(cond["terminating"]));
  SVCR_ASSIGN_OR_RETURN(auto node, r.string(ef["nodeName"]));
  ep.nodeName = node.value_or("");
  SVCR_ASSIGN_OR_RETURN(auto zone, r.string(ef["zone"]));
  ep.zone = zone.value_or("");
  SVCR_ASSIGN_OR_RETURN(auto hostname, r.string(ef["hostname"]));
  ep.hostname = hostname.value_or("");
  if (!ep.hostname.empty() && !isDns1123Label(ep.hostname))
    return r.fail(ef["hostname"], quote(ep.hostname) + " is not a DNS-1123 label");
  SVCR_ASSIGN_OR_RETURN(Field hints, r.map(ef["hints"]));
  SVCR_ASSIGN_OR_RETURN(ep.hintZones, readHintNames(r, hints["forZones"]));
  SVCR_ASSIGN_OR_RETURN(ep.hintNodes, readHintNames(r, hints["forNodes"]));
  return ep;
}

Result<EndpointSlice> parseSlice(Reader& r, const Field& root, const std::string& apiVersion,
                                 std::vector<std::string>& warnings) {
  SVCR_ASSIGN_OR_RETURN(Meta meta, readMeta(r, root, "EndpointSlice"));
  SVCR_RETURN_IF_ERROR(
      checkApiVersion(r, root["apiVersion"], apiVersion, "EndpointSlice", kDiscoveryV1));
  EndpointSlice slice;
  slice.ns = meta.ns;
  slice.name = meta.name;
  slice.labels = std::move(meta.labels);
  if (auto it = slice.labels.find(std::string(kServiceNameLabel)); it != slice.labels.end()) {
    slice.serviceName = it->second;
  }
  if (auto it = meta.annotations.find(std::string(kLastChangeTriggerTime));
      it != meta.annotations.end()) {
    slice.lastChangeTriggerTime = it->second;
  }
  slice.resourceVersion = std::move(meta.resourceVersion);
  slice.where = r.where();

  Field typeField = root["addressType"];
  SVCR_ASSIGN_OR_RETURN(auto type, r.oneOf(typeField, {"IPv4", "IPv6", "FQDN"}));
  if (!type) return r.fail(typeField, "required");
  slice.addressType = static_cast<AddressType>(*type);

  SVCR_ASSIGN_OR_RETURN(auto endpoints, r.list(root["endpoints"]));
  slice.endpoints.reserve(endpoints.size());  // kept for long: no spare capacity
  for (const Field& item : endpoints) {
    SVCR_ASSIGN_OR_RETURN(Field ef, r.map(item));
    SVCR_ASSIGN_OR_RETURN(Endpoint ep, readEndpoint(r, ef, slice.addressType));
    slice.endpoints.push_back(std::move(ep));
  }

  SVCR_ASSIGN_OR_RETURN(auto ports, r.list(root["ports"]));
  for (const Field& item : ports) {
    SVCR_ASSIGN_OR_RETURN(Field pf, r.map(item));
    SVCR_ASSIGN_OR_RETURN(auto name, r.string(pf["name"]));
    SVCR_ASSIGN_OR_RETURN(int proto, readProtocol(r, pf["protocol"]));
    SVCR_ASSIGN_OR_RETURN(auto port, r.integer(pf["port"], 1, 65535));
    if (proto == IPPROTO_SCTP) {
      warnings.push_back(r.warning(pf, "SCTP is not supported; port skipped"));
      continue;
    }
    EndpointPort p;
    p.name = name.value_or("");
    p.protocol = toProtocol(proto);
    if (port) p.port = static_cast<uint16_t>(*port);
    slice.ports.push_back(std::move(p));
  }
  return slice;
}

// ---- Documents and Lists ----

// What a List's items may be; a typed list also supplies missing kind and
// apiVersion, as the API server omits them in ServiceList items.
struct ItemRule {
  std::string_view listKind;  // empty: a top-level document
  std::string_view kind, apiVersion;
};

Result<void> parseObject(const DocNode& node, const std::string& where, const ItemRule& rule,
                         Objects& m) {
  Reader r(where);
  Field root{node, ""};
  if (!node.isMap()) {
    return r.fail(root, "must be a map (a Kubernetes object), not " + std::string(node.typeName()));
  }
  SVCR_ASSIGN_OR_RETURN(auto kindOpt, r.string(root["kind"]));
  SVCR_ASSIGN_OR_RETURN(auto apiOpt, r.string(root["apiVersion"]));
  if (!kindOpt && rule.kind.empty()) return r.fail(root["kind"], "required");
  std::string kind = kindOpt.value_or(std::string(rule.kind));
  if (!apiOpt && rule.apiVersion.empty()) return r.fail(root["apiVersion"], "required");
  std::string apiVersion = apiOpt.value_or(std::string(rule.apiVersion));

  bool topLevel = rule.listKind.empty();
  if (!rule.kind.empty() && kind != rule.kind) {
    return r.fail(root["kind"], quote(kind) + " in a " + std::string(rule.listKind));
  }
  if (kind == "Service") {
    SVCR_ASSIGN_OR_RETURN(Service s, parseService(r, root, apiVersion, m.warnings));
    m.services.push_back(std::move(s));
    return {};
  }
  if (kind == "EndpointSlice") {
    SVCR_ASSIGN_OR_RETURN(EndpointSlice s, parseSlice(r, root, apiVersion, m.warnings));
    m.slices.push_back(std::move(s));
    return {};
  }
  if (!topLevel || (kind != "List" && kind != "ServiceList" && kind != "EndpointSliceList")) {
    return r.fail(root["kind"], quote(kind) + " is not Service, EndpointSlice" +
                                    (topLevel ? ", List, ServiceList or EndpointSliceList"
                                              : " (Lists do not nest)"));
  }

  // A List has no name, so its own messages name only the document.
  ItemRule items{kind, "", ""};
  if (kind == "ServiceList") items = {kind, "Service", kCoreV1};
  if (kind == "EndpointSliceList") items = {kind, "EndpointSlice", kDiscoveryV1};
  std::string_view want = kind == "EndpointSliceList" ? kDiscoveryV1 : kCoreV1;
  SVCR_RETURN_IF_ERROR(checkApiVersion(r, root["apiVersion"], apiVersion, kind, want));
  SVCR_ASSIGN_OR_RETURN(auto list, r.list(root["items"]));
  for (size_t i = 0; i < list.size(); ++i) {
    SVCR_RETURN_IF_ERROR(
        parseObject(list[i].node, where + ", items[" + std::to_string(i) + "]", items, m));
  }
  return {};
}

}  // namespace

Result<void> readObject(const DocNode& node, const std::string& where, Objects& out,
                        const ObjectDefaults& defaults) {
  ItemRule rule;
  if (!defaults.kind.empty()) rule = {defaults.kind, defaults.kind, defaults.apiVersion};
  return parseObject(node, where, rule, out);
}

Result<Node> readNode(const DocNode& node, const std::string& where) {
  Reader r(where);
  Field root{node, ""};
  if (!node.isMap()) {
    return r.fail(root, "must be a map (a Kubernetes object), not " + std::string(node.typeName()));
  }
  SVCR_ASSIGN_OR_RETURN(Meta meta, readMeta(r, root, "Node"));
  Node n;
  n.name = std::move(meta.name);
  n.labels = std::move(meta.labels);
  n.resourceVersion = std::move(meta.resourceVersion);
  n.deleting = root["metadata"]["deletionTimestamp"].present();
  return n;
}

}  // namespace svcrouter
