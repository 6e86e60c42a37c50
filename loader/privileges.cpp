#include "loader/privileges.h"

#include <sys/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace svcrouter::loader {
namespace {

// The uapi numbers, for libcap headers older than the capabilities.
constexpr cap_value_t kCapPerfmon = 38;
constexpr cap_value_t kCapBpf = 39;

std::string capName(cap_value_t cap) {
  std::unique_ptr<char, int (*)(void*)> text(cap_to_name(cap), cap_free);
  std::string name = text ? text.get() : "cap_" + std::to_string(cap);
  std::ranges::transform(name, name.begin(), [](unsigned char c) { return std::toupper(c); });
  return name;
}

// "CAP_BPF" -> "bpf", as setpriv and capsh write them.
std::string shortName(const std::string& name) {
  std::string s = name.substr(4);
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool has(const std::vector<std::string>& set, const std::string& name) {
  return std::ranges::find(set, name) != set.end();
}

std::string joined(const std::vector<std::string>& names, const std::string& sep) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : sep) + n;
  return out;
}

}  // namespace

std::vector<Need> privilegeNeeds(const NeedsOptions& options) {
  std::vector<Need> needs;
  // The kernel counts its capabilities; CAP_BPF and CAP_PERFMON came in 5.8.
  const bool kernelHasBpfCap = cap_max_bits() > kCapBpf;
  if (kernelHasBpfCap) {
    needs.push_back({capName(kCapBpf), "bpf(): create maps, load programs, pin and open pins"});
  } else {
    needs.push_back({capName(CAP_SYS_ADMIN), "bpf() on a kernel without CAP_BPF (before 5.8)"});
  }
  needs.push_back({capName(CAP_NET_ADMIN),
                   "load the cgroup sock_addr and TC programs, attach to TC devices, close "
                   "sockets (sock_diag SOCK_DESTROY)"});
  if (kernelHasBpfCap)
    needs.push_back({capName(kCapPerfmon),
                     "the verifier's full rules and BPF iterators (without it 6.1 refuses "
                     "svcr_connect4)"});
  if (options.mountBpffs && kernelHasBpfCap)
    needs.push_back({capName(CAP_SYS_ADMIN),
                     "mount bpffs at /sys/fs/bpf for the pin directory (once per boot; not "
                     "needed where the system mounts it)"});
  if (options.privilegedPort)
    needs.push_back({capName(CAP_NET_BIND_SERVICE), "listen on a port below 1024"});
  return needs;
}

Result<Privileges> checkPrivileges(const NeedsOptions& options) {
  Privileges p;
  p.needs = privilegeNeeds(options);
  p.uid = geteuid();
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> caps(cap_get_proc(), cap_free);
  if (!caps) return fail("read this process's capabilities", errno);
  for (cap_value_t cap = 0; cap < cap_max_bits(); ++cap) {
    cap_flag_value_t permitted = CAP_CLEAR, effective = CAP_CLEAR;
    if (cap_get_flag(caps.get(), cap, CAP_PERMITTED, &permitted) != 0 ||
        cap_get_flag(caps.get(), cap, CAP_EFFECTIVE, &effective) != 0)
      return fail("read capability " + std::to_string(cap) + " of this process", errno);
    if (permitted == CAP_SET) p.permitted.push_back(capName(cap));
    if (effective == CAP_SET) p.effective.push_back(capName(cap));
  }

  std::vector<std::string> needed;
  for (const auto& n : p.needs) needed.push_back(n.name);
  // The kernel lets CAP_SYS_ADMIN stand in for CAP_BPF and CAP_PERFMON.
  const std::string sysAdmin = capName(CAP_SYS_ADMIN);
  for (const auto& n : p.needs) {
    bool covered = has(p.effective, n.name) ||
                   ((n.name == capName(kCapBpf) || n.name == capName(kCapPerfmon)) &&
                    has(p.effective, sysAdmin));
    if (!covered) {
      p.missing.push_back(n.name);
      p.warnings.push_back("lacks " + n.name + ", needed to " + n.why);
    }
  }
  for (const auto& name : p.permitted)
    if (!has(needed, name)) p.extra.push_back(name);

  if (!p.extra.empty()) {
    std::vector<std::string> lower;
    for (const auto& n : needed) lower.push_back("+" + shortName(n));
    std::string w = "holds " + std::to_string(p.extra.size()) + " capabilit" +
                    (p.extra.size() == 1 ? "y" : "ies") + " more than it needs (" +
                    joined(p.extra, ", ") + ")";
    if (has(p.extra, sysAdmin) && !has(needed, sysAdmin))
      w += "; CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON but allows far more";
    w += ". Grant only " + joined(needed, ", ") +
         ": the systemd unit deploy/systemd/svcrouter.service does (CapabilityBoundingSet=, "
         "AmbientCapabilities=), so does the DaemonSet deploy/svcrouter.yaml (securityContext "
         "capabilities: drop [ALL], add the needed ones); by hand: setpriv --inh-caps=-all," +
         joined(lower, ",") + " --ambient-caps=-all," + joined(lower, ",") +
         " --bounding-set=-all," + joined(lower, ",") + " svcrouter ...";
    p.warnings.push_back(w);
  }
  if (p.uid != 0)
    p.warnings.push_back("runs as uid " + std::to_string(p.uid) +
                         ": /sys/fs/bpf and svcrouter's pins are root's (0700 directories, "
                         "0600 pins); run as root (uid 0) with only the capabilities above");
  return p;
}

}  // namespace svcrouter::loader
