#include "userspace/cli/report.h"

#include <algorithm>
#include <sstream>

#include "maps/layout/service.h"

namespace svcrouter {
namespace {

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

}  // namespace

Result<std::vector<ServiceView>> collectViews(const maps::Table& table) {
  SVCR_ASSIGN_OR_RETURN(auto state, table.read());
  std::vector<ServiceView> views;
  for (const auto& [key, svc] : state.services) {
    ServiceView v{key, svc.meta, svc.entry, {}, {}};
    SVCR_ASSIGN_OR_RETURN(v.counters, table.serviceCounters(svc.entry.id));
    for (uint32_t id : svc.slots) {
      BackendView b{id, state.backends[id], 0, 0};
      if (auto it = svc.members.find(id); it != svc.members.end()) b.reason = it->second;
      SVCR_ASSIGN_OR_RETURN(b.connections, table.backendConnections(id));
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

std::string statsText(const std::vector<ServiceView>& views) {
  std::ostringstream out;
  char line[256];
  snprintf(line, sizeof(line), "%-40s %-28s %12s %10s\n", "SERVICE", "ADDRESS", "CONNECTIONS",
           "REFUSED");
  out << line;
  for (const auto& v : views) {
    snprintf(line, sizeof(line), "%-40s %-28s %12llu %10llu\n", describe(v.meta).c_str(),
             describe(v.key).c_str(), static_cast<unsigned long long>(v.counters.connections),
             static_cast<unsigned long long>(v.counters.refused));
    out << line;
    for (const auto& b : v.backends) {
      snprintf(line, sizeof(line), "  %-38s %-28s %12llu\n", "", describe(b.addr).c_str(),
               static_cast<unsigned long long>(b.connections));
      out << line;
    }
  }
  return out.str();
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

nlohmann::json statsJson(const std::vector<ServiceView>& views) {
  auto services = nlohmann::json::array();
  for (const auto& v : views) {
    auto s = identity(v);
    s["connections"] = v.counters.connections;
    s["refused"] = v.counters.refused;
    auto backends = nlohmann::json::array();
    for (const auto& b : v.backends) {
      auto j = backendIdentity(b);
      j["connections"] = b.connections;
      backends.push_back(j);
    }
    s["backends"] = backends;
    services.push_back(s);
  }
  return {{"services", services}};
}

std::string statusText(const loader::KernelFeatures& kernel, const std::string& pinDir,
                       const std::string& cgroup,
                       const std::vector<loader::AttachedProgram>& programs) {
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
  return out.str();
}

nlohmann::json statusJson(const loader::KernelFeatures& kernel, const std::string& pinDir,
                          const std::string& cgroup,
                          const std::vector<loader::AttachedProgram>& programs) {
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
  return {{"kernel", kernel.release},
          {"features", features},
          {"datapath",
           {{"loaded", !programs.empty()},
            {"pin_dir", pinDir},
            {"cgroup", cgroup},
            {"programs", progs}}}};
}

}  // namespace svcrouter
