// What the agent takes from the API server, and its bounds: the response
// reader under libcurl (ResponseReader), list pages and watch events
// (parseListPage, parseWatchEvent), JSON's nesting (parseJson), and the
// client's limits against a real HTTP server on the loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "userspace/k8s/api_client.h"
#include "userspace/k8s/json_doc.h"
#include "userspace/k8s/reflector.h"

namespace svcrouter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr ResponseLimits kSmall{.body = 100, .line = 10};

TEST(ResponseReader, ABodyOverTheLimitEndsTheTransfer) {
  ResponseReader r(kSmall);
  r.header("HTTP/1.1 200 OK\r\n");
  EXPECT_TRUE(r.body(std::string(60, 'a')));
  EXPECT_TRUE(r.body(std::string(40, 'b')));  // exactly the limit
  EXPECT_EQ(r.overLimit(), "");
  EXPECT_FALSE(r.body("c"));
  EXPECT_EQ(r.overLimit(), "the response is larger than 100 bytes");
  EXPECT_EQ(r.response().body.size(), 100u);
}

TEST(ResponseReader, LinesAreHandedOverWholeWhateverThePieces) {
  std::vector<std::string> lines;
  std::function<bool(std::string_view)> onLine = [&](std::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  ResponseReader r(kSmall, &onLine);
  r.header("HTTP/1.1 200 OK\r\n");
  for (std::string_view piece : {"ab", "c\nde", "f\n\nghij", "klmn\no", "p"})
    ASSERT_TRUE(r.body(piece)) << piece << ": " << r.overLimit();
  EXPECT_THAT(lines, ElementsAre("abc", "def", "", "ghijklmn"));
  EXPECT_EQ(r.response().body, "op");  // what is left unread
}

TEST(ResponseReader, ALineOverTheLimitEndsTheWatch) {
  std::function<bool(std::string_view)> onLine = [](std::string_view) { return true; };
  {  // arriving in pieces, without its end yet
    ResponseReader r(kSmall, &onLine);
    r.header("HTTP/1.1 200 OK\r\n");
    EXPECT_TRUE(r.body("0123456789"));
    EXPECT_FALSE(r.body("a"));
    EXPECT_EQ(r.overLimit(), "an event line is larger than 10 bytes");
  }
  {  // whole in one piece
    ResponseReader r(kSmall, &onLine);
    r.header("HTTP/1.1 200 OK\r\n");
    EXPECT_FALSE(r.body("short\n0123456789a\nnext\n"));
    EXPECT_EQ(r.overLimit(), "an event line is larger than 10 bytes");
  }
  {  // a stream is not bounded in all, only line by line
    ResponseReader r(kSmall, &onLine);
    r.header("HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(r.body("012345678\n"));
  }
}

TEST(ResponseReader, AnErrorStatusIsReadWholeWithinTheBodyLimit) {
  int calls = 0;
  std::function<bool(std::string_view)> onLine = [&](std::string_view) {
    ++calls;
    return true;
  };
  ResponseReader r(kSmall, &onLine);
  r.header("HTTP/1.1 429 Too Many Requests\r\n");
  r.header("Retry-After: 7\r\n");
  EXPECT_TRUE(r.body("{\"kind\": \"Status\",\n\"code\": 429}\n"));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r.response().status, 429);
  EXPECT_EQ(r.response().retryAfterSec, 7);
  EXPECT_FALSE(r.body(std::string(100, ' ')));
  EXPECT_EQ(r.overLimit(), "the response is larger than 100 bytes");
}

TEST(ResponseReader, StoppedByTheCaller) {
  std::function<bool(std::string_view)> onLine = [](std::string_view l) { return l != "stop"; };
  ResponseReader r(kSmall, &onLine);
  r.header("HTTP/2 200\r\n");
  EXPECT_FALSE(r.body("go\nstop\nmore\n"));
  EXPECT_TRUE(r.stoppedByCaller());
  EXPECT_EQ(r.overLimit(), "");
}

TEST(ApiResponses, JsonNestingIsBounded) {
  EXPECT_TRUE(parseJson("[[[1]]]", 3));
  auto deep = parseJson("[[[[1]]]]", 3);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().what, "invalid JSON: nested more than 3 arrays and objects deep");
  // Brackets inside strings are text.
  EXPECT_TRUE(parseJson(R"({"a": "[[[[[[\"[[[["})", 1));
  auto line = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(parseJson(line).error().what,
            "invalid JSON: nested more than 256 arrays and objects deep");
  EXPECT_EQ(parseJson("{").error().what, "invalid JSON");
}

// What the server says is data: a field of the wrong type reads as unset,
// never as an exception on the reflector's thread (which ended the agent).
TEST(ApiResponses, ListPageFieldsOfTheWrongTypeReadAsUnset) {
  for (const char* body :
       {R"({"items": []})", R"({"metadata": 5})",
        R"({"metadata": {"resourceVersion": 5, "continue": []}, "items": {}})"}) {
    auto page = parseListPage(body);
    ASSERT_TRUE(page) << body << ": " << page.error().what;
    EXPECT_EQ(page->resourceVersion, "") << body;
    EXPECT_EQ(page->continueToken, "") << body;
    EXPECT_TRUE(page->items.empty()) << body;
  }
  auto page = parseListPage(
      R"({"metadata": {"resourceVersion": "12", "continue": "c2"}, "items": [{"a": 1}, 2]})");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->resourceVersion, "12");
  EXPECT_EQ(page->continueToken, "c2");
  EXPECT_EQ(page->items.size(), 2u);
  EXPECT_THAT(parseListPage("[]").error().what, HasSubstr("not a JSON object"));
  EXPECT_THAT(parseListPage("<html>").error().what, HasSubstr("invalid JSON"));
}

TEST(ApiResponses, WatchEvents) {
  auto e =
      parseWatchEvent(R"({"type": "MODIFIED", "object": {"metadata": {"resourceVersion": "9"}}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, WatchEvent::Type::kModified);
  EXPECT_EQ(e->resourceVersion, "9");
  e = parseWatchEvent(R"({"type": "ERROR", "object": {"code": 410, "message": "too old"}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, WatchEvent::Type::kError);
  EXPECT_EQ(e->code, 410);
  EXPECT_EQ(e->message, "too old");
  // Codes that are no HTTP status, metadata of the wrong type: unset.
  for (const char* line : {R"({"type": "ERROR", "object": {"code": "410", "message": 1}})",
                           R"({"type": "ERROR", "object": {"code": 1e300}})",
                           R"({"type": "ERROR", "object": {"code": -1, "metadata": []}})"}) {
    e = parseWatchEvent(line);
    ASSERT_TRUE(e) << line;
    EXPECT_EQ(e->code, 0) << line;
    EXPECT_EQ(e->message, "") << line;
  }
  e = parseWatchEvent(R"({"type": "DELETED", "object": {}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->resourceVersion, "");
  EXPECT_EQ(parseWatchEvent(R"({"type": "SOMETHING", "object": {}})")->type,
            WatchEvent::Type::kUnknown);
  for (const char* bad : {"", "[]", R"({"type": 1, "object": {}})", R"({"type": "ADDED"})",
                          R"({"type": "ADDED", "object": []})"})
    EXPECT_THAT(parseWatchEvent(bad).error().what, HasSubstr("malformed event")) << bad;
}

// The limits hold against a real server: a list body and a watch line
// over them end the request with an error that says which limit.
TEST(ApiClient, LimitsHoldAgainstAServer) {
  httplib::Server server;
  server.Get("/list", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(5000, ' ') + "{}", "application/json");
  });
  server.Get("/watch", [](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
      std::string ok = "{\"type\": \"BOOKMARK\", \"object\": {}}\n";
      sink.write(ok.data(), ok.size());
      std::string big(3000, ' ');  // no end of line: more than a line may hold
      for (int i = 0; i < 10; ++i) sink.write(big.data(), big.size());
      sink.done();
      return true;
    });
  });
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  // Bound and listening: a connection waits in the backlog until the thread accepts it.

  ApiConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(port);
  ApiClient client(config, ResponseLimits{.body = 4096, .line = 1024});
  auto list = client.get("/list");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().what,
            "GET " + config.server + "/list: the response is larger than 4096 bytes");
  std::vector<std::string> lines;
  std::atomic<bool> stop{false};
  auto watch = client.stream(
      "/watch",
      [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      },
      stop);
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().what, "watch /watch ended: an event line is larger than 1024 bytes");
  EXPECT_EQ(lines.size(), 1u);  // the line before it was handed over
  server.stop();
  thread.join();
}

}  // namespace
}  // namespace svcrouter
