#include "maps/conntrack.h"

#include <arpa/inet.h>

#include <ctime>
#include <vector>

#include "maps/layout/service.h"

namespace svcrouter::maps {
namespace {

// Entries per chunk of a walk (a batch read takes whole hash buckets, so a
// chunk may hold fewer): 4096 keys and values are 416 KiB.
constexpr uint32_t kChunk = 4096;
constexpr uint32_t kPorts = 65536;

}  // namespace

uint64_t monotonicNowNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
}

Result<ConntrackMap> ConntrackMap::from(Fd fd, std::string name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail("inspect " + name, errno);
  if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(svcr_ct_key) ||
      info.value_size != sizeof(svcr_ct_entry))
    return fail("map " + name + " is not a conntrack map of this build (type/key/value size " +
                std::to_string(info.type) + "/" + std::to_string(info.key_size) + "/" +
                std::to_string(info.value_size) + ")");
  return ConntrackMap(std::move(fd), std::move(name), info.max_entries);
}

Result<std::optional<ConntrackMap>> ConntrackMap::pinned(const std::string& pinDir) {
  SVCR_ASSIGN_OR_RETURN(auto map, openPinnedMap(pinDir, "svcr_ct", BPF_MAP_TYPE_HASH,
                                                sizeof(svcr_ct_key), sizeof(svcr_ct_entry)));
  if (!map) return std::nullopt;
  return ConntrackMap(std::move(map->fd), map->path, map->maxEntries);
}

Result<void> ConntrackMap::walk(Walk how, const Chunk& onChunk) const {
  if (how == Walk::kBatch) {
    SVCR_ASSIGN_OR_RETURN(bool batched, walkBatch(onChunk));
    if (batched) return {};
  }
  return walkByKey(onChunk);
}

Result<bool> ConntrackMap::walkBatch(const Chunk& onChunk) const {
  uint32_t capacity = kChunk;
  std::vector<svcr_ct_key> keys(capacity);
  std::vector<svcr_ct_entry> values(capacity);
  // The kernel's cursor (a bucket index for a hash map), in key-sized buffers.
  svcr_ct_key in{}, out{};
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = capacity;
    int err = bpf_map_lookup_batch(fd_.get(), first ? nullptr : &in, &out, keys.data(),
                                   values.data(), &count, &opts) == 0
                  ? 0
                  : errno;
    if (err != 0 && err != ENOENT) {
      if (first && batchUnsupported(err)) return false;
      // One bucket holds more entries than the buffer: a larger one.
      if (err == ENOSPC && capacity < maxEntries_) {
        capacity *= 2;
        keys.resize(capacity);
        values.resize(capacity);
        continue;
      }
      return fail("read " + name_ + " (batch)", err);
    }
    if (count > 0) SVCR_RETURN_IF_ERROR(onChunk({keys.data(), count}, {values.data(), count}));
    if (err == ENOENT) return true;  // the last buckets were in this chunk
    in = out;
    first = false;
  }
}

Result<void> ConntrackMap::walkByKey(const Chunk& onChunk) const {
  std::vector<svcr_ct_key> keys;
  std::vector<svcr_ct_entry> values;
  keys.reserve(kChunk);
  values.reserve(kChunk);
  svcr_ct_key cur{};
  bool more = bpf_map_get_next_key(fd_.get(), nullptr, &cur) == 0;
  int err = more ? 0 : errno;
  // A walk whose current key was deleted (by the programs) starts over from
  // the first key, as the kernel's hash maps do: bounded.
  const uint64_t steps = 4ULL * maxEntries_ + 16;
  for (uint64_t step = 0; more && step < steps; ++step) {
    svcr_ct_entry value{};
    if (bpf_map_lookup_elem(fd_.get(), &cur, &value) == 0) {
      keys.push_back(cur);
      values.push_back(value);
    } else if (errno != ENOENT) {
      return fail("read " + name_, errno);
    }
    svcr_ct_key next{};
    more = bpf_map_get_next_key(fd_.get(), &cur, &next) == 0;
    err = more ? 0 : errno;
    cur = next;
    // The walk holds the next key already: the chunk may delete its own.
    if (keys.size() == kChunk || !more) {
      SVCR_RETURN_IF_ERROR(onChunk(keys, values));
      keys.clear();
      values.clear();
    }
  }
  if (!more && err != ENOENT) return fail("iterate " + name_, err);
  return {};
}

Result<ConntrackEntries> ConntrackMap::entries(Walk how) const {
  ConntrackEntries out;
  // An entry seen twice (a walk that started over) is kept once.
  SVCR_RETURN_IF_ERROR(walk(how,
                            [&](std::span<const svcr_ct_key> keys,
                                std::span<const svcr_ct_entry> values) -> Result<void> {
                              for (size_t i = 0; i < keys.size(); ++i)
                                out.insert_or_assign(keys[i], values[i]);
                              return {};
                            }));
  return out;
}

