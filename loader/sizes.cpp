#include "loader/sizes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

#include "loader/pins.h"
#include "maps/fd.h"
#include "maps/layout/nat.h"
#include "maps/layout/service.h"
#include "maps/layout/sock.h"

namespace svcrouter::loader {
namespace fs = std::filesystem;

const std::vector<SizeOption>& sizeOptions() {
  // Ids index the arrays, so an id's maps are sized together. The upper
  // bounds keep a size within what a map of its type can be created with.
  static const std::vector<SizeOption> options = {
      {"--max-services", &MapSizes::services, SVCR_MAX_SERVICES, 16, 1u << 24,
       {"svcr_services", "svcr_vips", "svcr_rr", "svcr_svc_stats", "svcr_svc_meta"}},
      {"--max-backends", &MapSizes::backends, SVCR_MAX_BACKENDS, 16, 1u << 24,
       {"svcr_backends", "svcr_be_stats"}},
      {"--max-slots", &MapSizes::slots, SVCR_MAX_SLOTS, 16, 1u << 26,
       {"svcr_slots", "svcr_members"}},
      {"--conntrack-max", &MapSizes::conntrack, SVCR_CT_MAX_DEFAULT, 1024, 1u << 24, {"svcr_ct"}},
      {"--max-sockets", &MapSizes::sockets, SVCR_MAX_SOCK_ENTRIES, 1024, 1u << 24,
       {"svcr_sock_rev", "svcr_sock_fwd"}},
      {"--max-affinity", &MapSizes::affinity, SVCR_MAX_AFFINITY, 1024, 1u << 24,
       {"svcr_affinity"}},
  };
  return options;
}

namespace {

// The max_entries of the map pinned at path, or nullopt when none is.
Result<std::optional<uint32_t>> pinnedSize(const std::string& path) {
  if (!exists(path)) return std::nullopt;
  maps::Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return fail("open pinned map " + path, errno);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail("inspect " + path, errno);
  return info.max_entries;
}

const char* typeName(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH: return "hash";
    case BPF_MAP_TYPE_ARRAY: return "array";
    case BPF_MAP_TYPE_PERCPU_ARRAY: return "percpu_array";
    case BPF_MAP_TYPE_LRU_HASH: return "lru_hash";
    case BPF_MAP_TYPE_LPM_TRIE: return "lpm_trie";
    case BPF_MAP_TYPE_ARRAY_OF_MAPS: return "array_of_maps";
    case BPF_MAP_TYPE_HASH_OF_MAPS: return "hash_of_maps";
    default: return "other";
  }
}

// The kernel's account of a map's memory: the "memlock" line of its fdinfo.
uint64_t fdinfoMemlock(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string key;
  uint64_t value = 0;
  while (in >> key) {
    if (key == "memlock:") {
      in >> value;
      return value;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

// Counts the keys of a hash-type map by walking them.
uint64_t countKeys(int fd, uint32_t keySize) {
  std::vector<unsigned char> key(keySize), next(keySize);
  uint64_t n = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key.swap(next);
    prev = key.data();
  }
  return n;
}

// The size of map `name` (sized by `option`): what is pinned, else what is
// asked, else the default; an error when what is asked differs from what is
// pinned.
Result<uint32_t> sizeOf(const SizeOption& option, const char* name, const std::string& pinDir,
                        const MapSizes& sizes) {
  const std::optional<uint32_t>& asked = sizes.*option.size;
  std::string path = pinDir + "/maps/" + name;
  SVCR_ASSIGN_OR_RETURN(auto pinned, pinnedSize(path));
  if (pinned && asked && *pinned != *asked)
    return fail(std::string(option.flag) + " " + std::to_string(*asked) +
                ": the datapath loaded under " + pinDir + " was sized " +
                std::to_string(*pinned) + " (" + name +
                "), and a loaded map keeps its size. To change it: `svcrouter unload`, then load "
                "again with the new size (services are not served in between; see the README's "
                "Limits); or leave the option out to keep the loaded size");
  return pinned ? *pinned : asked.value_or(option.defaultSize);
}

}  // namespace

Result<void> checkSizes(const std::string& pinDir, const MapSizes& sizes) {
  for (const auto& option : sizeOptions())
    for (const char* name : option.maps) SVCR_RETURN_IF_ERROR(sizeOf(option, name, pinDir, sizes));
  return {};
}

Result<void> sizeMaps(bpf_object* obj, const std::string& pinDir, const MapSizes& sizes) {
  for (const auto& option : sizeOptions()) {
    for (const char* name : option.maps) {
      bpf_map* map = bpf_object__find_map_by_name(obj, name);
      if (!map) continue;  // not in this object
      SVCR_ASSIGN_OR_RETURN(uint32_t size, sizeOf(option, name, pinDir, sizes));
      if (int err = bpf_map__set_max_entries(map, size); err != 0)
        return fail("size " + std::string(name) + " to " + std::to_string(size), -err);
    }
  }
  return {};
}

Result<std::vector<MapUsage>> pinnedMapUsage(const std::string& pinDir) {
  std::vector<MapUsage> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pinDir + "/maps", ec)) {
    std::string path = entry.path();
    maps::Fd fd(bpf_obj_get(path.c_str()));
    if (!fd.valid()) return fail("open pinned map " + path, errno);
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail("inspect " + path, errno);
    MapUsage usage{entry.path().filename(), typeName(info.type), info.max_entries,
                   fdinfoMemlock(fd.get()), !(info.map_flags & BPF_F_NO_PREALLOC),
                   std::nullopt};
    switch (info.type) {
      case BPF_MAP_TYPE_HASH:
      case BPF_MAP_TYPE_LRU_HASH:
      case BPF_MAP_TYPE_LPM_TRIE:
        usage.entries = countKeys(fd.get(), info.key_size);
        break;
      default:
        break;
    }
    out.push_back(std::move(usage));
  }
  if (ec) return fail("read " + pinDir + "/maps", ec.value());
  std::ranges::sort(out, {}, &MapUsage::name);
  return out;
}

}  // namespace svcrouter::loader
