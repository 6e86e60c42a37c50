// What the agent takes from the API server (`run --kubernetes`): an HTTP
// response (status line, Retry-After, body) through the client's
// ResponseReader, in pieces as libcurl hands them over, then either a list
// page (parseListPage) or a watch stream, line by line (parseWatchEvent),
// into the KubeSource cache as its reflectors feed it, and on to the
// desired table. The first byte chooses the resource, the mode and the
// size of the pieces; the rest is the response, headers first when it
// starts with "HTTP/" (else a 200 with that body).
//
// Checks: the reader keeps its bounds and hands over exactly the lines of
// the body; every object the cache accepted re-validates (objects_json.h);
// the lenient desired state always builds.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/objects_json.h"
#include "userspace/agent/kube_source.h"
#include "userspace/core/desired.h"
#include "userspace/k8s/api_client.h"
#include "userspace/k8s/reflector.h"

using namespace svcrouter;

namespace {

// Small bounds, so that inputs of a few KB reach them.
constexpr ResponseLimits kLimits{.body = 4096, .line = 1024};

// Hands `body` to the reader in pieces of 1 to 64 bytes, as chosen by `seed`;
// false once the reader ends the transfer.
bool feed(ResponseReader& reader, std::string_view body, uint8_t seed) {
  uint32_t state = seed | 1u;
  while (!body.empty()) {
    state = state * 1103515245u + 12345u;
    size_t n = std::min<size_t>(body.size(), 1 + (state >> 16) % 64);
    if (!reader.body(body.substr(0, n))) return false;
    body.remove_prefix(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // every rejected object is logged
    return true;
  }();
  (void)quiet;
  if (size < 1) return 0;
  static const char* kResources[] = {"services", "endpointslices", "nodes", "services"};
  const std::string resource = kResources[data[0] & 3];
  const bool watch = data[0] & 4;
  const uint8_t seed = data[0] >> 3;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<std::string> lines;
  std::function<bool(std::string_view)> onLine = [&](std::string_view line) {
    FUZZ_CHECK(line.size() <= kLimits.line, "a line over the bound was handed over");
    lines.emplace_back(line);
    return true;
  };
  ResponseReader reader(kLimits, watch ? &onLine : nullptr);
  std::string_view body = input;
  if (input.starts_with("HTTP/")) {
    size_t end = input.find("\r\n\r\n");
    std::string_view head = input.substr(0, end);
    body = end == input.npos ? std::string_view() : input.substr(end + 4);
    while (!head.empty()) {
      size_t eol = head.find("\r\n");
      reader.header(head.substr(0, eol == head.npos ? head.size() : eol + 2));
      head.remove_prefix(eol == head.npos ? head.size() : eol + 2);
    }
  } else {
    reader.header("HTTP/1.1 200 OK\r\n");
  }
  bool whole = feed(reader, body, seed);
  const ApiResponse& response = reader.response();
  FUZZ_CHECK(whole || !reader.overLimit().empty(), "a transfer ended without a reason");
  if (!watch || response.status != 200) {
    FUZZ_CHECK(response.body.size() <= kLimits.body, "a body over the bound was kept");
    FUZZ_CHECK(whole == (body.size() <= kLimits.body), "the body's bound misapplied");
  } else {
    // The lines handed over are the body's, in order, up to where it stopped.
    std::string seen;
    for (const auto& l : lines) seen += l + "\n";
    FUZZ_CHECK(body.starts_with(seen), "the lines handed over are not the body's");
    if (whole) FUZZ_CHECK(seen + response.body == body, "a part of the body was lost");
  }
  // A watch's lines went to the cache as they came, before any cut.
  if (response.status != 200 || (!watch && !whole)) return 0;

  ApiConfig config;
  config.server = "https://fuzz.invalid";  // never reached: nothing is started
  KubeSource source(config, KubeSource::Options{});
  ReflectorSink& sink = source;
  if (!watch) {
    auto page = parseListPage(response.body);
    if (!page) return 0;
    sink.listPage(resource, std::move(page->items), true);
    sink.listDone(resource);
  } else {
    // As the reflector does: a malformed event or an ERROR ends the watch.
    for (const std::string& line : lines) {
      if (line.empty()) continue;
      auto event = parseWatchEvent(line);
      if (!event || event->type == WatchEvent::Type::kError) break;
      using Type = WatchEvent::Type;
      if (event->type == Type::kBookmark || event->type == Type::kUnknown) continue;
      auto change = event->type == Type::kAdded      ? ReflectorSink::Change::kAdded
                    : event->type == Type::kModified ? ReflectorSink::Change::kModified
                                                     : ReflectorSink::Change::kDeleted;
      sink.change(resource, change, std::move(event->object));
    }
  }
  auto changes = source.changes();
  auto objects = source.objects();
  FUZZ_CHECK(objects, objects.error().what);
  fuzz::checkRereads(*objects);
  SelectOptions opts;
  opts.nodeName = "node-a";
  opts.nodeIps = {*IpAddr::parse("10.0.0.1")};
  auto desired = buildDesiredState(*objects, opts, InputCheck::kLenient);
  FUZZ_CHECK(desired, desired.error().what);
  return 0;
}
