// Maps for the table's state kept in memory (plan.h: CurrentState and its
// index), with the interface of the std::map each replaces and a fraction
// of its memory. A std::map spends a 48-64 byte node per entry; the table
// has one per backend and per membership, several times over, for as long
// as the agent runs (at 10,000 services of 10 endpoints, about 20 MiB).
//
//   IdMap<V>        keys are ids the planner hands out lowest first (backend
//                   ids): a vector indexed by id, 4-8 bytes beside each value
//   FlatMap<K, V>   a few entries per owner (a service's members): one
//                   sorted vector
//   HashMap<K, V, H>  many entries looked up by key, never walked in order
//                   (backend ids by address): open addressing, one vector
//
// IdMap and FlatMap iterate in key order, as std::map does; HashMap in no
// order. Entries are moved by insertions and erasures (FlatMap, HashMap)
// or growth, so iterators and references last only until the next change.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace svcrouter {

namespace compact_detail {

// A forward iterator over the occupied slots of Map (IdMap, HashMap): it
// asks the map for slotCount(), occupied(i) and slotAt(i), and skips the
// empty slots.
template <class Map, bool kConst>
class SlotIter {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = typename Map::value_type;
  using difference_type = std::ptrdiff_t;
  using reference = std::conditional_t<kConst, const value_type&, value_type&>;
  using pointer = std::conditional_t<kConst, const value_type*, value_type*>;
  using MapRef = std::conditional_t<kConst, const Map*, Map*>;

  SlotIter() = default;
  SlotIter(MapRef map, size_t i) : map_(map), i_(i) { skip(); }
  operator SlotIter<Map, true>() const { return {map_, i_}; }  // NOLINT: as std::map's
  reference operator*() const { return map_->slotAt(i_); }
  pointer operator->() const { return &map_->slotAt(i_); }
  SlotIter& operator++() {
    ++i_;
    skip();
    return *this;
  }
  SlotIter operator++(int) {
    SlotIter before = *this;
    ++*this;
    return before;
  }
  friend bool operator==(const SlotIter& a, const SlotIter& b) { return a.i_ == b.i_; }

 private:
  void skip() {
    while (map_ && i_ < map_->slotCount() && !map_->occupied(i_)) ++i_;
  }
  MapRef map_ = nullptr;
  size_t i_ = 0;
};

}  // namespace compact_detail

template <class V>
class IdMap {
 public:
  using key_type = uint32_t;
  using mapped_type = V;
  using value_type = std::pair<const uint32_t, V>;

 private:
  using Slot = std::optional<value_type>;
  using Slots = std::vector<Slot>;

  // What SlotIter walks.
  template <class, bool>
  friend class compact_detail::SlotIter;
  size_t slotCount() const { return slots_.size(); }
  bool occupied(size_t i) const { return slots_[i].has_value(); }
  value_type& slotAt(size_t i) { return *slots_[i]; }
  const value_type& slotAt(size_t i) const { return *slots_[i]; }

 public:
  using iterator = compact_detail::SlotIter<IdMap, false>;
  using const_iterator = compact_detail::SlotIter<IdMap, true>;

  IdMap() = default;
  IdMap(std::initializer_list<std::pair<uint32_t, V>> init) {
    for (const auto& [id, v] : init) insert_or_assign(id, v);
  }
  IdMap(const std::map<uint32_t, V>& m) {  // NOLINT: a drop-in
    if (!m.empty()) grow(m.rbegin()->first);
    for (const auto& [id, v] : m) try_emplace(id, v);
  }

  iterator begin() { return {this, 0}; }
  iterator end() { return {this, slots_.size()}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, slots_.size()}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  bool contains(uint32_t id) const { return id < slots_.size() && slots_[id].has_value(); }
  size_t count(uint32_t id) const { return contains(id) ? 1 : 0; }
  iterator find(uint32_t id) { return contains(id) ? iterator(this, id) : end(); }
  const_iterator find(uint32_t id) const {
    return contains(id) ? const_iterator(this, id) : end();
  }
  V& at(uint32_t id) {
    if (!contains(id)) throw std::out_of_range("IdMap::at");
    return slots_[id]->second;
  }
  const V& at(uint32_t id) const {
    if (!contains(id)) throw std::out_of_range("IdMap::at");
    return slots_[id]->second;
  }
  V& operator[](uint32_t id) { return try_emplace(id).first->second; }

