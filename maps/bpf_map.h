// Typed access to BPF maps. A wrapper is built from a skeleton's bpf_map*,
// checks the key and value sizes once, and then offers typed lookup, update,
// erase and iteration: no void* at call sites. Also the readers' barrier.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "maps/error.h"
#include "maps/fd.h"

namespace svcrouter::maps {

// Number of possible CPUs, the stride of per-CPU map values.
int possibleCpus();

// Size and identity checks shared by every wrapper.
Result<int> checkedMapFd(const bpf_map* map, size_t keySize, size_t valueSize);

// Whether a batch command failed with err because this kernel or map type
// has no batch support (the caller then goes one by one).
bool batchUnsupported(int err);

// A map pinned by the loader at PIN_DIR/maps/NAME, opened by path (the
// packet path's maps: its skeleton is the loader's own), checked as
// checkedMapFd checks a skeleton's map.
struct PinnedMap {
  Fd fd;
  std::string path;
  uint32_t maxEntries = 0;
};

// nullopt when nothing is pinned there (the packet path is not loaded).
[[nodiscard]] Result<std::optional<PinnedMap>> openPinnedMap(const std::string& pinDir,
                                                             const std::string& name,
                                                             bpf_map_type type, size_t keySize,
                                                             size_t valueSize);

// Writes `count` entries in one BPF_MAP_UPDATE_BATCH call (kernel 5.6+);
// false when this kernel or map cannot take a batch (the caller then writes
// them one by one). Sets `done` to how many were written.
Result<bool> updateBatch(int fd, const std::string& name, const void* keys, const void* values,
                         uint32_t count, uint32_t& done);

// Reads up to `count` entries of an array map in BPF_MAP_LOOKUP_BATCH calls
// (kernel 5.6+) from its first index; false when the kernel cannot (the
// caller then looks them up one by one). Sets `done` to how many were read:
// keys[i] is the index of values[i].
Result<bool> lookupArrayBatch(int fd, const std::string& name, uint32_t* keys, void* values,
                              size_t valueSize, uint32_t count, uint32_t& done);

template <typename K, typename V>
class TypedMap {
 public:
  using Key = K;
  using Value = V;
  TypedMap() = default;
  // Checks that the map's layout is K -> V.
  static Result<TypedMap> from(const bpf_map* map) {
    SVCR_ASSIGN_OR_RETURN(int fd, checkedMapFd(map, sizeof(K), sizeof(V)));
    return TypedMap(fd, bpf_map__name(map));
  }

  [[nodiscard]] Result<std::optional<V>> lookup(const K& key) const {
    V value{};
    if (bpf_map_lookup_elem(fd_, &key, &value) == 0) return value;
    if (errno == ENOENT) return std::nullopt;
    return fail("look up " + name_, errno);
  }