Result<CtSweep> ConntrackMap::sweep(uint64_t nowNs, Walk how) {
  CtSweep out;
  auto keep = [&out](const svcr_ct_key& k, const svcr_ct_entry& e) {
    ++out.left;
    for (uint16_t port : {k.sport, k.dport, e.sport, e.dport}) out.ports.set(ntohs(port));
  };
  SVCR_RETURN_IF_ERROR(walk(how,
                            [&](std::span<const svcr_ct_key> keys,
                                std::span<const svcr_ct_entry> values) -> Result<void> {
                              for (size_t i = 0; i < keys.size(); ++i) {
                                ++out.scanned;
                                const svcr_ct_key& key = keys[i];
                                if (!svcr_ct_expired(&values[i], key.proto, nowNs)) {
                                  keep(key, values[i]);
                                  continue;
                                }
                                svcr_ct_entry now{};
                                if (bpf_map_lookup_elem(fd_.get(), &key, &now) != 0) {
                                  if (errno == ENOENT) continue;  // the datapath met it first
                                  return fail("read " + name_, errno);
                                }
                                if (!svcr_ct_expired(&now, key.proto, nowNs)) {
                                  keep(key, now);
                                  continue;
                                }
                                if (bpf_map_delete_elem(fd_.get(), &key) == 0)
                                  ++out.deleted;
                                else if (errno != ENOENT)
                                  return fail("delete from " + name_, errno);
                              }
                              return {};
                            }));
  return out;
}

Result<uint64_t> clearPortMarks(int portsFd, const PortMarks& wanted,
                                const std::bitset<65536>& inUse) {
  std::vector<uint32_t> ports(kPorts);
  std::vector<svcr_port> marks(kPorts);
  uint32_t count = kPorts, cursor = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_lookup_batch(portsFd, nullptr, &cursor, ports.data(), marks.data(), &count, &opts) !=
          0 &&
      errno != ENOENT) {
    if (!batchUnsupported(errno)) return fail("read svcr_ports (batch)", errno);
    for (uint32_t port = 0; port < kPorts; ++port) {
      ports[port] = port;
      if (bpf_map_lookup_elem(portsFd, &port, &marks[port]) != 0)
        return fail("read svcr_ports", errno);
    }
    count = kPorts;
  }
  std::vector<uint32_t> changed;
  std::vector<svcr_port> values;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t port = ports[i], flags = marks[i].flags;
    if (flags == 0 || port >= kPorts) continue;
    uint32_t keep = inUse.test(port) ? SVCR_PORT_F_FRONTEND | SVCR_PORT_F_BACKEND : 0;
    if (auto it = wanted.find(static_cast<uint16_t>(port)); it != wanted.end()) keep |= it->second;
    if ((flags & ~keep) == 0) continue;
    changed.push_back(port);
    values.push_back(svcr_port{flags & keep});
  }
  uint32_t done = 0;
  if (!changed.empty()) {
    SVCR_ASSIGN_OR_RETURN(bool batched,
                          updateBatch(portsFd, "svcr_ports", changed.data(), values.data(),
                                      static_cast<uint32_t>(changed.size()), done));
    if (!batched)
      for (size_t i = done; i < changed.size(); ++i)
        if (bpf_map_update_elem(portsFd, &changed[i], &values[i], BPF_ANY) != 0)
          return fail("update svcr_ports", errno);
  }
  return changed.size();
}

Result<std::optional<SweepReport>> PinnedConntrackGc::sweep(const PortMarks& wanted) {
  SVCR_ASSIGN_OR_RETURN(auto ct, ConntrackMap::pinned(pinDir_));
  if (!ct) return std::nullopt;
  SVCR_ASSIGN_OR_RETURN(auto ports, openPinnedMap(pinDir_, "svcr_ports", BPF_MAP_TYPE_ARRAY,
                                                  sizeof(uint32_t), sizeof(svcr_port)));
  if (!ports) return fail("the packet path under " + pinDir_ + " has no svcr_ports pinned");
  SVCR_ASSIGN_OR_RETURN(auto swept, ct->sweep(monotonicNowNs()));
  SVCR_ASSIGN_OR_RETURN(uint64_t cleared, clearPortMarks(ports->fd.get(), wanted, swept.ports));
  return SweepReport{.scanned = swept.scanned,
                     .deleted = swept.deleted,
                     .entries = swept.left,
                     .portsCleared = cleared};
}

}  // namespace svcrouter::maps
