// The emulator's pure parts, without a network: selectors, the store's
// history and snapshots, continue tokens. The wire format itself is checked
// with real clients by test_apiserver_wire.sh.
#include <gtest/gtest.h>

#include "continue_token.h"
#include "selector.h"
#include "store.h"

namespace apiserver {
namespace {

using nlohmann::json;

bool labelsMatch(std::string_view selector, const json& labels) {
  auto parsed = LabelSelector::parse(selector);
  EXPECT_TRUE(parsed.has_value()) << selector << ": " << parsed.error();
  return parsed && parsed->matches(labels);
}

TEST(LabelSelector, EqualityAndExistence) {
  json labels = {{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE(labelsMatch("", labels));
  EXPECT_TRUE(labelsMatch("", nullptr));
  EXPECT_TRUE(labelsMatch("app", labels));
  EXPECT_FALSE(labelsMatch("!app", labels));
  EXPECT_TRUE(labelsMatch("!missing", labels));
  EXPECT_TRUE(labelsMatch("app=web", labels));
  EXPECT_TRUE(labelsMatch("app==web", labels));
  EXPECT_FALSE(labelsMatch("app=db", labels));
  EXPECT_TRUE(labelsMatch("app!=db", labels));
  EXPECT_FALSE(labelsMatch("app!=web", labels));
  EXPECT_TRUE(labelsMatch("missing!=x", labels)) << "!= matches an object without the label";
  EXPECT_TRUE(labelsMatch("app=web, tier=front", labels));
  EXPECT_FALSE(labelsMatch("app=web,tier=back", labels));
}

TEST(LabelSelector, SetBased) {
  json labels = {{"app", "web"}};
  EXPECT_TRUE(labelsMatch("app in (db,web)", labels));
  EXPECT_FALSE(labelsMatch("app in (db)", labels));
  EXPECT_TRUE(labelsMatch("app notin (db)", labels));
  EXPECT_TRUE(labelsMatch("missing notin (db)", labels));
  EXPECT_TRUE(labelsMatch("app in (db, web),!gone", labels));
}

TEST(LabelSelector, KubeProxysSelector) {
  const char* selector =
      "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name";
  EXPECT_TRUE(labelsMatch(selector, json::object()));
  EXPECT_TRUE(labelsMatch(selector, nullptr));
  EXPECT_FALSE(labelsMatch(selector, {{"service.kubernetes.io/headless", ""}}));
  EXPECT_FALSE(labelsMatch(selector, {{"service.kubernetes.io/service-proxy-name", "x"}}));
}

TEST(LabelSelector, RejectsWhatIsNotOne) {
  for (const char* bad : {"a b", "=x", "a in (x", "!", "a,,b", "a!x", "a=b c"}) {
    EXPECT_FALSE(LabelSelector::parse(bad).has_value()) << bad;
  }
}

TEST(FieldSelector, NameAndNamespace) {
  auto selector = FieldSelector::parse("metadata.name=web,metadata.namespace!=kube-system");
  ASSERT_TRUE(selector.has_value()) << selector.error();
  EXPECT_TRUE(selector->matches("default", "web"));
  EXPECT_FALSE(selector->matches("kube-system", "web"));
  EXPECT_FALSE(selector->matches("default", "db"));
  EXPECT_TRUE(FieldSelector::parse("metadata.name==web")->matches("", "web"));
  EXPECT_FALSE(FieldSelector::parse("spec.clusterIP=1.2.3.4").has_value());
  EXPECT_FALSE(FieldSelector::parse("metadata.name").has_value());
}

json service(const std::string& name, json labels = json::object()) {
  return {{"kind", "Service"}, {"metadata", {{"name", name}, {"labels", labels}}}};
}

std::vector<std::string> names(const Store::Snapshot& snap) {
  std::vector<std::string> out;
  for (const auto& o : snap.objects)
    out.push_back(o->name + "@" + std::to_string(o->resourceVersion));
  return out;
}

TEST(Store, EveryChangeGetsTheNextResourceVersion) {
  Store store(100);
  uint64_t start = store.resourceVersion();
  auto stored = store.put({service("a"), service("b")});
  ASSERT_TRUE(stored.has_value()) << stored.error();
  EXPECT_EQ((*stored)[0]->resourceVersion, start + 1);
  EXPECT_EQ((*stored)[1]->resourceVersion, start + 2);
  EXPECT_EQ((*stored)[0]->doc["metadata"]["resourceVersion"], std::to_string(start + 1));
  EXPECT_EQ((*stored)[0]->ns, "default");
  EXPECT_EQ((*stored)[0]->doc["apiVersion"], "v1");
  EXPECT_EQ(json::parse((*stored)[0]->itemWire).count("kind"), 0u) << "list items carry no kind";

  ObjectPtr deleted = store.remove(Kind::kService, "default", "a");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->resourceVersion, start + 3);
  EXPECT_FALSE(store.remove(Kind::kService, "default", "a"));
  EXPECT_EQ(store.resourceVersion(), start + 3);

  auto changes = store.changesAfter(start, 10);
  ASSERT_TRUE(changes.has_value());
  ASSERT_EQ(changes->size(), 3u);
  EXPECT_EQ((*changes)[2].type, EventType::kDeleted);
  EXPECT_EQ((*changes)[2].previous->resourceVersion, start + 1) << "the last state before";
}

TEST(Store, AReplacementKeepsTheIdentity) {
  Store store(100);
  auto first = store.put({service("a")});
  auto second = store.put({service("a", {{"x", "y"}})});
  ASSERT_TRUE(first && second);
  const json& before = (*first)[0]->doc["metadata"];
  const json& after = (*second)[0]->doc["metadata"];
  EXPECT_FALSE(before["uid"].get<std::string>().empty());
  EXPECT_EQ(before["uid"], after["uid"]);
  EXPECT_EQ(before["creationTimestamp"], after["creationTimestamp"]);
  auto changes = store.changesAfter((*first)[0]->resourceVersion, 10);
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].type, EventType::kModified);
}

TEST(Store, AnInvalidObjectStoresNothing) {
  Store store(100);
  uint64_t start = store.resourceVersion();
  auto result = store.put({service("a"), json{{"kind", "Pod"}, {"metadata", {{"name", "p"}}}}});
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().find("object 1"), std::string::npos) << result.error();
  EXPECT_EQ(store.resourceVersion(), start);
  EXPECT_FALSE(store.get(Kind::kService, "default", "a"));
  EXPECT_FALSE(store.put({json{{"kind", "Service"}, {"metadata", json::object()}}}).has_value());
}