  [[nodiscard]] Result<void> update(const K& key, const V& value, uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd_, &key, &value, flags) != 0) return fail("update " + name_, errno);
    return {};
  }

  // Many entries, in as few system calls as the kernel allows.
  [[nodiscard]] Result<void> updateAll(const std::vector<K>& keys, const std::vector<V>& values) {
    uint32_t done = 0;
    if (!keys.empty()) {
      SVCR_ASSIGN_OR_RETURN(bool batched, updateBatch(fd_, name_, keys.data(), values.data(),
                                                      static_cast<uint32_t>(keys.size()), done));
      if (batched) return {};
    }
    for (size_t i = done; i < keys.size(); ++i) SVCR_RETURN_IF_ERROR(update(keys[i], values[i]));
    return {};
  }

  // Removing an absent key is not an error: the outcome is the same.
  [[nodiscard]] Result<void> erase(const K& key) {
    if (bpf_map_delete_elem(fd_, &key) != 0 && errno != ENOENT)
      return fail("delete from " + name_, errno);
    return {};
  }

  // Every entry. Entries added or removed meanwhile may be missed.
  [[nodiscard]] Result<std::vector<std::pair<K, V>>> entries() const {
    std::vector<std::pair<K, V>> out;
    K key{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd_, prev, &next) == 0) {
      V value{};
      if (bpf_map_lookup_elem(fd_, &next, &value) == 0)
        out.emplace_back(next, value);
      else if (errno != ENOENT)
        return fail("read " + name_, errno);
      key = next;
      prev = &key;
    }
    if (errno != ENOENT) return fail("iterate " + name_, errno);
    return out;
  }

  // Every value of an array map of `size` entries, by index, read in
  // batches where the kernel allows.
  [[nodiscard]] Result<std::vector<V>> arrayValues(
      uint32_t size) const requires std::same_as<K, uint32_t> {
    std::vector<V> out(size);
    std::vector<uint32_t> keys(size);
    std::vector<V> values(size);
    uint32_t done = 0;
    SVCR_ASSIGN_OR_RETURN(bool batched, lookupArrayBatch(fd_, name_, keys.data(), values.data(),
                                                         sizeof(V), size, done));
    if (batched) {
      for (uint32_t i = 0; i < done; ++i)
        if (keys[i] < size) out[keys[i]] = values[i];
      return out;
    }
    for (uint32_t i = 0; i < size; ++i) {
      SVCR_ASSIGN_OR_RETURN(auto v, lookup(i));
      if (v) out[i] = *v;
    }
    return out;
  }

  const std::string& name() const { return name_; }

 private:
  TypedMap(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;  // owned by the bpf_object the map belongs to
  std::string name_;
};

// A BPF_MAP_TYPE_PERCPU_ARRAY of V: a read returns every CPU's value, a
// write sets the same value on every CPU.
template <typename V>
class PerCpuArray {
 public:
  PerCpuArray() = default;
  static Result<PerCpuArray> from(const bpf_map* map) {
    SVCR_ASSIGN_OR_RETURN(int fd, checkedMapFd(map, sizeof(uint32_t), sizeof(V)));
    return PerCpuArray(fd, bpf_map__name(map));
  }

  [[nodiscard]] Result<std::vector<V>> lookup(uint32_t index) const {
    // The kernel copies each CPU's value into an 8-byte aligned stride.
    std::vector<Slot> raw(possibleCpus());
    if (bpf_map_lookup_elem(fd_, &index, raw.data()) != 0) return fail("look up " + name_, errno);
    std::vector<V> out;
    for (const auto& s : raw) out.push_back(s.value);
    return out;
  }

  [[nodiscard]] Result<void> fill(uint32_t index, const V& value) {
    std::vector<Slot> raw(possibleCpus(), Slot{value});
    if (bpf_map_update_elem(fd_, &index, raw.data(), BPF_ANY) != 0)
      return fail("update " + name_, errno);
    return {};
  }

  // fill() for many indices, batched where the kernel allows.
  [[nodiscard]] Result<void> fillAll(const std::vector<uint32_t>& indices, const V& value) {
    std::vector<Slot> raw(indices.size() * possibleCpus(), Slot{value});
    uint32_t done = 0;
    if (!indices.empty()) {
      SVCR_ASSIGN_OR_RETURN(bool batched, updateBatch(fd_, name_, indices.data(), raw.data(),
                                                      static_cast<uint32_t>(indices.size()), done));
      if (batched) return {};
    }
    for (size_t i = done; i < indices.size(); ++i) SVCR_RETURN_IF_ERROR(fill(indices[i], value));
    return {};
  }

 private:
  struct alignas(8) Slot {
    V value;
  };
  PerCpuArray(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_ = -1;
  std::string name_;
};

// Blocks until every BPF program that started before the call has finished,
// so values replaced or deleted before it can no longer be in use. Uses the
// kernel's guarantee that updating a map-in-map waits for an RCU grace
// period (kernel/bpf/syscall.c, maybe_wait_bpf_programs).
class ReaderBarrier {
 public:
  [[nodiscard]] Result<void> wait();

 private:
  Fd inner_, outer_;
};

}  // namespace svcrouter::maps
