// One DNS query in, one response out, with no socket: the query is read by
// ldns; a name of the cluster is answered from the zone, another from the
// cache, or else handed back to be forwarded (the server does that, then
// calls respond() with what came back). Malformed queries get FORMERR or
// nothing; a UDP answer over the client's buffer (EDNS0, else 512 bytes)
// is truncated with TC set, so that the client asks again over TCP.
// tests/fuzz/fuzz_dns.cpp drives it.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "userspace/dns/cache.h"
#include "userspace/dns/zone.h"

namespace svcrouter::dns {

enum class Transport { kUdp, kTcp };

// What the responder counts, read by the metrics at each scrape. One
// thread writes (the server's), so each counter is a relaxed load and
// store, never a locked add.
class Stats {
 public:
  // The query types counted by name; others are "other".
  static constexpr uint16_t kTypes[] = {kTypeA,     kTypeAaaa, kTypeSrv, kTypePtr, kTypeTxt,
                                        kTypeCname, kTypeSoa,  kTypeNs,  kTypeMx,  kTypeAny};
  static constexpr size_t kTypeSlots = std::size(kTypes) + 1;
  static constexpr uint16_t kRcodes[] = {kNoError, kFormErr, kServFail, kNxDomain,
                                         kNotImp,  kRefused, kBadVers};
  static constexpr size_t kRcodeSlots = std::size(kRcodes) + 1;

  void answered(uint16_t type, uint16_t rcode) {
    bump(answered_[typeSlot(type)][rcodeSlot(rcode)]);
  }
  void dropped() { bump(dropped_); }
  void truncated() { bump(truncated_); }
  void forwarded() { bump(forwarded_); }
  void cacheHit() { bump(cacheHits_); }
  void cacheMiss() { bump(cacheMisses_); }

  uint64_t answeredCount(size_t typeSlot, size_t rcodeSlot) const {
    return answered_[typeSlot][rcodeSlot].load(std::memory_order_relaxed);
  }
  uint64_t droppedCount() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t truncatedCount() const { return truncated_.load(std::memory_order_relaxed); }
  uint64_t forwardedCount() const { return forwarded_.load(std::memory_order_relaxed); }
  uint64_t cacheHits() const { return cacheHits_.load(std::memory_order_relaxed); }
  uint64_t cacheMisses() const { return cacheMisses_.load(std::memory_order_relaxed); }
  // Labels of the slots: "A", ..., "other"; "NOERROR", ..., "other".
  static std::string_view typeLabel(size_t slot);
  static std::string_view rcodeLabel(size_t slot);

 private:
  static void bump(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  static size_t typeSlot(uint16_t type);
  static size_t rcodeSlot(uint16_t rcode);
  std::atomic<uint64_t> answered_[kTypeSlots][kRcodeSlots] = {};
  std::atomic<uint64_t> dropped_{0}, truncated_{0}, forwarded_{0}, cacheHits_{0}, cacheMisses_{0};
};

// A question that must be asked upstream, and what its answer needs to
// reach the client as a reply to its own query.
struct Forward {
  uint16_t id = 0;
  uint16_t flags = 0;                      // the client's RD and CD, and its opcode
  std::array<char, kMaxNameSize> name{};   // as the client wrote it (wire form)
  std::array<char, kMaxNameSize> lower{};  // lowercased
  uint8_t nameSize = 0;
  uint16_t type = 0, klass = 0;
  bool edns = false, dnssecOk = false;
  size_t limit = kClassicUdpSize;  // the largest reply the client takes
  // An ExternalName's target: what is asked upstream (lowercased), and
  // the reply is its CNAME followed by the upstream's answers.
  std::string chase;

  std::string_view qname() const { return {name.data(), nameSize}; }
  std::string_view lowerName() const { return {lower.data(), nameSize}; }
  // The question asked upstream: (chase or name, type, class).
  std::string upstreamKey() const;
  std::string_view upstreamName() const { return chase.empty() ? lowerName() : chase; }
  uint16_t upstreamClass() const { return chase.empty() ? klass : kClassIn; }
};

class Handler {
 public:
  struct Options {
    std::string domain = "cluster.local";  // names under it are never forwarded
    bool forwarding = true;                // false: no upstream (REFUSED for other names)
  };
  Handler(Options options, const ZoneHolder& zones, Cache& cache, Stats& stats);

  enum class Action { kRespond, kDrop, kForward };
  struct Result {
    Action action = Action::kDrop;
    size_t size = 0;  // kRespond: the response's length in `out`
  };
  // Answers `query` into `out` (room for kMaxMessageSize bytes), or fills
  // `fwd` for the server to forward. `now` ages cached answers.
  Result handle(std::span<const uint8_t> query, Transport transport, std::span<uint8_t> out,
                Forward& fwd, Clock::time_point now);

  // The reply to a forwarded question, from the upstream's answer (null:
  // every upstream failed, SERVFAIL); its length in `out`.
  size_t respond(const Forward& fwd, const CachedAnswer* answer, std::span<uint8_t> out,
                 Clock::time_point now);

  const Options& options() const { return options_; }

 private:
  // A reply of the header and question only, with this rcode.
  size_t bare(const Forward& q, uint16_t rcode, uint16_t flags, std::span<uint8_t> out);
  // A cached answer relayed: the client's ID, case and flags, TTLs aged,
  // its own OPT record; header and question only with TC if it is too big.
  size_t relay(const Forward& q, const CachedAnswer& a, std::span<uint8_t> out,
               Clock::time_point now);
  // An ExternalName's CNAME from the zone, then the upstream's answers for
  // its target.
  size_t chase(const Forward& q, const CachedAnswer& a, std::span<uint8_t> out,
               Clock::time_point now);
  void count(const Forward& q, std::span<const uint8_t> reply);

  Options options_;
  std::string apex_;
  const ZoneHolder& zones_;
  Cache& cache_;
  Stats& stats_;
};

}  // namespace svcrouter::dns
