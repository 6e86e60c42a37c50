#include "loader/cgroup.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace svcrouter::loader {
namespace fs = std::filesystem;

Result<std::string> cgroup2Root() {
  std::ifstream mounts("/proc/self/mounts");
  if (!mounts) return fail("read /proc/self/mounts", errno);
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string dev, dir, type;
    fields >> dev >> dir >> type;
    if (type == "cgroup2") return dir;
  }
  return fail("no cgroup v2 filesystem is mounted (see /proc/self/mounts); svcrouter needs one");
}

Result<uint64_t> cgroupId(const std::string& path) {
  struct statfs sfs {};
  if (statfs(path.c_str(), &sfs) != 0) return fail("open cgroup " + path, errno);
  if (sfs.f_type != CGROUP2_SUPER_MAGIC) return fail(path + " is not a cgroup v2 directory");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return fail("stat " + path, errno);
  // On cgroup2 the inode number is the cgroup id (kernfs node id).
  return static_cast<uint64_t>(st.st_ino);
}

std::optional<std::string> cgroupPathById(uint64_t id) {
  auto root = cgroup2Root();
  if (!root) return std::nullopt;
  std::error_code ec;
  struct stat st {};
  if (stat(root->c_str(), &st) == 0 && st.st_ino == id) return *root;
  for (fs::recursive_directory_iterator
           it(*root, fs::directory_options::skip_permission_denied, ec),
       end;
       it != end; it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec)) continue;
    if (stat(it->path().c_str(), &st) == 0 && st.st_ino == id) return it->path().string();
  }
  return std::nullopt;
}

namespace {

// dir, or the nearest of its parents that exists.
fs::path existingPart(const std::string& dir) {
  std::error_code ec;
  fs::path existing = fs::absolute(dir, ec).lexically_normal();
  while (!existing.empty() && existing != existing.root_path() && !fs::exists(existing, ec))
    existing = existing.parent_path();
  return existing;
}

}  // namespace

bool onBpffs(const std::string& dir) {
  struct statfs sfs {};
  return statfs(existingPart(dir).c_str(), &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

Result<void> ensureBpffs(const std::string& dir) {
  std::error_code ec;
  fs::path existing = existingPart(dir);
  struct statfs sfs {};
  if (statfs(existing.c_str(), &sfs) != 0) return fail("statfs " + existing.string(), errno);
  if (sfs.f_type == BPF_FS_MAGIC) return {};
  // Systems without systemd's bpffs mount: do what it would do.
  const fs::path standard = "/sys/fs/bpf";
  if (existing == standard || existing == standard.parent_path()) {
    if (!fs::exists(standard, ec) && mkdir(standard.c_str(), 0700) != 0)
      return fail("create " + standard.string(), errno);
    if (mount("bpf", standard.c_str(), "bpf", 0, "mode=0700") != 0)
      return fail("mount bpffs at " + standard.string(), errno);
    return {};
  }
  return fail("pin directory " + dir + " is not on a bpf filesystem (mount -t bpf bpf DIR)");
}

}  // namespace svcrouter::loader
