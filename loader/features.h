// What the running kernel supports, found by probing it (loading tiny test
// programs, reading its BTF), never from its version number. The loader
// picks the programs and settings that fit; `svcrouter status` prints it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "maps/error.h"

namespace svcrouter::loader {

enum class FeatureId {
  kAtomicFetch,  // BPF atomic fetch-and-add (5.12)
  kSetRetval,    // bpf_set_retval() in cgroup programs (5.18)
  kNetnsCookie,  // bpf_get_netns_cookie() in sock_addr programs (5.7)
  kRecvmsgHook,  // cgroup/recvmsg4/6 (5.2)
  kGetpeerHook,  // cgroup/getpeername4/6 (5.8)
  kReleaseHook,  // cgroup/sock_release with bpf_get_socket_cookie() (5.9/5.10)
  kSockDestroy,  // bpf_sock_destroy() kfunc (6.5)
  kTcx,          // tcx links for TC programs (6.6); else clsact + cls_bpf
};

struct Feature {
  FeatureId id;
  std::string name;       // "set_retval": also the word for --without
  std::string what;       // what it is, with the kernel that brought it
  std::string ifOff;      // what changes when it is off
  bool used = true;       // false: probed for the record, no program uses it yet
  bool required = false;  // svcrouter cannot load without it
  bool on = false;        // available and not turned off
  std::string
      reason;  // "probe loaded", "probe failed: Invalid argument", "turned off by --without"
};

struct KernelFeatures {
  std::string release;  // uname -r
  std::vector<Feature> features;
  bool on(FeatureId id) const;
};

// Probes the running kernel. Names in `without` are reported and treated as
// off (for testing the fallbacks on a kernel that has everything).
Result<KernelFeatures> probeKernel(const std::set<std::string>& without = {});

// The names --without accepts: features in use that have a fallback.
std::vector<std::string> optionalFeatureNames();

// Fails, naming them, when the kernel lacks a feature svcrouter requires.
Result<void> checkRequired(const KernelFeatures& kernel);

}  // namespace svcrouter::loader
