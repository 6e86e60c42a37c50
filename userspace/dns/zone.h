// The cluster's names: an immutable snapshot of the records the
// Kubernetes DNS specification (kubernetes/dns, docs/specification.md,
// schema 1.1.0) gives the Services and EndpointSlices the agent follows,
// built at each sync from the same objects as the datapath's table and
// swapped in whole (ZoneHolder), so that a query never sees half a sync.
//
// Records are kept ready to copy into a response (wire.h, recordTail):
// answering a cluster name is a hash lookup of its lowercased wire form
// and a few memcpy.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "userspace/dns/wire.h"
#include "userspace/k8s/objects.h"

namespace svcrouter::dns {

// The version of the specification's schema these records follow (TXT
// dns-version.<domain>).
inline constexpr std::string_view kSchemaVersion = "1.1.0";

struct ZoneOptions {
  std::string domain = "cluster.local";  // --cluster-domain
  uint32_t ttl = 30;                     // --dns-ttl, seconds; also the negative TTL
};

class Zone {
 public:
  // The records of one name and type: a run of record tails (wire.h).
  struct RRset {
    uint16_t type = 0;
    uint16_t count = 0;
    std::string_view tails;
  };
  // One name's records, as a view into its shard.
  class Node {
   public:
    std::optional<RRset> find(uint16_t type) const;
    // Calls f(RRset) for each type, in order.
    template <typename F>
    void forEach(F&& f) const {
      std::string_view rest = sets_;
      for (uint8_t i = 0; i < count_; ++i) {
        RRset set = read(rest);
        f(set);
      }
    }
    bool empty() const { return count_ == 0; }  // an empty non-terminal

   private:
    friend class Zone;
    static RRset read(std::string_view& rest);
    std::string_view sets_;
    uint8_t count_ = 0;
  };

  // How a question was answered.
  enum class Outcome {
    kAnswered,  // written: records, NODATA or NXDOMAIN (authoritative)
    kNotOurs,   // a name outside the cluster domain that the zone does not hold: forward it
    kChase,     // an ExternalName: its CNAME is written; its target is outside, to forward
  };
  // Answers (name, type) into w, whose header and question are written
  // (the question's name at offset 12): records, rcode and AA. `name` is
  // the question's name lowercased. On kChase, *target is the CNAME's
  // target (lowercased wire form) and the records so far are in w.
  Outcome answer(std::string_view name, uint16_t type, MessageWriter& w,
                 std::string* target = nullptr) const;

  std::optional<Node> find(std::string_view lowerName) const;
  // Whether a (lowercased) name is the cluster domain or under it.
  bool inDomain(std::string_view lowerName) const { return suffixAt(lowerName, apex_).has_value(); }
  const std::string& apex() const { return apex_; }
  uint32_t ttl() const { return ttl_; }
  size_t names() const { return names_; }
  // Every name (dotted) and its records' types and tails, for tests:
  // two zones of the same objects hold the same.
  std::map<std::string, std::string> contents() const;

  // The names are spread over shards by hash; a snapshot shares the
  // shards a sync did not touch with the one before it, so that a change
  // of one Service rebuilds a dozen shards of a few names each (10,000
  // Services of 5 endpoints: 90,000 names, 22 a shard). A shard is one
  // block (an open-addressing index, then its names and records), so that
  // a lookup touches three places in memory: the shard table, the block's
  // index, the name's entry.
  static constexpr size_t kShards = 4096;
  static size_t hashOf(std::string_view lowerName) {
    return std::hash<std::string_view>{}(lowerName);
  }
  struct Shard {
    // [u32 slots mask][u32 slot...][entries]; a slot holds 0 (empty) or
    // an entry's offset + 1; an entry: [u32 hash][u8 name size][name]
    // [u8 types]([u16 type][u16 count][u32 size][tails])...
    std::string block;
  };

 private:
  friend class ZoneBuilder;
  // A pod's A/AAAA record, <a-b-c-d>.<namespace>.pod.<domain> (CoreDNS's
  // "pods insecure": the address is the name), into w.
  bool answerPod(std::string_view name, uint16_t type, uint16_t owner, MessageWriter& w) const;
  // NXDOMAIN or NODATA: the rcode and the SOA in the authority section.
  void negative(uint16_t rcode, std::string_view name, uint16_t owner, MessageWriter& w) const;

