#include "userspace/cli/report.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "maps/bpf_map.h"
#include "maps/layout/service.h"

namespace svcrouter {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;

std::vector<std::string> reasonNames(uint8_t reason) {
  std::vector<std::string> out;
  if (reason & SVCR_REASON_READY) out.push_back("ready");
  if (reason & SVCR_REASON_TERMINATING) out.push_back("terminating-fallback");
  if (reason & SVCR_REASON_LOCAL) out.push_back("local");
  if (reason & SVCR_REASON_TOPOLOGY) out.push_back("topology");
  return out;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ",") + p;
  return s;
}

std::string policyName(TrafficPolicy p) { return p == TrafficPolicy::kLocal ? "Local" : "Cluster"; }

nlohmann::json identity(const ServiceView& v) {
  return {{"namespace", v.meta.ns},
          {"name", v.meta.name},
          {"port_name", v.meta.portName},
          {"vip", v.key.vip.str()},
          {"port", v.key.port},
          {"protocol", protocolName(v.key.protocol)},
          {"scope", scopeName(v.key.scope)}};
}

nlohmann::json backendIdentity(const BackendView& b) {
  return {{"ip", b.addr.addr.str()}, {"port", b.addr.port}};
}

// Rows of cells as a table: each column as wide as its widest cell.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

IpAddr ipOf(const svcr_addr& a) {
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), a.w, sizeof(a.w));
  return IpAddr::fromBytes(bytes);
}

// An address and a port of svcr_ct (network byte order).
BackendAddr endpointOf(const svcr_addr& a, uint16_t port, Protocol protocol) {
  return {ipOf(a), ntohs(port), protocol};
}

bool sameAddr(const svcr_addr& a, const svcr_addr& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

uint64_t secondsSince(uint64_t thenNs, uint64_t nowNs) {
  return nowNs > thenNs ? (nowNs - thenNs) / kNsPerSec : 0;
}

// The entry of a flow's packets from its client: a pure DNAT,
// client:cport -> frontend:fport becomes client:cport -> backend:bport.
// (The SNAT entry keeps the destination and changes the source; replies
// carry SVCR_CT_F_REPLY.)
bool isClientEntry(const svcr_ct_key& k, const svcr_ct_entry& e) {
  return !(e.flags & SVCR_CT_F_REPLY) && sameAddr(e.saddr, k.saddr) && e.sport == k.sport &&
         (!sameAddr(e.daddr, k.daddr) || e.dport != k.dport);
}

const svcr_ct_entry* findEntry(const maps::ConntrackEntries& entries, const svcr_addr& saddr,
                               uint16_t sport, const svcr_addr& daddr, uint16_t dport,
                               uint8_t proto) {
  svcr_ct_key key{};
  key.saddr = saddr;
  key.sport = sport;
  key.daddr = daddr;
  key.dport = dport;
  key.proto = proto;
  auto it = entries.find(key);
  return it == entries.end() ? nullptr : &it->second;
}

std::string flowState(uint32_t flags, uint8_t proto) {
  if (proto != IPPROTO_TCP) return "udp";
  if (flags & SVCR_CT_F_CLOSING) return "closing";
  if (flags & SVCR_CT_F_ESTABLISHED) return "established";
  return "syn";
}

}  // namespace

Result<std::vector<ServiceView>> collectViews(const maps::Table& table) {
  SVCR_ASSIGN_OR_RETURN(auto state, table.read());
  std::vector<ServiceView> views;
  for (const auto& [key, svc] : state.services) {
    ServiceView v{key, svc.meta, svc.entry, {}, {}};
    SVCR_ASSIGN_OR_RETURN(v.counters, table.serviceCounters(svc.entry.id));
    for (uint32_t id : svc.slots) {
      BackendView b{id, state.backends[id]};
      if (auto it = svc.members.find(id); it != svc.members.end()) b.reason = it->second;
      SVCR_ASSIGN_OR_RETURN(auto counters, table.backendCounters(id));
      b.connections = counters.connections;
      b.packets = counters.packets;
      b.bytes = counters.bytes;
      v.backends.push_back(b);
    }
    views.push_back(std::move(v));
  }
  std::ranges::sort(views, [](const ServiceView& a, const ServiceView& b) {
    return std::tie(a.meta.ns, a.meta.name, a.key) < std::tie(b.meta.ns, b.meta.name, b.key);
  });
  return views;
}