  template <class... Args>
  std::pair<iterator, bool> try_emplace(uint32_t id, Args&&... args) {
    if (contains(id)) return {iterator(this, id), false};
    grow(id);
    slots_[id].emplace(std::piecewise_construct, std::forward_as_tuple(id),
                       std::forward_as_tuple(std::forward<Args>(args)...));
    ++size_;
    return {iterator(this, id), true};
  }
  template <class... Args>
  std::pair<iterator, bool> emplace(uint32_t id, Args&&... args) {
    return try_emplace(id, std::forward<Args>(args)...);
  }
  template <class M>
  std::pair<iterator, bool> insert_or_assign(uint32_t id, M&& value) {
    auto [it, added] = try_emplace(id, std::forward<M>(value));
    if (!added) it->second = std::forward<M>(value);
    return {it, added};
  }

  size_t erase(uint32_t id) {
    if (!contains(id)) return 0;
    slots_[id].reset();
    --size_;
    while (!slots_.empty() && !slots_.back()) slots_.pop_back();
    return 1;
  }
  void clear() {
    slots_.clear();
    size_ = 0;
  }

  friend bool operator==(const IdMap& a, const IdMap& b) {
    return a.size_ == b.size_ && std::ranges::equal(a, b);
  }

 private:
  // Room for `id`, growing by half (not doubling): the table is large and
  // kept, and its ids are dense.
  void grow(uint32_t id) {
    if (id < slots_.size()) return;
    if (id >= slots_.capacity())
      slots_.reserve(std::max<size_t>(size_t{id} + 1, slots_.capacity() * 3 / 2 + 16));
    slots_.resize(size_t{id} + 1);
  }

  Slots slots_;
  size_t size_ = 0;
};

template <class K, class V>
class FlatMap {
 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<K, V>;
  using Entries = std::vector<value_type>;
  using iterator = typename Entries::iterator;
  using const_iterator = typename Entries::const_iterator;

  FlatMap() = default;
  FlatMap(std::initializer_list<value_type> init) {
    for (const auto& [k, v] : init) insert_or_assign(k, v);
  }
  // From the std::map a plan builds: already in order.
  FlatMap(const std::map<K, V>& m) : entries_(m.begin(), m.end()) {}  // NOLINT: a drop-in

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  iterator find(const K& k) { return at_or_end(lower(k), k); }
  const_iterator find(const K& k) const {
    auto it = std::ranges::lower_bound(entries_, k, {}, &value_type::first);
    return it != entries_.end() && it->first == k ? it : entries_.end();
  }
  bool contains(const K& k) const { return find(k) != end(); }
  size_t count(const K& k) const { return contains(k) ? 1 : 0; }
  V& at(const K& k) {
    auto it = find(k);
    if (it == end()) throw std::out_of_range("FlatMap::at");
    return it->second;
  }
  const V& at(const K& k) const {
    auto it = find(k);
    if (it == end()) throw std::out_of_range("FlatMap::at");
    return it->second;
  }
  V& operator[](const K& k) { return try_emplace(k).first->second; }

  template <class... Args>
  std::pair<iterator, bool> try_emplace(const K& k, Args&&... args) {
    auto it = lower(k);
    if (it != entries_.end() && it->first == k) return {it, false};
    it = entries_.emplace(it, std::piecewise_construct, std::forward_as_tuple(k),
                          std::forward_as_tuple(std::forward<Args>(args)...));
    return {it, true};
  }
  template <class... Args>
  std::pair<iterator, bool> emplace(const K& k, Args&&... args) {
    return try_emplace(k, std::forward<Args>(args)...);
  }
  template <class M>
  std::pair<iterator, bool> insert_or_assign(const K& k, M&& value) {
    auto [it, added] = try_emplace(k, std::forward<M>(value));
    if (!added) it->second = std::forward<M>(value);
    return {it, added};
  }
  size_t erase(const K& k) {
    auto it = find(k);
    if (it == end()) return 0;
    entries_.erase(it);
    return 1;
  }
  void clear() { entries_.clear(); }

  friend bool operator==(const FlatMap& a, const FlatMap& b) = default;
  friend bool operator==(const FlatMap& a, const std::map<K, V>& b) {
    return a.size() == b.size() &&
           std::ranges::equal(a.entries_, b, [](const auto& x, const auto& y) {
             return x.first == y.first && x.second == y.second;
           });
  }

 private:
  iterator lower(const K& k) {
    return std::ranges::lower_bound(entries_, k, {}, &value_type::first);
  }
  iterator at_or_end(iterator it, const K& k) {
    return it != entries_.end() && it->first == k ? it : entries_.end();
  }

  Entries entries_;
};

template <class K, class V, class Hash>
class HashMap {
 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<K, V>;

 private:
  using Slots = std::vector<value_type>;
  using Used = std::vector<uint8_t>;

