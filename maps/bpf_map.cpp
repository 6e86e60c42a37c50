#include "maps/bpf_map.h"

#include <unistd.h>

#include <filesystem>

namespace svcrouter::maps {
namespace {

// The kernel's internal "operation not supported" (include/linux/errno.h),
// which reaches user space where a command does not fit the map type.
constexpr int kKernelENOTSUPP = 524;

}  // namespace

int possibleCpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

Result<int> checkedMapFd(const bpf_map* map, size_t keySize, size_t valueSize) {
  std::string name = bpf_map__name(map);
  int fd = bpf_map__fd(map);
  if (fd < 0) return fail("map " + name + " is not open");
  if (bpf_map__key_size(map) != keySize || bpf_map__value_size(map) != valueSize)
    return fail("map " + name + " has key/value size " + std::to_string(bpf_map__key_size(map)) +
                "/" + std::to_string(bpf_map__value_size(map)) + ", this build expects " +
                std::to_string(keySize) + "/" + std::to_string(valueSize));
  return fd;
}

bool batchUnsupported(int err) {
  return err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP || err == kKernelENOTSUPP;
}

Result<std::optional<PinnedMap>> openPinnedMap(const std::string& pinDir, const std::string& name,
                                               bpf_map_type type, size_t keySize,
                                               size_t valueSize) {
  std::string path = pinDir + "/maps/" + name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return fail("read " + path + " (svcrouter's commands need root)", ec.value());
    return std::nullopt;
  }
  Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return fail("open pinned map " + path, errno);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail("inspect " + path, errno);
  if (info.type != static_cast<uint32_t>(type) || info.key_size != keySize ||
      info.value_size != valueSize)
    return fail("map " + path + " has type/key/value size " + std::to_string(info.type) + "/" +
                std::to_string(info.key_size) + "/" + std::to_string(info.value_size) +
                ", this build expects " + std::to_string(type) + "/" + std::to_string(keySize) +
                "/" + std::to_string(valueSize));
  return PinnedMap{std::move(fd), path, info.max_entries};
}

Result<bool> updateBatch(int fd, const std::string& name, const void* keys, const void* values,
                         uint32_t count, uint32_t& done) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
  done = count;
  if (bpf_map_update_batch(fd, keys, values, &done, &opts) == 0) return true;
  int err = errno;
  // Unknown command, or a map type without batch support: one by one.
  if (batchUnsupported(err)) {
    if (done > count) done = 0;
    return false;
  }
  return fail("update " + name + " (batch)", err);
}

Result<bool> lookupArrayBatch(int fd, const std::string& name, uint32_t* keys, void* values,
                              size_t valueSize, uint32_t count, uint32_t& done) {
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  done = 0;
  uint32_t token = 0;
  for (bool first = true; done < count; first = false) {
    uint32_t n = count - done;
    int r = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys + done,
                                 static_cast<char*>(values) + done * valueSize, &n, &opts);
    int err = errno;
    if (r == 0 || err == ENOENT) done += n;  // ENOENT: the last batch
    if (r == 0) continue;
    if (err == ENOENT) break;
    if (first && (err == EINVAL || err == EOPNOTSUPP || err == ENOTSUP || err == kKernelENOTSUPP))
      return false;
    return fail("read " + name + " (batch)", err);
  }
  return true;
}

Result<void> ReaderBarrier::wait() {
  if (!outer_.valid()) {
    inner_ = Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "svcr_sync_in", 4, 4, 1, nullptr));
    if (!inner_.valid()) return fail("create reader barrier map", errno);
    LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = static_cast<__u32>(inner_.get()));
    outer_ = Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "svcr_sync", 4, 4, 1, &opts));
    if (!outer_.valid()) return fail("create reader barrier map", errno);
  }
  uint32_t key = 0, value = static_cast<uint32_t>(inner_.get());
  // Returns only after synchronize_rcu(): every running program has finished.
  if (bpf_map_update_elem(outer_.get(), &key, &value, BPF_ANY) != 0)
    return fail("wait for BPF readers", errno);
  return {};
}

}  // namespace svcrouter::maps