std::string listText(const std::vector<ServiceView>& views) {
  std::ostringstream out;
  if (views.empty()) out << "no services\n";
  for (const auto& v : views) {
    out << describe(v.meta) << "  " << describe(v.key) << "  policy=" << policyName(v.meta.policy)
        << " affinity="
        << (v.entry.affinity ? "ClientIP(" + std::to_string(v.entry.affinityTimeoutSec) + "s)"
                             : std::string("None"))
        << "  " << v.backends.size() << " backend" << (v.backends.size() == 1 ? "" : "s");
    if (v.backends.empty()) out << " (connections refused)";
    out << "\n";
    for (const auto& b : v.backends)
      out << "    " << describe(b.addr) << "  " << joined(reasonNames(b.reason))
          << "  connections=" << b.connections << "\n";
  }
  return out.str();
}

std::vector<FlowView> flowsOf(const maps::ConntrackEntries& entries, uint64_t nowNs) {
  std::vector<FlowView> flows;
  for (const auto& [key, in] : entries) {
    if (!isClientEntry(key, in)) continue;
    if (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP) continue;
    if (svcr_ct_expired(&in, key.proto, nowNs)) continue;
    const Protocol protocol = key.proto == IPPROTO_UDP ? Protocol::kUdp : Protocol::kTcp;
    FlowView f;
    f.client = endpointOf(key.saddr, key.sport, protocol);
    f.frontend = endpointOf(key.daddr, key.dport, protocol);
    f.backend = endpointOf(in.daddr, in.dport, protocol);
    uint32_t flags = in.flags;
    uint64_t lastSeen = in.last_seen_ns;
    auto seen = [&](const svcr_ct_entry& e) {
      flags |= e.flags;
      lastSeen = std::max<uint64_t>(lastSeen, e.last_seen_ns);
    };
    // The reply: backend -> client becomes frontend -> client.
    if (auto* r = findEntry(entries, in.daddr, in.dport, key.saddr, key.sport, key.proto);
        r && (r->flags & SVCR_CT_F_REPLY) && sameAddr(r->saddr, key.daddr) && r->sport == key.dport)
      seen(*r);
    // SNAT: client -> backend becomes node:nport -> backend on the way out,
    // and backend -> node:nport becomes backend -> client on the way in.
    if (auto* s = findEntry(entries, key.saddr, key.sport, in.daddr, in.dport, key.proto);
        s && !(s->flags & SVCR_CT_F_REPLY) && sameAddr(s->daddr, in.daddr) &&
        s->dport == in.dport) {
      f.snat = endpointOf(s->saddr, s->sport, protocol);
      seen(*s);
      if (auto* sr = findEntry(entries, in.daddr, in.dport, s->saddr, s->sport, key.proto);
          sr && (sr->flags & SVCR_CT_F_REPLY))
        seen(*sr);
    }
    f.state = flowState(flags, key.proto);
    f.ageSeconds = secondsSince(in.created_ns, nowNs);
    f.idleSeconds = secondsSince(lastSeen, nowNs);
    flows.push_back(std::move(f));
  }
  std::ranges::sort(flows, [](const FlowView& a, const FlowView& b) {
    return std::tie(a.frontend, a.client, a.backend) < std::tie(b.frontend, b.client, b.backend);
  });
  return flows;
}

std::string conntrackText(const std::vector<FlowView>& flows) {
  if (flows.empty()) return "no flows\n";
  std::vector<std::vector<std::string>> rows = {
      {"CLIENT", "FRONTEND", "BACKEND", "PROTO", "STATE", "AGE", "IDLE", "SNAT"}};
  for (const auto& f : flows)
    rows.push_back({describe(f.client), describe(f.frontend), describe(f.backend),
                    std::string(protocolName(f.client.protocol)), f.state,
                    std::to_string(f.ageSeconds) + "s", std::to_string(f.idleSeconds) + "s",
                    f.snat ? describe(*f.snat) : "-"});
  return aligned(rows);
}

nlohmann::json conntrackJson(const std::vector<FlowView>& flows) {
  auto out = nlohmann::json::array();
  for (const auto& f : flows)
    out.push_back({{"client", describe(f.client)},
                   {"frontend", describe(f.frontend)},
                   {"backend", describe(f.backend)},
                   {"protocol", protocolName(f.client.protocol)},
                   {"state", f.state},
                   {"age_seconds", f.ageSeconds},
                   {"idle_seconds", f.idleSeconds},
                   {"snat", f.snat ? nlohmann::json(describe(*f.snat)) : nlohmann::json(nullptr)}});
  return {{"flows", out}};
}

