// An EndpointSlice as a long-lived cache keeps it (KubeSource holds every
// slice of the cluster between syncs): the same content as EndpointSlice,
// packed. An Endpoint is 144 bytes and its addresses another allocation,
// mostly for fields that are empty or repeated (one address, a handful of
// node names and zones per slice, hints rarely); packed, an endpoint is 32
// bytes and a slice's names are held once. Unpacked when the objects are
// read (a sync), back into exactly what was packed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "maps/addr.h"
#include "userspace/k8s/objects.h"

namespace svcrouter {

class PackedSlice {
 public:
  PackedSlice() = default;
  explicit PackedSlice(EndpointSlice slice);

  // The slice as it was packed.
  [[nodiscard]] EndpointSlice unpack() const;

  // Everything but the endpoints (its `endpoints` is empty).
  const EndpointSlice& head() const { return head_; }
  size_t endpointCount() const { return endpoints_.size(); }

 private:
  struct Packed {
    IpAddr address;         // addresses[0], when kHasAddress
    uint32_t nodeName = 0;  // 1 + index in names_; 0: empty
    uint32_t zone = 0;      // 1 + index in names_; 0: empty
    uint32_t extra = 0;     // 1 + index in extras_; 0: none
    uint8_t bits = 0;       // kHasAddress and the conditions (k*Set, k*)
  };
  static_assert(sizeof(Packed) == 32);
  // What few endpoints have: a second address, topology hints.
  struct Extra {
    std::vector<IpAddr> moreAddresses;  // addresses[1..]
    std::vector<std::string> hintZones, hintNodes;
  };

  EndpointSlice head_;
  std::vector<Packed> endpoints_;
  std::vector<std::string> names_;  // node names and zones, each once
  std::vector<Extra> extras_;
};

}  // namespace svcrouter