  std::vector<std::shared_ptr<const Shard>> shards_;
  // Each shard's block (null: no names), one load away: what find() reads.
  std::vector<std::string_view> blocks_;
  size_t names_ = 0;
  std::string apex_;     // the cluster domain, lowercased wire form
  std::string podZone_;  // pod.<domain>
  std::string soaTail_;
  uint32_t ttl_ = 30;
};

// The zone in use, swapped whole; null until the first sync.
class ZoneHolder {
 public:
  std::shared_ptr<const Zone> get() const { return zone_.load(std::memory_order_acquire); }
  void set(std::shared_ptr<const Zone> zone) {
    zone_.store(std::move(zone), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Zone>> zone_;
};

// Builds zones from Kubernetes objects and publishes each to a holder.
// Keeps every name with the records each Service gave it, so that a sync
// that changed a few Services (the API server's) costs those: their
// records out and in, then a snapshot that rebuilds only the shards whose
// names changed.
class ZoneBuilder {
 public:
  using NsName = std::pair<std::string, std::string>;  // namespace, name

  ZoneBuilder(ZoneOptions options, ZoneHolder& holder);

  // All Services of `objects`, replacing what was there.
  void replaceAll(const Objects& objects);
  // The Services named: their records become what `objects` holds for
  // them (with their EndpointSlices); a name not in it is gone.
  void replaceServices(const std::set<NsName>& names, const Objects& objects);

  const ZoneOptions& options() const { return options_; }

  // One record before the snapshot groups them by name.
  struct Record {
    std::string owner;  // lowercased wire form
    uint16_t type = 0;
    std::string tail;  // recordTail()
  };
  // The records of one Service and its EndpointSlices (pure).
  std::vector<Record> serviceRecords(const Service& service,
                                     const std::vector<const EndpointSlice*>& slices) const;

 private:
  using ServiceId = uint32_t;  // 0: the zone's own records (SOA, dns-version)
  struct Item {
    ServiceId service;
    uint16_t type;
    std::string tail;
  };
  struct Name {
    std::vector<Item> items;
    uint32_t children = 0;  // names just below it that exist: an empty non-terminal if no items
    bool exists() const { return !items.empty() || children > 0; }
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return Zone::hashOf(s); }
  };
  using Names = std::unordered_map<std::string, Name, Hash, std::equal_to<>>;
  // The Services of `objects` (those in `only` when given) whose records
  // changed, replaced; the ids of those it holds.
  std::set<ServiceId> addServices(const Objects& objects, const std::set<NsName>* only);
  void add(ServiceId service, Record record);
  void removeService(ServiceId service);
  // A name of the domain came to exist (+1) or ceased to (-1): its parent
  // counts it, and comes to exist or ceases to in turn (empty
  // non-terminals), up to the first that was there already.
  void parentCounts(std::string_view name, int delta);
  // The entry of a name, made if it is not there.
  Names::iterator entry(std::string_view name);
  // Drops a name that holds nothing any more.
  void dropIfEmpty(Names::iterator it);
  static size_t shardOf(std::string_view name) { return Zone::hashOf(name) % Zone::kShards; }
  void touch(std::string_view name) { dirty_[shardOf(name)] = true; }
  std::shared_ptr<const Zone::Shard> buildShard(size_t shard) const;
  // A new snapshot of every name, published to the holder.
  void publish();

  ZoneOptions options_;
  ZoneHolder& holder_;
  std::string apex_;
  Names names_;
  // The names of each shard (views of names_' keys).
  std::vector<std::unordered_set<std::string_view>> shardNames_;
  std::map<NsName, ServiceId> ids_;
  // A digest of each Service's records: a full sync replaces only the
  // Services whose records changed.
  std::unordered_map<ServiceId, uint64_t> digests_;
  // The names each Service gave records to (views of names_' keys: a
  // name stays while it has records).
  std::unordered_map<ServiceId, std::vector<std::string_view>> ownersOf_;
  ServiceId nextId_ = 1;
  std::vector<bool> dirty_;
  std::shared_ptr<const Zone> last_;
};

}  // namespace svcrouter::dns