Result<std::optional<PacketPathView>> collectPacketPath(const std::string& pinDir) {
  SVCR_ASSIGN_OR_RETURN(auto ct, maps::ConntrackMap::pinned(pinDir));
  SVCR_ASSIGN_OR_RETURN(auto stats,
                        maps::openPinnedMap(pinDir, "svcr_tc_stats", BPF_MAP_TYPE_PERCPU_ARRAY,
                                            sizeof(uint32_t), sizeof(svcr_tc_stats)));
  if (!ct || !stats) return std::nullopt;
  SVCR_ASSIGN_OR_RETURN(auto entries, ct->entries());
  // The kernel copies each CPU's value into an 8-byte aligned stride: here
  // the value's own size.
  static_assert(sizeof(svcr_tc_stats) % 8 == 0);
  std::vector<svcr_tc_stats> perCpu(maps::possibleCpus());
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(stats->fd.get(), &zero, perCpu.data()) != 0)
    return fail("look up " + stats->path, errno);
  PacketPathView v;
  for (const auto& c : perCpu) {
    v.counters.new_flows += c.new_flows;
    v.counters.refused += c.refused;
    v.counters.snat_failed += c.snat_failed;
    v.counters.translated += c.translated;
    v.counters.expired += c.expired;
    v.counters.ct_full += c.ct_full;
    v.counters.denied += c.denied;
    v.counters.no_local += c.no_local;
    v.counters.icmp += c.icmp;
  }
  v.conntrackEntries = entries.size();
  v.conntrackMax = ct->maxEntries();
  return v;
}

std::string statsText(const std::vector<ServiceView>& views,
                      const std::optional<PacketPathView>& packetPath) {
  std::ostringstream out;
  char line[320];
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  snprintf(line, sizeof(line), "%-40s %-28s %12s %10s %12s %14s\n", "SERVICE", "ADDRESS",
           "CONNECTIONS", "REFUSED", "PACKETS", "BYTES");
  out << line;
  for (const auto& v : views) {
    const auto& c = v.counters;
    snprintf(line, sizeof(line), "%-40s %-28s %12llu %10llu %12llu %14llu\n",
             describe(v.meta).c_str(), describe(v.key).c_str(), n(c.connections), n(c.refused),
             n(c.packets), n(c.bytes));
    out << line;
    for (const auto& b : v.backends) {
      snprintf(line, sizeof(line), "  %-38s %-28s %12llu %10s %12llu %14llu\n", "",
               describe(b.addr).c_str(), n(b.connections), "", n(b.packets), n(b.bytes));
      out << line;
    }
  }
  out << "\npacket path: ";
  if (!packetPath) return out.str() + "not loaded\n";
  const auto& c = packetPath->counters;
  out << "new_flows=" << c.new_flows << " refused=" << c.refused << " snat_failed=" << c.snat_failed
      << " translated=" << c.translated << " expired=" << c.expired << " icmp=" << c.icmp
      << " denied=" << c.denied << " no_local=" << c.no_local << " conntrack_full=" << c.ct_full
      << " conntrack_entries=" << packetPath->conntrackEntries << "/" << packetPath->conntrackMax
      << "\n";
  return out.str();
}

Result<std::optional<svcr_sock_term_stats>> collectSockTerm(const std::string& pinDir) {
  SVCR_ASSIGN_OR_RETURN(
      auto map, maps::openPinnedMap(pinDir, "svcr_sock_term", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
                                    sizeof(svcr_sock_term_stats)));
  if (!map) return std::nullopt;
  svcr_sock_term_stats s{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(map->fd.get(), &zero, &s) != 0)
    return fail("look up " + map->path, errno);
  return s;
}

std::string sockTermText(const std::optional<svcr_sock_term_stats>& s) {
  if (!s) return "udp sockets of removed backends: not counted (re-apply to pin the counters)\n";
  std::ostringstream out;
  out << "udp sockets of removed backends: closed=" << s->closed << " failed=" << s->failed
      << " translated_seen=" << s->sockets << " passes=" << s->passes
      << " netns_skipped=" << s->skipped_netns << "\n";
  return out.str();
}

