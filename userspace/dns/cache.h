// Answers from the upstream servers, kept for their TTL as a node-local
// cache does (NodeLocal DNSCache): bounded in entries and bytes, least
// recently used first out. An answer is kept as the upstream sent it (its
// ID zeroed, its OPT record taken out: each client gets its own), with
// where its TTLs are, so that a hit is a copy and a few stores.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace svcrouter::dns {

using Clock = std::chrono::steady_clock;

// Longest a forwarded answer is kept, positive and negative (CoreDNS's cache).
inline constexpr uint32_t kMaxCacheTtl = 3600;
inline constexpr uint32_t kMaxNegativeTtl = 1800;

struct CachedAnswer {
  std::string wire;                  // the response, ID 0, without its OPT record
  std::vector<uint32_t> ttlOffsets;  // where each record's TTL is in wire
  std::vector<uint32_t> ttls;        // their values when it arrived
  size_t questionEnd = 0;            // offset after the question section
  uint16_t rcode = 0;                // with the upstream OPT's extended bits
  uint32_t ttl = 0;                  // seconds it may be served from the cache; 0: not kept
  Clock::time_point stored{};
};

// Reads an upstream's response (checked whole by ldns): nullopt when
// malformed. The TTL it may be cached for: the least of its answers'; for
// NXDOMAIN and NODATA the SOA's (RFC 2308: min of its TTL and minimum),
// none without one; none for other codes or a truncated answer.
std::optional<CachedAnswer> readAnswer(std::span<const uint8_t> response, Clock::time_point now);

// Whether `response` (read by readAnswer) is a response to the question
// (lowerName, type, class): QR set, one question, the same name but for
// case, written in full at offset 12 (so that a relayed copy can carry
// the client's case).
bool answersQuestion(std::span<const uint8_t> response, std::string_view lowerName, uint16_t type,
                     uint16_t klass);

// The cache's key: a question's name (lowercased wire form), type and class.
std::string cacheKey(std::string_view lowerName, uint16_t type, uint16_t klass);
// The same into a caller's buffer of at least kMaxNameSize + 4 bytes; its length.
size_t cacheKeyInto(std::string_view lowerName, uint16_t type, uint16_t klass, char* out);

class Cache {
 public:
  Cache(size_t maxEntries, size_t maxBytes) : maxEntries_(maxEntries), maxBytes_(maxBytes) {}

  // The answer for `key` if it has not expired (an expired one is dropped).
  const CachedAnswer* find(std::string_view key, Clock::time_point now);
  // Keeps an answer whose ttl is not zero, evicting the least recently used.
  void insert(std::string key, CachedAnswer answer);

  size_t size() const { return map_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Lru = std::list<std::pair<std::string, CachedAnswer>>;
  void erase(Lru::iterator it);
  static size_t cost(const std::string& key, const CachedAnswer& a);

  size_t maxEntries_, maxBytes_, bytes_ = 0;
  Lru lru_;  // most recently used first
  std::unordered_map<std::string_view, Lru::iterator, Hash, std::equal_to<>> map_;
};

}  // namespace svcrouter::dns
