// The sizes of the maps, chosen by the user at load (--max-services,
// --max-backends, --max-slots, --conntrack-max) and fixed from then on: a
// map's size is part of it, so an agent that adopts pinned maps takes their
// sizes, and asking for another size on a loaded datapath is refused with
// the way to get it (unload, then load again).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "maps/error.h"

struct bpf_object;

namespace svcrouter::loader {

// Each size names the maps it sizes (kSizedMaps); unset: what is pinned,
// else the default.
struct MapSizes {
  std::optional<uint32_t> services;   // --max-services: service entries (and service ids)
  std::optional<uint32_t> backends;   // --max-backends: distinct backends (and backend ids)
  std::optional<uint32_t> slots;      // --max-slots: backends of all entries, old sets included
  std::optional<uint32_t> conntrack;  // --conntrack-max: the packet path's flows, two entries each
  // Preallocated LRU maps, whatever they hold: the socket path's translations
  // (a socket per service it talks to) and ClientIP affinity records.
  std::optional<uint32_t> sockets;   // --max-sockets
  std::optional<uint32_t> affinity;  // --max-affinity
};

// A size option and what it sizes.
struct SizeOption {
  const char* flag;  // "--max-services"
  std::optional<uint32_t> MapSizes::*size;
  uint32_t defaultSize;
  uint32_t min, max;
  std::vector<const char*> maps;  // the maps it sets max_entries of
};
const std::vector<SizeOption>& sizeOptions();

// Fails when a size asked for differs from the size of its maps pinned
// under pinDir (before anything is loaded or attached).
[[nodiscard]] Result<void> checkSizes(const std::string& pinDir, const MapSizes& sizes);

// Sets max_entries of every sized map of an opened (not yet loaded) object:
// a map pinned under pinDir keeps its size (a size asked for that differs
// is an error saying how to change it), a new one takes the size asked
// for, or the default.
[[nodiscard]] Result<void> sizeMaps(bpf_object* obj, const std::string& pinDir,
                                    const MapSizes& sizes);

// One pinned map as the kernel reports it.
struct MapUsage {
  std::string name;
  std::string type;          // "hash", "array", "percpu_array", "lru_hash", ...
  uint32_t maxEntries = 0;
  uint64_t memoryBytes = 0;  // the kernel's own account (fdinfo memlock)
  bool preallocated = false;
  // Keys in a hash-type map (counted); unset for arrays, whose every index
  // exists (the caller knows which are in use).
  std::optional<uint64_t> entries;
};

// Every map pinned under pinDir/maps, by name.
[[nodiscard]] Result<std::vector<MapUsage>> pinnedMapUsage(const std::string& pinDir);

}  // namespace svcrouter::loader