TEST(Store, NodesHaveNoNamespace) {
  Store store(100);
  auto stored =
      store.put({json{{"kind", "node"}, {"metadata", {{"name", "n1"}, {"namespace", "x"}}}}});
  ASSERT_TRUE(stored.has_value()) << stored.error();
  EXPECT_EQ((*stored)[0]->ns, "");
  EXPECT_EQ((*stored)[0]->doc["kind"], "Node");
  EXPECT_FALSE((*stored)[0]->doc["metadata"].contains("namespace"));
  EXPECT_TRUE(store.get(Kind::kNode, "", "n1"));
}

TEST(Store, SnapshotsOfThePast) {
  Store store(100);
  ASSERT_TRUE(store.put({service("a"), service("b"), service("c")}));
  auto then = store.snapshot(Kind::kService);
  ASSERT_TRUE(then);
  ASSERT_TRUE(store.put({service("b", {{"x", "y"}}), service("d")}));
  store.remove(Kind::kService, "default", "a");
  ASSERT_TRUE(store.put({json{{"kind", "Node"}, {"metadata", {{"name", "n"}}}}}));

  auto now = store.snapshot(Kind::kService);
  EXPECT_EQ(names(*now), (std::vector<std::string>{"b@5", "c@4", "d@6"}));
  auto past = store.snapshot(Kind::kService, then->id);
  ASSERT_TRUE(past);
  EXPECT_EQ(past->id.resourceVersion, then->id.resourceVersion);
  EXPECT_EQ(names(*past), names(*then));
  EXPECT_EQ(names(*past), (std::vector<std::string>{"a@2", "b@3", "c@4"}));
}

TEST(Store, ThePagesOfAListShareOneSnapshot) {
  Store store(100);
  ASSERT_TRUE(store.put({service("a"), service("b")}));
  auto first = store.snapshot(Kind::kService);
  ASSERT_TRUE(first);
  EXPECT_EQ(store.snapshot(Kind::kService, first->id), first) << "made once";
  ASSERT_TRUE(store.put({service("c")}));
  auto later = store.snapshot(Kind::kService, first->id);  // a page after a change
  EXPECT_EQ(later, first);
  EXPECT_EQ(names(*later), (std::vector<std::string>{"a@2", "b@3"}));
  EXPECT_NE(store.snapshot(Kind::kService), first) << "the present is another snapshot";
  EXPECT_EQ(store.snapshot(Kind::kService)->objects.size(), 3u);
}

TEST(Store, AShortHistoryForgetsTheOldest) {
  Store store(2);
  uint64_t start = store.resourceVersion();
  auto before = store.snapshot(Kind::kService);
  ASSERT_TRUE(store.put({service("a"), service("b"), service("c")}));
  EXPECT_FALSE(store.changesAfter(start, 10).has_value());
  EXPECT_FALSE(store.snapshot(Kind::kService, before->id));
  EXPECT_EQ(store.compactedVersion(), start + 1);
  auto kept = store.changesAfter(start + 1, 10);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->size(), 2u);
}

TEST(Store, CompactionExpiresTheHistoryAndEverySnapshot) {
  Store store(100);
  ASSERT_TRUE(store.put({service("a")}));
  uint64_t old = store.resourceVersion();
  ASSERT_TRUE(store.put({service("b")}));
  auto snap = store.snapshot(Kind::kService);
  store.compact();
  EXPECT_FALSE(store.changesAfter(old, 10).has_value());
  EXPECT_TRUE(store.changesAfter(store.resourceVersion(), 10).has_value()) << "now is not too old";
  EXPECT_FALSE(store.snapshot(Kind::kService, snap->id))
      << "a snapshot taken before a compaction expires, even at the newest resourceVersion";
}

TEST(ContinueToken, RoundTrip) {
  ContinueToken token{{42, 3}, "default", "web-1"};
  std::string text = token.encode();
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << "safe in a query: " << text;
  auto back = ContinueToken::decode(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->snapshot.resourceVersion, 42u);
  EXPECT_EQ(back->snapshot.epoch, 3u);
  EXPECT_EQ(back->ns, "default");
  EXPECT_EQ(back->name, "web-1");
  for (const char* bad : {"", "x", "not a token!", "e30"}) {
    EXPECT_FALSE(ContinueToken::decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace apiserver
