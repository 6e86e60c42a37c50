#include "userspace/dns/zone.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <tuple>

namespace svcrouter::dns {

namespace {

// A CNAME chain inside the zone is followed this far (ExternalName
// Services naming each other).
constexpr int kMaxChain = 8;
// The SOA's timers (RFC 1912's usual values); its minimum is the negative TTL.
constexpr uint32_t kSoaRefresh = 7200, kSoaRetry = 1800, kSoaExpire = 86400;
// Pointers reach the first 16 KiB of a message.
constexpr size_t kMaxPointer = 0x3fff;

std::string_view protoLabel(Protocol p) { return p == Protocol::kUdp ? "_udp" : "_tcp"; }

std::string srvOwner(std::string_view port, Protocol proto, std::string_view base) {
  return prefixLabel("_" + std::string(port), prefixLabel(protoLabel(proto), base));
}

// The name a CNAME record's tail points at (its RDATA, uncompressed).
std::string_view cnameTarget(std::string_view tails) {
  std::string_view target;
  forEachTail(tails, [&](std::string_view tail) {
    if (target.empty()) target = tail.substr(10);
  });
  return target;
}

}  // namespace

namespace {

uint32_t read32(std::string_view s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

uint16_t read16(std::string_view s, size_t at) {
  uint16_t v;
  std::memcpy(&v, s.data() + at, 2);
  return v;
}

template <typename T>
void append(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

}  // namespace

Zone::RRset Zone::Node::read(std::string_view& rest) {
  RRset set{read16(rest, 0), read16(rest, 2), {}};
  uint32_t size = read32(rest, 4);
  set.tails = rest.substr(8, size);
  rest.remove_prefix(8 + size);
  return set;
}

std::optional<Zone::RRset> Zone::Node::find(uint16_t type) const {
  std::string_view rest = sets_;
  for (uint8_t i = 0; i < count_; ++i) {
    RRset set = read(rest);
    if (set.type == type) return set;
  }
  return std::nullopt;
}

std::optional<Zone::Node> Zone::find(std::string_view lowerName) const {
  const size_t hash = hashOf(lowerName);
  std::string_view block = blocks_[hash % kShards];
  if (block.empty()) return std::nullopt;
  const uint32_t mask = read32(block, 0);
  const auto want = static_cast<uint32_t>(hash);
  for (size_t slot = (hash / kShards) & mask;; slot = (slot + 1) & mask) {
    uint32_t at = read32(block, 4 + 4 * slot);
    if (at-- == 0) return std::nullopt;
    if (read32(block, at) != want) continue;
    auto size = static_cast<uint8_t>(block[at + 4]);
    if (block.substr(at + 5, size) != lowerName) continue;
    Node node;
    node.count_ = static_cast<uint8_t>(block[at + 5 + size]);
    // The entry's sets run to the next entry; the view ends with the block.
    node.sets_ = block.substr(at + 6 + size);
    return node;
  }
}

std::map<std::string, std::string> Zone::contents() const {
  std::map<std::string, std::string> out;
  for (const auto& shard : shards_) {
    if (!shard) continue;
    std::string_view block = shard->block;
    const uint32_t mask = read32(block, 0);
    for (uint32_t slot = 0; slot <= mask; ++slot) {
      uint32_t at = read32(block, 4 + 4 * slot);
      if (at-- == 0) continue;
      auto size = static_cast<uint8_t>(block[at + 4]);
      std::string name(block.substr(at + 5, size));
      auto node = find(name);
      std::string& records = out[dottedName(name)];
      node->forEach([&](const RRset& set) {
        // The SOA's serial is the time of the snapshot: left out.
        records += set.type == kTypeSoa ? std::string("SOA")
                                        : std::to_string(set.type) + ":" + std::string(set.tails);
      });
    }
  }
  return out;
}

void Zone::negative(uint16_t rcode, std::string_view name, uint16_t owner, MessageWriter& w) const {
  w.setRcode(rcode);
  // RFC 2308: the zone's SOA, so that resolvers cache the denial for its
  // minimum; owned by the domain's suffix of the name in the message.
  auto at = suffixAt(name, apex_);
  if (!at) return;
  if (owner + *at <= kMaxPointer)
    w.record(MessageWriter::kAuthority, static_cast<uint16_t>(owner + *at), soaTail_);
  else
    w.recordNamed(MessageWriter::kAuthority, apex_, soaTail_);
}

bool Zone::answerPod(std::string_view name, uint16_t type, uint16_t owner, MessageWriter& w) const {
  auto at = suffixAt(name, podZone_);
  if (!at || *at == 0) return false;
  size_t labels = 0;
  for (size_t pos = 0; pos < *at; pos += static_cast<uint8_t>(name[pos]) + 1) ++labels;
  if (labels == 1) {  // <namespace>.pod.<domain>: a name with names below it
    negative(kNoError, name, owner, w);
    return true;
  }
  auto ip = labels == 2 ? parseDashedLabel(firstLabel(name)) : std::nullopt;
  if (!ip) {
    negative(kNxDomain, name, owner, w);
    return true;
  }
  uint16_t have = ip->isV4() ? kTypeA : kTypeAaaa;
  if (type != have && type != kTypeAny) {
    negative(kNoError, name, owner, w);
    return true;
  }
  w.record(MessageWriter::kAnswer, owner, recordTail(have, ttl_, addressRdata(*ip)));
  return true;
}

Zone::Outcome Zone::answer(std::string_view name, uint16_t type, MessageWriter& w,
                           std::string* target) const {
  std::string_view current = name;
  uint16_t owner = static_cast<uint16_t>(kHeaderSize);
  for (int hop = 0; hop < kMaxChain; ++hop) {
    const std::optional<Node> node = find(current);
    if (!node) {
      if (!inDomain(current)) {
        if (hop == 0) return Outcome::kNotOurs;
        if (target) *target = std::string(current);
        return Outcome::kChase;
      }
      w.setFlags(kFlagAa);
      if (!answerPod(current, type, owner, w)) negative(kNxDomain, current, owner, w);
      return Outcome::kAnswered;
    }
    w.setFlags(kFlagAa);
    if (type == kTypeAny) {
      node->forEach([&](const RRset& set) { w.records(MessageWriter::kAnswer, owner, set.tails); });
      if (node->empty()) negative(kNoError, current, owner, w);
      return Outcome::kAnswered;
    }
    if (auto set = node->find(type)) {
      w.records(MessageWriter::kAnswer, owner, set->tails);
      return Outcome::kAnswered;
    }
    auto cname = node->find(kTypeCname);
    if (!cname) {
      negative(kNoError, current, owner, w);  // NODATA: the name is there, not the type
      return Outcome::kAnswered;
    }
    size_t rdataAt = 0;
    if (!w.records(MessageWriter::kAnswer, owner, cname->tails, &rdataAt) || rdataAt > kMaxPointer)
      return Outcome::kAnswered;  // truncated: the client asks again over TCP
    current = cnameTarget(cname->tails);
    owner = static_cast<uint16_t>(rdataAt);
  }
  w.setRcode(kServFail);  // a loop of ExternalNames
  return Outcome::kAnswered;
}

// ---- ZoneBuilder ----

ZoneBuilder::ZoneBuilder(ZoneOptions options, ZoneHolder& holder)
    : options_(std::move(options)),
      holder_(holder),
      shardNames_(Zone::kShards),
      dirty_(Zone::kShards, true) {
  apex_ = lowerName(nameFromDotted(options_.domain).value_or(std::string(1, '\0')));
  add(0, {prefixLabel("dns-version", apex_), kTypeTxt,
          recordTail(kTypeTxt, options_.ttl, txtRdata(kSchemaVersion))});
  // pod.<domain> has names below it, whichever namespaces ask.
  auto pod = entry(prefixLabel("pod", apex_));
  ++pod->second.children;
  parentCounts(pod->first, +1);
}

std::vector<ZoneBuilder::Record> ZoneBuilder::serviceRecords(
    const Service& svc, const std::vector<const EndpointSlice*>& slices) const {
  std::vector<Record> out;
  const std::string base = prefixLabel(svc.name, prefixLabel(svc.ns, prefixLabel("svc", apex_)));
  if (base.empty()) return out;  // longer than a name can be
  auto add = [&](std::string owner, uint16_t type, std::string_view rdata) {
    if (owner.empty()) return;
    out.push_back({std::move(owner), type, recordTail(type, options_.ttl, rdata)});
  };
  if (svc.type == ServiceType::kExternalName) {
    if (auto target = nameFromDotted(svc.externalName)) add(base, kTypeCname, lowerName(*target));
    return out;
  }
  // A Service with a ClusterIP: its addresses, their reverse names and an
  // SRV record per named port, pointing at the Service.
  for (const IpAddr& ip : svc.clusterIPs) {
    add(base, ip.isV4() ? kTypeA : kTypeAaaa, addressRdata(ip));
    add(reverseName(ip), kTypePtr, base);
  }
  if (!svc.headless)
    for (const ServicePort& p : svc.ports)
      if (!p.name.empty())
        add(srvOwner(p.name, p.protocol, base), kTypeSrv, srvRdata(0, 100, p.port, base));

  // Ready endpoints, of any Service, as CoreDNS answers them:
  // <hostname>.<service>... (the endpoint's hostname, else its address
  // with dashes) and the reverse name of the address. A headless Service's
  // own name holds their addresses, and its SRV records point at them.
  struct Srv {
    std::string owner;
    uint16_t port;
    std::string target;
    auto operator<=>(const Srv&) const = default;
  };
  std::vector<Srv> srvs;
  for (const EndpointSlice* slice : slices) {
    if (slice->addressType == AddressType::kFQDN) continue;
    for (const Endpoint& ep : slice->endpoints) {
      if (!ep.conditions.ready.value_or(true)) continue;
      for (const IpAddr& addr : ep.addresses) {
        std::string host = prefixLabel(ep.hostname.empty() ? dashedLabel(addr) : ep.hostname, base);
        if (host.empty()) continue;
        uint16_t type = addr.isV4() ? kTypeA : kTypeAaaa;
        add(host, type, addressRdata(addr));
        add(reverseName(addr), kTypePtr, host);
        if (!svc.headless) continue;
        add(base, type, addressRdata(addr));
        for (const EndpointPort& p : slice->ports)
          if (!p.name.empty() && p.port)
            srvs.push_back({srvOwner(p.name, p.protocol, base), *p.port, host});
      }
    }
  }
  std::sort(srvs.begin(), srvs.end());
  srvs.erase(std::unique(srvs.begin(), srvs.end()), srvs.end());
  // Equal weights that add up to about 100 (RFC 2782 leaves them to us).
  for (size_t i = 0; i < srvs.size();) {
    size_t j = i;
    while (j < srvs.size() && srvs[j].owner == srvs[i].owner) ++j;
    auto weight = static_cast<uint16_t>(std::max<size_t>(1, 100 / (j - i)));
    for (; i < j; ++i)
      add(srvs[i].owner, kTypeSrv, srvRdata(0, weight, srvs[i].port, srvs[i].target));
  }
  return out;
}

ZoneBuilder::Names::iterator ZoneBuilder::entry(std::string_view name) {
  auto it = names_.find(name);
  if (it != names_.end()) return it;
  it = names_.emplace(std::string(name), Name{}).first;
  shardNames_[shardOf(name)].insert(it->first);
  return it;
}

void ZoneBuilder::parentCounts(std::string_view name, int delta) {
  // Reverse names: not ours to say what is above them.
  while (name.size() > apex_.size() && suffixAt(name, apex_)) {
    std::string_view parent = name.substr(static_cast<uint8_t>(name[0]) + 1);
    auto it = entry(parent);
    bool before = it->second.exists();
    it->second.children += delta;
    bool after = it->second.exists();
    if (before == after) return;  // what the zone holds of it is the same
    touch(parent);
    if (!after) dropIfEmpty(it);
    name = parent;
  }
}

void ZoneBuilder::dropIfEmpty(Names::iterator it) {
  if (it->second.exists()) return;
  shardNames_[shardOf(it->first)].erase(it->first);
  names_.erase(it);
}

void ZoneBuilder::add(ServiceId service, Record record) {
  if (record.owner.empty()) return;
  touch(record.owner);
  auto it = entry(record.owner);
  if (!it->second.exists()) parentCounts(it->first, +1);
  it->second.items.push_back({service, record.type, std::move(record.tail)});
  if (service != 0) ownersOf_[service].push_back(it->first);
}

void ZoneBuilder::removeService(ServiceId service) {
  auto owners = ownersOf_.extract(service);
  if (owners.empty()) return;
  auto& list = owners.mapped();
  std::sort(list.begin(), list.end());
  list.erase(std::unique(list.begin(), list.end()), list.end());
  for (std::string_view owner : list) {
    auto it = names_.find(owner);
    if (it == names_.end()) continue;
    touch(owner);
    std::erase_if(it->second.items, [&](const Item& i) { return i.service == service; });
    if (it->second.exists()) continue;
    std::string name(owner);  // the view dies with the entry
    dropIfEmpty(it);
    parentCounts(name, -1);
  }
}

std::shared_ptr<const Zone::Shard> ZoneBuilder::buildShard(size_t shard) const {
  const auto& names = shardNames_[shard];
  if (names.empty()) return nullptr;
  // Slots for twice the names, a power of two: short probes.
  uint32_t slots = 4;
  while (slots < 2 * names.size()) slots *= 2;
  auto out = std::make_shared<Zone::Shard>();
  std::string& block = out->block;
  append(block, slots - 1);
  block.append(4 * slots, '\0');
  std::vector<std::pair<uint16_t, std::string_view>> records;
  std::string tails;
  for (std::string_view name : names) {
    const Name& n = names_.find(name)->second;
    const size_t hash = Zone::hashOf(name);
    // Each type's records sorted and each once (an RRset is a set: two
    // Services may give an address the same reverse name).
    records.clear();
    for (const Item& i : n.items) records.emplace_back(i.type, i.tail);
    std::sort(records.begin(), records.end());
    records.erase(std::unique(records.begin(), records.end()), records.end());
    const auto at = static_cast<uint32_t>(block.size());
    append(block, static_cast<uint32_t>(hash));
    block.push_back(static_cast<char>(name.size()));
    block.append(name);
    const size_t typesAt = block.size();
    block.push_back(0);
    for (size_t k = 0; k < records.size();) {
      const uint16_t type = records[k].first;
      uint16_t count = 0;
      tails.clear();
      for (; k < records.size() && records[k].first == type; ++k, ++count)
        tails += records[k].second;
      append(block, type);
      append(block, count);
      append(block, static_cast<uint32_t>(tails.size()));
      block += tails;
      ++block[typesAt];
    }
    uint32_t mask = slots - 1;
    for (size_t slot = (hash / Zone::kShards) & mask;; slot = (slot + 1) & mask) {
      if (read32(block, 4 + 4 * slot) != 0) continue;
      uint32_t value = at + 1;
      std::memcpy(block.data() + 4 + 4 * slot, &value, 4);
      break;
    }
  }
  return out;
}

void ZoneBuilder::publish() {
  auto zone = std::make_shared<Zone>();
  zone->apex_ = apex_;
  zone->ttl_ = options_.ttl;
  zone->podZone_ = prefixLabel("pod", apex_);
  // The SOA (its serial the time of the snapshot); its minimum is the
  // negative TTL.
  auto serial = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  zone->soaTail_ = recordTail(
      kTypeSoa, options_.ttl,
      soaRdata(prefixLabel("ns", prefixLabel("dns", apex_)), prefixLabel("hostmaster", apex_),
               serial, kSoaRefresh, kSoaRetry, kSoaExpire, options_.ttl));
  auto apex = entry(apex_);
  std::erase_if(apex->second.items, [](const Item& i) { return i.type == kTypeSoa; });
  apex->second.items.push_back({0, kTypeSoa, zone->soaTail_});
  touch(apex_);
  zone->shards_ =
      last_ ? last_->shards_ : std::vector<std::shared_ptr<const Zone::Shard>>(Zone::kShards);
  zone->blocks_.resize(Zone::kShards);
  for (size_t i = 0; i < Zone::kShards; ++i) {
    if (dirty_[i]) zone->shards_[i] = buildShard(i);
    if (zone->shards_[i]) zone->blocks_[i] = zone->shards_[i]->block;
  }
  std::fill(dirty_.begin(), dirty_.end(), false);
  zone->names_ = names_.size();
  last_ = zone;
  holder_.set(std::move(zone));
}

std::set<ZoneBuilder::ServiceId> ZoneBuilder::addServices(const Objects& objects,
                                                          const std::set<NsName>* only) {
  std::map<NsName, std::vector<const EndpointSlice*>> slicesOf;
  for (const EndpointSlice& slice : objects.slices)
    if (!slice.serviceName.empty()) slicesOf[{slice.ns, slice.serviceName}].push_back(&slice);
  static const std::vector<const EndpointSlice*> kNone;
  std::set<ServiceId> held;
  for (const Service& svc : objects.services) {
    NsName name{svc.ns, svc.name};
    if (only && !only->contains(name)) continue;
    auto it = slicesOf.find(name);
    auto records = serviceRecords(svc, it == slicesOf.end() ? kNone : it->second);
    // FNV-1a over the records: the same digest, the same records.
    uint64_t digest = 14695981039346656037ull;
    auto mix = [&](std::string_view bytes) {
      for (char c : bytes) digest = (digest ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    };
    for (const Record& r : records) {
      mix(r.owner);
      mix({reinterpret_cast<const char*>(&r.type), sizeof(r.type)});
      mix(r.tail);
    }
    auto [id, created] = ids_.try_emplace(name, nextId_);
    if (created) ++nextId_;
    held.insert(id->second);
    if (!created && digests_[id->second] == digest) continue;  // unchanged
    removeService(id->second);
    digests_[id->second] = digest;
    for (auto& r : records) add(id->second, std::move(r));
  }
  return held;
}

void ZoneBuilder::replaceAll(const Objects& objects) {
  auto held = addServices(objects, nullptr);
  for (auto it = ids_.begin(); it != ids_.end();) {
    if (held.contains(it->second)) {
      ++it;
      continue;
    }
    removeService(it->second);
    digests_.erase(it->second);
    it = ids_.erase(it);
  }
  publish();
}

void ZoneBuilder::replaceServices(const std::set<NsName>& names, const Objects& objects) {
  auto held = addServices(objects, &names);
  for (const auto& name : names) {
    auto it = ids_.find(name);
    if (it == ids_.end() || held.contains(it->second)) continue;
    removeService(it->second);
    digests_.erase(it->second);
    ids_.erase(it);
  }
  publish();
}

}  // namespace svcrouter::dns
