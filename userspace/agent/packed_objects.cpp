#include "userspace/agent/packed_objects.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

namespace svcrouter {
namespace {

// The encoding: unsigned numbers as LEB128 varints; a string as its length
// and its bytes; an address as 4 bytes (IPv4) or 16 after a tag; a
// sequence as its count and its items. Each object starts with the fields
// that find it (namespace, name, and a slice's Service), so that they are
// read without unpacking the rest.
class Writer {
 public:
  void number(uint64_t n) {
    do {
      uint8_t byte = n & 0x7f;
      n >>= 7;
      out_.push_back(static_cast<char>(byte | (n ? 0x80 : 0)));
    } while (n);
  }
  void text(std::string_view s) {
    number(s.size());
    out_.append(s);
  }
  void flag(bool b) { number(b ? 1 : 0); }
  // nullopt, false, true: 0, 1, 2.
  void maybe(const std::optional<bool>& b) { number(b ? 1 + (*b ? 1 : 0) : 0); }
  void addr(const IpAddr& a) {
    const auto& bytes = a.bytes();
    if (a.isV4()) {
      number(4);
      out_.append(reinterpret_cast<const char*>(bytes.data()) + 12, 4);
    } else {
      number(16);
      out_.append(reinterpret_cast<const char*>(bytes.data()), 16);
    }
  }
  void addrs(const std::vector<IpAddr>& v) {
    number(v.size());
    for (const auto& a : v) addr(a);
  }
  void texts(const std::vector<std::string>& v) {
    number(v.size());
    for (const auto& s : v) text(s);
  }
  void labels(const std::map<std::string, std::string>& m) {
    number(m.size());
    for (const auto& [k, v] : m) {
      text(k);
      text(v);
    }
  }
  // The bytes, in an allocation of their size: they are kept.
  std::string done() {
    out_.shrink_to_fit();
    return std::move(out_);
  }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint64_t number() {
    uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
      auto byte = static_cast<uint8_t>(in_[at_++]);
      n |= uint64_t{byte & 0x7fu} << shift;
      if (!(byte & 0x80)) return n;
    }
  }
  std::string_view text() {
    size_t n = number();
    std::string_view s = in_.substr(at_, n);
    at_ += n;
    return s;
  }
  std::string string() { return std::string(text()); }
  bool flag() { return number() != 0; }
  std::optional<bool> maybe() {
    uint64_t v = number();
    if (v == 0) return std::nullopt;
    return v == 2;
  }
  IpAddr addr() {
    size_t n = number();
    std::array<uint8_t, 16> b{};
    if (n == 4) {
      b[10] = b[11] = 0xff;  // ::ffff:a.b.c.d, as IpAddr keeps IPv4
      std::memcpy(b.data() + 12, in_.data() + at_, 4);
    } else {
      std::memcpy(b.data(), in_.data() + at_, 16);
    }
    at_ += n;
    return IpAddr::fromBytes(b);
  }
  std::vector<IpAddr> addrs() {
    std::vector<IpAddr> v(number());
    for (auto& a : v) a = addr();
    return v;
  }
  std::vector<std::string> texts() {
    std::vector<std::string> v(number());
    for (auto& s : v) s = string();
    return v;
  }
  std::map<std::string, std::string> labels() {
    std::map<std::string, std::string> m;
    for (size_t n = number(); n > 0; --n) {
      std::string k = string();
      m.emplace(std::move(k), string());
    }
    return m;
  }
  template <class Enum>
  Enum as() {
    return static_cast<Enum>(number());
  }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

// The names an EndpointSlice's endpoints repeat (nodes, zones, hints), each
// once; an endpoint refers to one by its index + 1 (0: empty).
class Names {
 public:
  uint64_t of(const std::string& s) {
    if (s.empty()) return 0;
    auto [it, added] = index_.try_emplace(s, names_.size() + 1);
    if (added) names_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& all() const { return names_; }

 private:
  std::map<std::string, uint64_t> index_;
  std::vector<std::string> names_;
};

// A field added to these structs must be packed and unpacked below (and
// compared in tests/unit/packed_objects_test.cpp).
static_assert(sizeof(Service) == 392 && sizeof(ServicePort) == 48,
              "Service changed: pack the new field");
static_assert(sizeof(EndpointSlice) == 296 && sizeof(Endpoint) == 176 &&
                  sizeof(EndpointPort) == 40,
              "EndpointSlice changed: pack the new field");

}  // namespace

PackedService::PackedService(const Service& s) {
  Writer w;
  w.text(s.ns);
  w.text(s.name);
  w.labels(s.labels);
  w.number(static_cast<uint64_t>(s.type));
  w.flag(s.headless);
  w.addrs(s.clusterIPs);
  w.text(s.externalName);
  w.number(s.ports.size());
  for (const auto& p : s.ports) {
    w.text(p.name);
    w.number(static_cast<uint64_t>(p.protocol));
    w.number(p.port);
    w.number(p.nodePort);
    w.number(p.specIndex);
  }
  w.addrs(s.externalIPs);
  w.addrs(s.loadBalancerIPs);
  w.number(s.loadBalancerSourceRanges.size());
  for (const auto& r : s.loadBalancerSourceRanges) {
    w.addr(r.addr);
    w.number(r.prefix);
  }
  w.flag(s.affinityClientIP);
  w.number(s.affinityTimeoutSec);
  w.number(static_cast<uint64_t>(s.internalTrafficPolicy));
  w.number(static_cast<uint64_t>(s.externalTrafficPolicy));
  w.number(s.healthCheckNodePort);
  w.text(s.trafficDistribution);
  w.text(s.resourceVersion);
  w.text(s.where);
  bytes_ = w.done();
}

Service PackedService::unpack() const {
  Reader r(bytes_);
  Service s;
  s.ns = r.string();
  s.name = r.string();
  s.labels = r.labels();
  s.type = r.as<ServiceType>();
  s.headless = r.flag();
  s.clusterIPs = r.addrs();
  s.externalName = r.string();
  s.ports.resize(r.number());
  for (auto& p : s.ports) {
    p.name = r.string();
    p.protocol = r.as<Protocol>();
    p.port = static_cast<uint16_t>(r.number());
    p.nodePort = static_cast<uint16_t>(r.number());
    p.specIndex = r.number();
  }
  s.externalIPs = r.addrs();
  s.loadBalancerIPs = r.addrs();
  s.loadBalancerSourceRanges.resize(r.number());
  for (auto& range : s.loadBalancerSourceRanges) {
    range.addr = r.addr();
    range.prefix = static_cast<uint8_t>(r.number());
  }
  s.affinityClientIP = r.flag();
  s.affinityTimeoutSec = static_cast<uint32_t>(r.number());
  s.internalTrafficPolicy = r.as<TrafficPolicy>();
  s.externalTrafficPolicy = r.as<TrafficPolicy>();
  s.healthCheckNodePort = static_cast<uint16_t>(r.number());
  s.trafficDistribution = r.string();
  s.resourceVersion = r.string();
  s.where = r.string();
  return s;
}

PackedSlice::PackedSlice(const EndpointSlice& s) {
  Writer w;
  w.text(s.ns);
  w.text(s.name);
  w.text(s.serviceName);
  w.labels(s.labels);
  w.number(static_cast<uint64_t>(s.addressType));
  Names names;
  std::vector<std::array<uint64_t, 2>> where;  // each endpoint's node and zone
  std::vector<std::vector<uint64_t>> hints;    // each endpoint's zones, then nodes
  for (const auto& e : s.endpoints) {
    where.push_back({names.of(e.nodeName), names.of(e.zone)});
    std::vector<uint64_t> h;
    for (const auto& z : e.hintZones) h.push_back(names.of(z));
    for (const auto& n : e.hintNodes) h.push_back(names.of(n));
    hints.push_back(std::move(h));
  }
  w.texts(names.all());
  w.number(s.endpoints.size());
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    const Endpoint& e = s.endpoints[i];
    w.addrs(e.addresses);
    w.maybe(e.conditions.ready);
    w.maybe(e.conditions.serving);
    w.maybe(e.conditions.terminating);
    w.number(where[i][0]);
    w.number(where[i][1]);
    w.text(e.hostname);
    w.number(e.hintZones.size());
    w.number(e.hintNodes.size());
    for (uint64_t n : hints[i]) w.number(n);
  }
  w.number(s.ports.size());
  for (const auto& p : s.ports) {
    w.text(p.name);
    w.number(static_cast<uint64_t>(p.protocol));
    w.number(p.port ? *p.port + 1u : 0);  // 0: no number
  }
  w.text(s.lastChangeTriggerTime);
  w.text(s.resourceVersion);
  w.text(s.where);
  bytes_ = w.done();
}

EndpointSlice PackedSlice::unpack() const {
  Reader r(bytes_);
  EndpointSlice s;
  s.ns = r.string();
  s.name = r.string();
  s.serviceName = r.string();
  s.labels = r.labels();
  s.addressType = r.as<AddressType>();
  std::vector<std::string> names = r.texts();
  auto name = [&](uint64_t i) { return i ? names[i - 1] : std::string(); };
  s.endpoints.resize(r.number());
  for (auto& e : s.endpoints) {
    e.addresses = r.addrs();
    e.conditions.ready = r.maybe();
    e.conditions.serving = r.maybe();
    e.conditions.terminating = r.maybe();
    e.nodeName = name(r.number());
    e.zone = name(r.number());
    e.hostname = r.string();
    e.hintZones.resize(r.number());
    e.hintNodes.resize(r.number());
    for (auto& z : e.hintZones) z = name(r.number());
    for (auto& n : e.hintNodes) n = name(r.number());
  }
  s.ports.resize(r.number());
  for (auto& p : s.ports) {
    p.name = r.string();
    p.protocol = r.as<Protocol>();
    if (uint64_t port = r.number()) p.port = static_cast<uint16_t>(port - 1);
  }
  s.lastChangeTriggerTime = r.string();
  s.resourceVersion = r.string();
  s.where = r.string();
  return s;
}

std::string_view PackedSlice::ns() const { return Reader(bytes_).text(); }

std::string_view PackedSlice::serviceName() const {
  Reader r(bytes_);
  r.text();
  r.text();
  return r.text();
}

}  // namespace svcrouter
