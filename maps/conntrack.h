// The packet path's conntrack map (svcr_ct, maps/layout/nat.h) from user
// space: its entries, read for `svcrouter conntrack` and `stats`, and the
// sweep that deletes the expired ones (the datapath deletes an entry only
// when a packet meets it, and a full map refuses new flows), then clears
// the port marks (svcr_ports) that nothing uses any more.
#pragma once

#include <bitset>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "maps/bpf_map.h"
#include "maps/conntrack_gc.h"
#include "maps/layout/nat.h"

namespace svcrouter::maps {

// The entries of svcr_ct by key (keys compared as bytes, as the kernel does).
struct CtKeyLess {
  bool operator()(const svcr_ct_key& a, const svcr_ct_key& b) const {
    return std::memcmp(&a, &b, sizeof(a)) < 0;
  }
};
using ConntrackEntries = std::map<svcr_ct_key, svcr_ct_entry, CtKeyLess>;

// Now on the packet path's clock: bpf_ktime_get_ns() is CLOCK_MONOTONIC.
uint64_t monotonicNowNs();

// How the map is walked: BPF_MAP_LOOKUP_BATCH (kernel 5.6+; bucket by
// bucket, so deletions meanwhile do not disturb it), falling back to
// get_next_key where the kernel has no batch commands; or get_next_key
// only (tests, to cover the fallback).
enum class Walk { kBatch, kByKey };

// What a sweep of svcr_ct found.
struct CtSweep {
  uint64_t scanned = 0, deleted = 0, left = 0;
  // The ports (host order) of the entries left: of their keys and of what
  // they translate to.
  std::bitset<65536> ports;
};

class ConntrackMap {
 public:
  // The map behind fd, checked to have svcr_ct's layout; name is for messages.
  static Result<ConntrackMap> from(Fd fd, std::string name);
  // The pinned svcr_ct; nullopt when the packet path is not loaded.
  static Result<std::optional<ConntrackMap>> pinned(const std::string& pinDir);

  // Every entry. The programs add and delete entries meanwhile: an entry
  // may be missed or be newer than the walk's start.
  [[nodiscard]] Result<ConntrackEntries> entries(Walk walk = Walk::kBatch) const;

  // Deletes the entries past their timeout at nowNs (svcr_ct_expired). An
  // entry is looked up once more just before it is deleted: a packet may
  // have refreshed it, or a new flow taken its tuple, since the walk read it.
  [[nodiscard]] Result<CtSweep> sweep(uint64_t nowNs, Walk walk = Walk::kBatch);

  uint32_t maxEntries() const { return maxEntries_; }

 private:
  using Chunk =
      std::function<Result<void>(std::span<const svcr_ct_key>, std::span<const svcr_ct_entry>)>;
  ConntrackMap(Fd fd, std::string name, uint32_t maxEntries)
      : fd_(std::move(fd)), name_(std::move(name)), maxEntries_(maxEntries) {}
  // Calls onChunk with the entries, a chunk at a time; onChunk may delete
  // entries of its chunk.
  Result<void> walk(Walk how, const Chunk& onChunk) const;
  Result<bool> walkBatch(const Chunk& onChunk) const;  // false: no batch support
  Result<void> walkByKey(const Chunk& onChunk) const;

  Fd fd_;
  std::string name_;
  uint32_t maxEntries_ = 0;
};

// Clears, in svcr_ports (an array of struct svcr_port behind portsFd), every
// bit that neither `wanted` nor a flow on a port of `inUse` needs (a flow
// keeps both bits of its ports: which side a port is on is not worth
// knowing here). Sets nothing. Returns how many ports lost bits.
[[nodiscard]] Result<uint64_t> clearPortMarks(int portsFd, const PortMarks& wanted,
                                              const std::bitset<65536>& inUse);

// The real ConntrackGc: the maps pinned under a pin directory, opened at
// each sweep (the packet path may be loaded or unloaded meanwhile).
class PinnedConntrackGc final : public ConntrackGc {
 public:
  explicit PinnedConntrackGc(std::string pinDir) : pinDir_(std::move(pinDir)) {}
  Result<std::optional<SweepReport>> sweep(const PortMarks& wanted) override;

 private:
  std::string pinDir_;
};

}  // namespace svcrouter::maps