  // What SlotIter walks.
  template <class, bool>
  friend class compact_detail::SlotIter;
  size_t slotCount() const { return used_.size(); }
  bool occupied(size_t i) const { return used_[i] != 0; }
  value_type& slotAt(size_t i) { return slots_[i]; }
  const value_type& slotAt(size_t i) const { return slots_[i]; }

 public:
  using iterator = compact_detail::SlotIter<HashMap, false>;
  using const_iterator = compact_detail::SlotIter<HashMap, true>;

  iterator begin() { return {this, 0}; }
  iterator end() { return {this, used_.size()}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, used_.size()}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  iterator find(const K& k) { return {this, position(k)}; }
  const_iterator find(const K& k) const { return {this, position(k)}; }
  bool contains(const K& k) const { return position(k) != used_.size(); }
  size_t count(const K& k) const { return contains(k) ? 1 : 0; }
  V& at(const K& k) {
    size_t i = position(k);
    if (i == used_.size()) throw std::out_of_range("HashMap::at");
    return slots_[i].second;
  }
  const V& at(const K& k) const {
    size_t i = position(k);
    if (i == used_.size()) throw std::out_of_range("HashMap::at");
    return slots_[i].second;
  }
  V& operator[](const K& k) { return try_emplace(k).first->second; }

  template <class... Args>
  std::pair<iterator, bool> try_emplace(const K& k, Args&&... args) {
    if (size_t i = position(k); i != used_.size()) return {iterator(this, i), false};
    // At most 7/8 full: probes stay short.
    if ((size_ + 1) * 8 > used_.size() * 7) rehash(std::max<size_t>(16, used_.size() * 2));
    size_t i = home(k);
    while (used_[i]) i = next(i);
    slots_[i] = value_type(std::piecewise_construct, std::forward_as_tuple(k),
                           std::forward_as_tuple(std::forward<Args>(args)...));
    used_[i] = 1;
    ++size_;
    return {iterator(this, i), true};
  }
  template <class... Args>
  std::pair<iterator, bool> emplace(const K& k, Args&&... args) {
    return try_emplace(k, std::forward<Args>(args)...);
  }
  template <class M>
  std::pair<iterator, bool> insert_or_assign(const K& k, M&& value) {
    auto [it, added] = try_emplace(k, std::forward<M>(value));
    if (!added) it->second = std::forward<M>(value);
    return {it, added};
  }

  size_t erase(const K& k) {
    size_t i = position(k);
    if (i == used_.size()) return 0;
    // Backward shift: each entry after the hole that may live there moves
    // into it, so that no probe ever stops early at a hole (no tombstones).
    used_[i] = 0;
    slots_[i] = value_type();
    for (size_t j = next(i); used_[j]; j = next(j)) {
      size_t ideal = home(slots_[j].first);
      if (((j - ideal) & mask()) >= ((j - i) & mask())) {
        slots_[i] = std::move(slots_[j]);
        used_[i] = 1;
        slots_[j] = value_type();
        used_[j] = 0;
        i = j;
      }
    }
    --size_;
    // An eighth full: half the room (a large table emptied does not keep it).
    if (used_.size() > 16 && size_ * 8 <= used_.size()) rehash(used_.size() / 2);
    return 1;
  }
  void clear() {
    slots_.clear();
    used_.clear();
    size_ = 0;
  }

  friend bool operator==(const HashMap& a, const HashMap& b) {
    if (a.size_ != b.size_) return false;
    for (const auto& [k, v] : a) {
      auto it = b.find(k);
      if (it == b.end() || !(it->second == v)) return false;
    }
    return true;
  }

 private:
  size_t mask() const { return used_.size() - 1; }
  size_t home(const K& k) const { return Hash()(k) & mask(); }
  size_t next(size_t i) const { return (i + 1) & mask(); }
  // The slot of k, or used_.size() if it is not there.
  size_t position(const K& k) const {
    if (size_ == 0) return used_.size();
    for (size_t i = home(k); used_[i]; i = next(i))
      if (slots_[i].first == k) return i;
    return used_.size();
  }
  void rehash(size_t slots) {  // slots: a power of two
    Slots old = std::exchange(slots_, Slots(slots));
    Used oldUsed = std::exchange(used_, Used(slots, 0));
    for (size_t i = 0; i < old.size(); ++i) {
      if (!oldUsed[i]) continue;
      size_t j = home(old[i].first);
      while (used_[j]) j = next(j);
      slots_[j] = std::move(old[i]);
      used_[j] = 1;
    }
  }

  Slots slots_;
  Used used_;
  size_t size_ = 0;
};

}  // namespace svcrouter
