#include "userspace/agent/packed_slice.h"

#include <map>
#include <optional>
#include <string_view>

namespace svcrouter {
namespace {

constexpr uint8_t kHasAddress = 1 << 0;
constexpr uint8_t kReadySet = 1 << 1, kReady = 1 << 2;
constexpr uint8_t kServingSet = 1 << 3, kServing = 1 << 4;
constexpr uint8_t kTerminatingSet = 1 << 5, kTerminating = 1 << 6;

uint8_t packCondition(const std::optional<bool>& c, uint8_t set, uint8_t value) {
  if (!c) return 0;
  return set | (*c ? value : 0);
}

std::optional<bool> unpackCondition(uint8_t bits, uint8_t set, uint8_t value) {
  if (!(bits & set)) return std::nullopt;
  return (bits & value) != 0;
}

}  // namespace

PackedSlice::PackedSlice(EndpointSlice slice) {
  std::vector<Endpoint> endpoints = std::move(slice.endpoints);
  head_ = std::move(slice);
  head_.endpoints = {};
  endpoints_.reserve(endpoints.size());
  // Room for every name at once, so that the views in `index` stay valid
  // (a short string lives inside the vector's element); trimmed after.
  names_.reserve(2 * endpoints.size());
  std::map<std::string_view, uint32_t> index;  // into names_
  auto nameOf = [&](std::string& name) -> uint32_t {
    if (name.empty()) return 0;
    if (auto it = index.find(name); it != index.end()) return it->second;
    names_.push_back(std::move(name));
    auto i = static_cast<uint32_t>(names_.size());
    index.emplace(names_.back(), i);
    return i;
  };
  for (Endpoint& e : endpoints) {
    Packed p;
    if (!e.addresses.empty()) {
      p.address = e.addresses[0];
      p.bits |= kHasAddress;
    }
    p.bits |= packCondition(e.conditions.ready, kReadySet, kReady);
    p.bits |= packCondition(e.conditions.serving, kServingSet, kServing);
    p.bits |= packCondition(e.conditions.terminating, kTerminatingSet, kTerminating);
    p.nodeName = nameOf(e.nodeName);
    p.zone = nameOf(e.zone);
    if (e.addresses.size() > 1 || !e.hintZones.empty() || !e.hintNodes.empty()) {
      Extra x;
      if (e.addresses.size() > 1)
        x.moreAddresses.assign(e.addresses.begin() + 1, e.addresses.end());
      x.hintZones = std::move(e.hintZones);
      x.hintNodes = std::move(e.hintNodes);
      extras_.push_back(std::move(x));
      p.extra = static_cast<uint32_t>(extras_.size());
    }
    endpoints_.push_back(p);
  }
  index.clear();
  names_.shrink_to_fit();
  extras_.shrink_to_fit();
}

EndpointSlice PackedSlice::unpack() const {
  EndpointSlice out = head_;
  out.endpoints.reserve(endpoints_.size());
  auto name = [&](uint32_t i) { return i ? names_[i - 1] : std::string(); };
  for (const Packed& p : endpoints_) {
    Endpoint& e = out.endpoints.emplace_back();
    if (p.bits & kHasAddress) e.addresses.push_back(p.address);
    e.conditions.ready = unpackCondition(p.bits, kReadySet, kReady);
    e.conditions.serving = unpackCondition(p.bits, kServingSet, kServing);
    e.conditions.terminating = unpackCondition(p.bits, kTerminatingSet, kTerminating);
    e.nodeName = name(p.nodeName);
    e.zone = name(p.zone);
    if (p.extra) {
      const Extra& x = extras_[p.extra - 1];
      e.addresses.insert(e.addresses.end(), x.moreAddresses.begin(), x.moreAddresses.end());
      e.hintZones = x.hintZones;
      e.hintNodes = x.hintNodes;
    }
  }
  return out;
}

}  // namespace svcrouter
