// The service table in the kernel: every svcrouter map behind one typed
// interface. Reads the whole state back (for the reconciler, `list` and a
// restarted agent) and applies a reconciler plan, operation by operation.
#pragma once

#include <cstdint>
#include <map>
#include <span>

#include "maps/bpf_map.h"
#include "maps/svcrouter_maps.h"
#include "userspace/reconcile.h"

struct svcr_sock;  // the libbpf skeleton (svcr_sock.skel.h)

namespace svcrouter::maps {

struct ServiceCounters {
  uint64_t connections = 0, refused = 0;
};

class Table {
 public:
  // Wraps the maps of a skeleton whose maps are open (loaded or reused from pins).
  static Result<Table> from(const svcr_sock& skel);

  [[nodiscard]] Result<CurrentState> read() const;
  [[nodiscard]] Result<void> apply(const Plan& plan);

  // Counters summed over CPUs.
  [[nodiscard]] Result<ServiceCounters> serviceCounters(uint32_t serviceId) const;
  [[nodiscard]] Result<uint64_t> backendConnections(uint32_t backendId) const;

 private:
  // Operations of one kind: writes in one batch, deletions one by one.
  [[nodiscard]] Result<void> applyRun(std::span<const MapOp> run);

  TypedMap<svcr_svc_key, svcr_svc_value> services_;
  TypedMap<svcr_addr, svcr_vip> vips_;
  TypedMap<uint32_t, svcr_slot> slots_;  // an array
  TypedMap<uint32_t, svcr_backend> backends_;
  TypedMap<svcr_member_key, svcr_member> members_;
  TypedMap<uint32_t, uint64_t> rr_;
  TypedMap<uint32_t, svcr_svc_meta> meta_;
  PerCpuArray<svcr_svc_stats> serviceStats_;
  PerCpuArray<svcr_backend_stats> backendStats_;
  ReaderBarrier barrier_;
  // Whether no reader can still hold a value from before this process's
  // last completed plan. False after adopting a table (the previous agent
  // may have died between a flip and its grace period, leaving a retired
  // range that now looks free) and after a failed apply.
  bool settled_ = false;
};

// Conversions between the model and the kernel layouts.
svcr_addr toKernel(const IpAddr& ip);
IpAddr fromKernel(const svcr_addr& a);
svcr_svc_key toKernel(const ServiceKey& key);
ServiceKey fromKernel(const svcr_svc_key& key);
svcr_backend toKernel(const BackendAddr& b, uint32_t id);
BackendAddr fromKernel(const svcr_backend& b);

}  // namespace svcrouter::maps