nlohmann::json sockTermJson(const std::optional<svcr_sock_term_stats>& s) {
  if (!s) return nullptr;
  return {{"closed", s->closed},
          {"failed", s->failed},
          {"translated_seen", s->sockets},
          {"passes", s->passes},
          {"netns_skipped", s->skipped_netns}};
}

nlohmann::json listJson(const std::vector<ServiceView>& views) {
  auto services = nlohmann::json::array();
  for (const auto& v : views) {
    auto s = identity(v);
    s["internal_traffic_policy"] = policyName(v.meta.policy);
    s["session_affinity"] = v.entry.affinity ? "ClientIP" : "None";
    if (v.entry.affinity) s["affinity_timeout_seconds"] = v.entry.affinityTimeoutSec;
    auto backends = nlohmann::json::array();
    for (const auto& b : v.backends) {
      auto j = backendIdentity(b);
      j["reason"] = reasonNames(b.reason);
      j["connections"] = b.connections;
      backends.push_back(j);
    }
    s["backends"] = backends;
    services.push_back(s);
  }
  return {{"services", services}};
}

nlohmann::json statsJson(const std::vector<ServiceView>& views,
                         const std::optional<PacketPathView>& packetPath) {
  auto services = nlohmann::json::array();
  for (const auto& v : views) {
    auto s = identity(v);
    s["connections"] = v.counters.connections;
    s["refused"] = v.counters.refused;
    s["packets"] = v.counters.packets;
    s["bytes"] = v.counters.bytes;
    auto backends = nlohmann::json::array();
    for (const auto& b : v.backends) {
      auto j = backendIdentity(b);
      j["connections"] = b.connections;
      j["packets"] = b.packets;
      j["bytes"] = b.bytes;
      backends.push_back(j);
    }
    s["backends"] = backends;
    services.push_back(s);
  }
  nlohmann::json packet = nullptr;
  if (packetPath) {
    const auto& c = packetPath->counters;
    packet = {{"new_flows", c.new_flows},
              {"refused", c.refused},
              {"snat_failed", c.snat_failed},
              {"translated", c.translated},
              {"expired", c.expired},
              {"icmp", c.icmp},
              {"denied", c.denied},
              {"no_local", c.no_local},
              {"conntrack_full", c.ct_full},
              {"conntrack_entries", packetPath->conntrackEntries},
              {"conntrack_max", packetPath->conntrackMax}};
  }
  return {{"services", services}, {"packet_path", packet}};
}

