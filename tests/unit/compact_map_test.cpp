// IdMap and FlatMap (maps/compact_map.h) stand in for std::map in the
// table's kept state: replayed against a std::map, operation by operation,
// they must hold and iterate the same entries.
#include "maps/compact_map.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "maps/addr.h"

namespace svcrouter {
namespace {

template <class M, class V>
void expectSame(const M& m, const std::map<uint32_t, V>& model) {
  ASSERT_EQ(m.size(), model.size());
  ASSERT_EQ(m.empty(), model.empty());
  auto it = model.begin();
  for (const auto& [k, v] : m) {  // in key order, as std::map
    ASSERT_EQ(k, it->first);
    ASSERT_EQ(v, it->second);
    ++it;
  }
  for (uint32_t k = 0; k < 70; ++k) {
    ASSERT_EQ(m.contains(k), model.contains(k)) << k;
    ASSERT_EQ(m.find(k) != m.end(), model.contains(k)) << k;
    if (model.contains(k)) {
      ASSERT_EQ(m.at(k), model.at(k)) << k;
    }
  }
}

template <class M>
void replay(uint32_t seed) {
  std::mt19937 rng(seed);
  M m;
  std::map<uint32_t, uint32_t> model;
  for (int step = 0; step < 3000; ++step) {
    uint32_t k = rng() % 64, v = rng();
    switch (rng() % 6) {
      case 0:
        m[k] = v;
        model[k] = v;
        break;
      case 1:
        ++m[k];
        ++model[k];
        break;
      case 2:
        ASSERT_EQ(m.try_emplace(k, v).second, model.try_emplace(k, v).second);
        break;
      case 3:
        m.insert_or_assign(k, v);
        model.insert_or_assign(k, v);
        break;
      case 4:
        ASSERT_EQ(m.erase(k), model.erase(k));
        break;
      case 5:
        if (auto it = m.find(k); it != m.end()) it->second = v;
        if (auto it = model.find(k); it != model.end()) it->second = v;
        break;
    }
    ASSERT_NO_FATAL_FAILURE(expectSame(m, model)) << "step " << step;
  }
  M copy = m;
  EXPECT_TRUE(copy == m);
  if (!model.empty()) {
    copy.erase(model.begin()->first);
    EXPECT_FALSE(copy == m);
  }
  m.clear();
  expectSame(m, std::map<uint32_t, uint32_t>{});
}

TEST(CompactMap, IdMapIsAStdMap) {
  for (uint32_t seed = 1; seed <= 5; ++seed) ASSERT_NO_FATAL_FAILURE(replay<IdMap<uint32_t>>(seed));
}

TEST(CompactMap, FlatMapIsAStdMap) {
  for (uint32_t seed = 1; seed <= 5; ++seed)
    ASSERT_NO_FATAL_FAILURE((replay<FlatMap<uint32_t, uint32_t>>(seed)));
}

// A poor hash, so that probes collide and erasures shift entries back.
struct Mod7 {
  size_t operator()(uint32_t k) const { return k % 7; }
};

TEST(CompactMap, HashMapIsAStdMapButUnordered) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    HashMap<uint32_t, uint32_t, Mod7> m;
    std::map<uint32_t, uint32_t> model;
    for (int step = 0; step < 5000; ++step) {
      uint32_t k = rng() % 200, v = rng();
      switch (rng() % 4) {
        case 0:
          m[k] = v;
          model[k] = v;
          break;
        case 1:
          ASSERT_EQ(m.try_emplace(k, v).second, model.try_emplace(k, v).second);
          break;
        case 2:
        case 3:
          ASSERT_EQ(m.erase(k), model.erase(k));
          break;
      }
      ASSERT_EQ(m.size(), model.size());
      std::map<uint32_t, uint32_t> walked(m.begin(), m.end());
      ASSERT_EQ(walked, model) << "step " << step;
      for (uint32_t q = 0; q < 200; q += 13) {
        ASSERT_EQ(m.contains(q), model.contains(q));
        if (model.contains(q)) {
          ASSERT_EQ(m.find(q)->second, model.at(q));
        }
      }
    }
    HashMap<uint32_t, uint32_t, Mod7> copy = m;
    EXPECT_TRUE(copy == m);
    for (const auto& [k, v] : model) m.erase(k);  // shrinks as it empties
    EXPECT_TRUE(m.empty());
    EXPECT_FALSE(copy == m);
  }
}

TEST(CompactMap, FromAndAgainstStdMap) {
  std::map<uint32_t, uint32_t> m = {{3, 30}, {1, 10}, {40, 400}};
  IdMap<uint32_t> ids(m);
  FlatMap<uint32_t, uint32_t> flat(m);
  expectSame(ids, m);
  expectSame(flat, m);
  EXPECT_TRUE(flat == m);
  m[2] = 20;
  EXPECT_TRUE(flat != m);
  EXPECT_THROW((void)ids.at(2), std::out_of_range);
  EXPECT_THROW((void)flat.at(2), std::out_of_range);
}

TEST(CompactMap, IdMapHoldsAddressesAndShrinks) {
  IdMap<BackendAddr> backends;
  BackendAddr a{*IpAddr::parse("10.0.0.1"), 80, Protocol::kTcp};
  backends[7] = a;
  backends.try_emplace(2, a);
  EXPECT_EQ(backends.size(), 2u);
  EXPECT_EQ(backends.begin()->first, 2u);  // the first id in use, not slot 0
  backends.erase(7);
  backends.erase(2);
  EXPECT_TRUE(backends.empty());
  EXPECT_EQ(backends.begin(), backends.end());
}

}  // namespace
}  // namespace svcrouter
