// Services and EndpointSlices as a long-lived cache keeps them (KubeSource
// holds every one of the cluster for as long as the agent runs), each
// serialized into one allocation of a few bytes per field. Decoded, a
// Service is 400 bytes and several allocations, an EndpointSlice 296 bytes
// plus 176 and an allocation per endpoint, mostly for fields that are empty
// or repeated; packed, 10,000 Services of 10 endpoints take about 3 MiB
// instead of 20. Unpacked when the objects are read (a sync), back into
// exactly what was packed.
#pragma once

#include <string>
#include <string_view>

#include "userspace/k8s/objects.h"

namespace svcrouter {

class PackedService {
 public:
  PackedService() = default;
  explicit PackedService(const Service& service);

  // The Service as it was packed.
  [[nodiscard]] Service unpack() const;
  size_t bytes() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

class PackedSlice {
 public:
  PackedSlice() = default;
  explicit PackedSlice(const EndpointSlice& slice);

  // The slice as it was packed.
  [[nodiscard]] EndpointSlice unpack() const;
  // What finds it, read without unpacking the rest.
  std::string_view ns() const;
  std::string_view serviceName() const;  // its label kubernetes.io/service-name
  size_t bytes() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

}  // namespace svcrouter