namespace {

enum class MapGroup { kService, kBackend, kConnection, kOther };

MapGroup groupOf(const std::string& name) {
  static const std::map<std::string, MapGroup> groups = {
      {"svcr_services", MapGroup::kService},   {"svcr_vips", MapGroup::kService},
      {"svcr_rr", MapGroup::kService},         {"svcr_svc_stats", MapGroup::kService},
      {"svcr_svc_meta", MapGroup::kService},   {"svcr_src_ranges", MapGroup::kService},
      {"svcr_backends", MapGroup::kBackend},   {"svcr_be_stats", MapGroup::kBackend},
      {"svcr_slots", MapGroup::kBackend},      {"svcr_members", MapGroup::kBackend},
      {"svcr_sock_rev", MapGroup::kConnection}, {"svcr_sock_fwd", MapGroup::kConnection},
      {"svcr_affinity", MapGroup::kConnection}, {"svcr_ct", MapGroup::kConnection},
  };
  auto it = groups.find(name);
  return it == groups.end() ? MapGroup::kOther : it->second;
}

// Bytes per unit, or null when there are no units.
nlohmann::json perUnit(uint64_t bytes, uint64_t units) {
  if (units == 0) return nullptr;
  return static_cast<double>(bytes) / static_cast<double>(units);
}

std::string mib(uint64_t bytes) {
  char text[32];
  snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

}  // namespace

Result<MapsStatus> collectMapsStatus(const std::string& pinDir, const maps::Table& table) {
  MapsStatus out;
  SVCR_ASSIGN_OR_RETURN(out.maps, loader::pinnedMapUsage(pinDir));
  SVCR_ASSIGN_OR_RETURN(auto state, table.view());
  out.serviceEntries = state->services.size();
  out.backends = state->backends.size();
  uint64_t slots = 0;
  for (const auto& [key, svc] : state->services) slots += svc.entry.count;
  for (auto& m : out.maps) {
    // Arrays have every index: say how many are in use.
    if (m.name == "svcr_rr" || m.name == "svcr_svc_stats") m.entries = out.serviceEntries;
    if (m.name == "svcr_be_stats") m.entries = out.backends;
    if (m.name == "svcr_slots") m.entries = slots;
    if (m.name == "svcr_ports") m.entries = state->portMarks.size();
    switch (groupOf(m.name)) {
      case MapGroup::kService: out.serviceBytes += m.memoryBytes; break;
      case MapGroup::kBackend: out.backendBytes += m.memoryBytes; break;
      case MapGroup::kConnection: out.connectionBytes += m.memoryBytes; break;
      case MapGroup::kOther: out.otherBytes += m.memoryBytes; break;
    }
  }
  return out;
}

std::string statusText(const loader::KernelFeatures& kernel, const std::string& pinDir,
                       const std::string& cgroup,
                       const std::vector<loader::AttachedProgram>& programs,
                       const std::optional<MapsStatus>& maps) {
  std::ostringstream out;
  out << "kernel " << kernel.release
      << "\n\nfeatures (probed; off ones change behaviour as said):\n";
  char line[256];
  for (const auto& f : kernel.features) {
    snprintf(line, sizeof(line), "  %-13s %-4s %s%s\n", f.name.c_str(), f.on ? "on" : "off",
             f.what.c_str(),
             f.required ? " [required]"
             : f.used   ? ""
                        : " [not used yet]");
    out << line;
    if (!f.on) {
      out << "                     " << f.reason << "\n";
      if (f.used) out << "                     so: " << f.ifOff << "\n";
    }
  }
  out << "\ndatapath: ";
  if (programs.empty()) {
    out << "not loaded (nothing pinned under " << pinDir << ")\n";
    return out.str();
  }
  out << programs.size() << " programs attached to " << (cgroup.empty() ? "?" : cgroup)
      << ", pinned under " << pinDir << "\n";
  for (const auto& p : programs) out << "  " << p.name << " (prog id " << p.progId << ")\n";
  if (!maps) return out.str();
  out << "\nmaps (entries in use / size, the kernel's account of their memory):\n";
  for (const auto& m : maps->maps) {
    std::string used = m.entries ? std::to_string(*m.entries) : "-";
    std::string fill;
    if (m.entries && m.maxEntries > 0) {
      snprintf(line, sizeof(line), "%5.1f%%", 100.0 * static_cast<double>(*m.entries) /
                                                 static_cast<double>(m.maxEntries));
      fill = line;
    }
    snprintf(line, sizeof(line), "  %-16s %-12s %10s / %-10u %6s %10s\n", m.name.c_str(),
             m.type.c_str(), used.c_str(), m.maxEntries, fill.c_str(),
             mib(m.memoryBytes).c_str());
    out << line;
  }
  auto each = [](uint64_t bytes, uint64_t units) {
    return units ? " (" + std::to_string(bytes / units) + " B each)" : std::string();
  };
  out << "memory: " << mib(maps->serviceBytes) << " for " << maps->serviceEntries
      << " service entries" << each(maps->serviceBytes, maps->serviceEntries) << ", "
      << mib(maps->backendBytes) << " for " << maps->backends << " backends"
      << each(maps->backendBytes, maps->backends) << ", " << mib(maps->connectionBytes)
      << " for connections (socket translations, affinity, conntrack), "
      << mib(maps->otherBytes) << " other\n";
  return out.str();
}

nlohmann::json statusJson(const loader::KernelFeatures& kernel, const std::string& pinDir,
                          const std::string& cgroup,
                          const std::vector<loader::AttachedProgram>& programs,
                          const std::optional<MapsStatus>& maps) {
  auto features = nlohmann::json::array();
  for (const auto& f : kernel.features)
    features.push_back({{"name", f.name},
                        {"on", f.on},
                        {"used", f.used},
                        {"required", f.required},
                        {"what", f.what},
                        {"reason", f.reason},
                        {"if_off", f.ifOff}});
  auto progs = nlohmann::json::array();
  for (const auto& p : programs) progs.push_back({{"name", p.name}, {"prog_id", p.progId}});
  nlohmann::json datapath = {{"loaded", !programs.empty()},
                             {"pin_dir", pinDir},
                             {"cgroup", cgroup},
                             {"programs", progs}};
  if (maps) {
    auto list = nlohmann::json::array();
    for (const auto& m : maps->maps)
      list.push_back({{"name", m.name},
                      {"type", m.type},
                      {"entries", m.entries ? nlohmann::json(*m.entries) : nlohmann::json()},
                      {"max_entries", m.maxEntries},
                      {"memory_bytes", m.memoryBytes},
                      {"preallocated", m.preallocated}});
    datapath["maps"] = list;
    datapath["memory"] = {
        {"service_entries", maps->serviceEntries},
        {"backends", maps->backends},
        {"service_bytes", maps->serviceBytes},
        {"backend_bytes", maps->backendBytes},
        {"connection_bytes", maps->connectionBytes},
        {"other_bytes", maps->otherBytes},
        {"total_bytes",
         maps->serviceBytes + maps->backendBytes + maps->connectionBytes + maps->otherBytes},
        {"bytes_per_service_entry", perUnit(maps->serviceBytes, maps->serviceEntries)},
        {"bytes_per_backend", perUnit(maps->backendBytes, maps->backends)}};
  }
  return {{"kernel", kernel.release}, {"features", features}, {"datapath", datapath}};
}

namespace {

std::string octal(unsigned mode) {
  char text[8];
  snprintf(text, sizeof(text), "%04o", mode);
  return text;
}

// A pin left readable by others, as a warning.
std::string looseWarning(const loader::LoosePin& p) {
  return p.path + " is " + octal(p.mode) + ", readable by others (" +
         (p.directory ? "0700" : "0600") + " expected): the next apply or run makes it root's";
}

}  // namespace

std::string privilegesText(const loader::Privileges& privileges,
                           const std::vector<loader::LoosePin>& loosePins,
                           const std::vector<ListenerView>& listeners) {
  std::ostringstream out;
  out << "\nprivileges (apply and run need these capabilities):\n";
  for (const auto& n : privileges.needs) {
    char line[320];
    snprintf(line, sizeof(line), "  %-22s %s\n", n.name.c_str(), n.why.c_str());
    out << line;
  }
  std::string held;
  for (const auto& c : privileges.permitted) held += (held.empty() ? "" : " ") + c;
  out << "  this process: uid " << privileges.uid << ", " << privileges.permitted.size()
      << " capabilities" << (held.empty() ? "" : ": " + held) << "\n";
  std::vector<std::string> warnings = privileges.warnings;
  for (const auto& p : loosePins) warnings.push_back(looseWarning(p));
  if (warnings.empty()) out << "  no warning: it holds what it needs and no more\n";
  for (const auto& w : warnings) out << "  warning: " << w << "\n";

  out << "\nlisteners (run, with these options):\n";
  for (const auto& l : listeners) {
    char line[320];
    snprintf(line, sizeof(line), "  %-24s %-30s %s\n", l.name.c_str(),
             l.address.empty() ? "-" : l.address.c_str(),
             l.address.empty() ? ("nowhere (" + l.option + ")").c_str()
             : l.exposed       ? "beyond loopback, deliberately:"
                               : "loopback only");
    out << line;
    if (l.exposed) out << "      " << l.why << "\n";
  }
  return out.str();
}

nlohmann::json privilegesJson(const loader::Privileges& privileges, const std::string& pinDir,
                              const std::vector<loader::LoosePin>& loosePins) {
  auto needs = nlohmann::json::array();
  auto why = nlohmann::json::object();
  for (const auto& n : privileges.needs) {
    needs.push_back(n.name);
    why[n.name] = n.why;
  }
  auto warnings = nlohmann::json(privileges.warnings);
  auto loose = nlohmann::json::array();
  for (const auto& p : loosePins) {
    loose.push_back({{"path", p.path}, {"mode", octal(p.mode)}});
    warnings.push_back(looseWarning(p));
  }
  return {{"needs", needs},
          {"why", why},
          {"has", privileges.permitted},
          {"effective", privileges.effective},
          {"missing", privileges.missing},
          {"extra", privileges.extra},
          {"uid", privileges.uid},
          {"pins", {{"dir", pinDir}, {"private", loosePins.empty()}, {"loose", loose}}},
          {"warnings", warnings}};
}

nlohmann::json listenersJson(const std::vector<ListenerView>& listeners) {
  auto out = nlohmann::json::array();
  for (const auto& l : listeners)
    out.push_back(
        {{"name", l.name},
         {"option", l.option},
         {"address", l.address.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.address)},
         {"exposed", l.exposed},
         {"why", l.why}});
  return out;
}

}  // namespace svcrouter
