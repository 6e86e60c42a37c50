// The service table's BPF maps: the real TableMaps. Built from any libbpf
// skeleton whose object includes bpf/lib/service_maps.h (the socket path's,
// or a test object's in tests/bpf/), with the maps open (loaded, or reused
// from their pins).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "maps/bpf_map.h"
#include "maps/layout/service.h"
#include "maps/table.h"

namespace svcrouter::maps {

// The maps of one object, as libbpf opened them.
struct ServiceMapHandles {
  const bpf_map *services, *vips, *slots, *backends, *members, *rr, *meta, *serviceStats,
      *backendStats, *epoch, *ports, *srcRanges;
};

class KernelMaps final : public TableMaps {
 public:
  // lockDir: the directory whose lock keeps writers apart (the pin
  // directory); empty when nobody else can reach these maps.
  static Result<std::unique_ptr<KernelMaps>> from(const ServiceMapHandles& maps,
                                                  std::string lockDir);

  // The same, with the handles taken from a skeleton's maps by member name.
  template <class Skeleton>
  static Result<std::unique_ptr<KernelMaps>> fromSkeleton(const Skeleton& skel,
                                                          std::string lockDir) {
    const auto& m = skel.maps;
    return from({m.svcr_services, m.svcr_vips, m.svcr_slots, m.svcr_backends, m.svcr_members,
                 m.svcr_rr, m.svcr_svc_meta, m.svcr_svc_stats, m.svcr_be_stats, m.svcr_epoch,
                 m.svcr_ports, m.svcr_src_ranges},
                std::move(lockDir));
  }

  Result<CurrentState> read() const override;
  Result<void> write(std::span<const MapOp> run) override;
  Result<void> waitForReaders() override { return barrier_.wait(); }
  // The grace period on a thread of its own, from now.
  std::function<Result<void>()> startWaitForReaders() override;
  Result<ServiceCounters> serviceCounters(uint32_t serviceId) const override;
  Result<BackendCounters> backendCounters(uint32_t backendId) const override;
  Result<TableLock> lock(LockMode mode) const override;
  Capacity capacity() const override { return capacity_; }
  Result<uint64_t> epoch() const override;
  Result<void> setEpoch(uint64_t epoch) override;

  // The maps were created empty by this process's load (none was pinned):
  // the counters and round-robin cursors of an id it has not handed out
  // yet are zero, so resetting them is skipped (a cold load of 100,000
  // backends writes 110,000 fewer entries). Once another writer's epoch is
  // seen, every reset is written again.
  void createdEmpty() { fresh_ = true; }

 private:
  KernelMaps() = default;
  // The ids of a reset run whose counters may be other than zero; counts
  // them as handed out (below `used`).
  std::vector<uint32_t> dirtyIds(const std::vector<uint32_t>& ids, uint32_t& used) const;

  TypedMap<svcr_svc_key, svcr_svc_value> services_;
  TypedMap<svcr_addr, svcr_vip> vips_;
  TypedMap<uint32_t, svcr_slot> slots_;  // an array
  TypedMap<uint32_t, svcr_backend> backends_;
  TypedMap<svcr_member_key, svcr_member> members_;
  TypedMap<uint32_t, uint64_t> rr_;
  TypedMap<uint32_t, svcr_svc_meta> meta_;
  TypedMap<uint32_t, uint64_t> epoch_;
  TypedMap<uint32_t, svcr_port> ports_;               // an array, by port
  TypedMap<svcr_src_range_key, uint32_t> srcRanges_;  // an LPM trie
  PerCpuArray<svcr_svc_stats> serviceStats_;
  PerCpuArray<svcr_backend_stats> backendStats_;
  ReaderBarrier barrier_;
  std::string lockDir_;
  Capacity capacity_;
  mutable bool fresh_ = false;  // createdEmpty(), and no other writer seen since
  uint64_t lastEpoch_ = 0;      // the epoch this process set last
  // With fresh_: every backend id and service id handed out is below these.
  uint32_t backendIdsUsed_ = 0, serviceIdsUsed_ = 0;
};

// Conversions between the C++ values and the kernel layouts.
svcr_addr toKernel(const IpAddr& ip);
IpAddr fromKernel(const svcr_addr& a);
svcr_svc_key toKernel(const ServiceKey& key);
ServiceKey fromKernel(const svcr_svc_key& key);
svcr_backend toKernel(const BackendAddr& b, uint32_t id);
BackendAddr fromKernel(const svcr_backend& b);
// A source range of service entry svcId: prefixlen counts the id's 32 bits,
// then the range's within the 16-byte address (an IPv4 /n is 96 + n).
svcr_src_range_key toKernel(uint32_t svcId, const IpCidr& range);
std::pair<uint32_t, IpCidr> fromKernel(const svcr_src_range_key& k);

}  // namespace svcrouter::maps
