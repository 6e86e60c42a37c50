// The capabilities svcrouter needs to load, attach, adopt, update and
// unload the datapath, and those this process holds: `status` shows both,
// and the agent warns at start when it holds more than it needs (plain
// root holds them all).
#pragma once

#include <string>
#include <vector>

#include "maps/error.h"

namespace svcrouter::loader {

// One capability svcrouter needs, and what for.
struct Need {
  std::string name;  // "CAP_BPF"
  std::string why;
};

// What the process's own settings add to the needs.
struct NeedsOptions {
  // A listener on a port below 1024 (--metrics-bind-address, ...).
  bool privilegedPort = false;
  // The pin directory is not on a bpf file system yet: the first load
  // mounts one at /sys/fs/bpf.
  bool mountBpffs = false;
};

struct Privileges {
  std::vector<Need> needs;
  std::vector<std::string> permitted;  // what the process may use: its permitted set
  std::vector<std::string> effective;  // what it uses now (a subset it may raise)
  std::vector<std::string> missing;    // needs not in the effective set
  std::vector<std::string> extra;      // the permitted set beyond the needs
  unsigned uid = 0;                    // effective user id
  // Said to people: what is missing, what is extra and how to drop it.
  std::vector<std::string> warnings;
};

// The needs on this kernel: CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON where the
// kernel has CAP_BPF (5.8+), else CAP_SYS_ADMIN and CAP_NET_ADMIN; plus
// what the options add.
std::vector<Need> privilegeNeeds(const NeedsOptions& options);

// The needs, this process's capabilities and what they mean.
[[nodiscard]] Result<Privileges> checkPrivileges(const NeedsOptions& options);

}  // namespace svcrouter::loader
