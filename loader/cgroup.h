// The filesystems the loader works with: cgroup v2 (where the socket programs
// attach) and bpffs (where maps and links are pinned).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "maps/error.h"

namespace svcrouter::loader {

// The cgroup v2 mount point, from /proc/self/mounts (/sys/fs/cgroup on most
// distributions, /sys/fs/cgroup/unified on hybrid hosts).
Result<std::string> cgroup2Root();

// The kernel's id of a cgroup v2 directory (what bpf_link_info reports).
Result<uint64_t> cgroupId(const std::string& path);

// The directory of a cgroup id, found by walking the cgroup v2 tree.
std::optional<std::string> cgroupPathById(uint64_t id);

// Makes sure `dir`'s parent is a bpf filesystem: mounts bpffs at /sys/fs/bpf
// when that is where it belongs and nothing is mounted there yet.
Result<void> ensureBpffs(const std::string& dir);

// Whether dir, or the nearest of its parents that exists, is on a bpf file
// system (else ensureBpffs() mounts one, which needs CAP_SYS_ADMIN).
bool onBpffs(const std::string& dir);

}  // namespace svcrouter::loader
