#include "userspace/k8s/reflector.h"

#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "userspace/k8s/json_doc.h"

namespace svcrouter {
namespace {

constexpr long kGone = 410;

std::mt19937_64& rng() {
  thread_local std::mt19937_64 r{std::random_device{}()};
  return r;
}

// Sleeps `d` in short steps, so that stop is seen within 100 ms.
void sleepUnlessStopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop.load() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(100), std::chrono::duration_cast<std::chrono::milliseconds>(
                                            until - std::chrono::steady_clock::now()) +
                                            std::chrono::milliseconds(1)));
}

// object[key], or null when object is not an object or has no such key.
const nlohmann::json& field(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// object[key] when it is a string, else "".
std::string stringField(const nlohmann::json& object, std::string_view key) {
  const auto& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

// A Status object's message, or the body's start.
std::string statusMessage(const std::string& body) {
  auto j = parseJson(body);
  if (j && j->is_object() && field(*j, "message").is_string()) return stringField(*j, "message");
  return body.substr(0, 200);
}

}  // namespace

Result<ListPage> parseListPage(std::string_view body) {
  auto page = parseJson(body);
  if (!page) return fail("the response is not a list: " + page.error().what);
  if (!page->is_object()) return fail("the response is not a list: not a JSON object");
  ListPage out;
  const auto& md = field(*page, "metadata");
  out.resourceVersion = stringField(md, "resourceVersion");
  out.continueToken = stringField(md, "continue");
  auto items = page->find("items");
  if (items != page->end() && items->is_array()) {
    out.items.reserve(items->size());
    for (auto& item : *items) out.items.push_back(std::move(item));
  }
  return out;
}

Result<WatchEvent> parseWatchEvent(std::string_view line) {
  auto json = parseJson(line);
  if (!json) return fail("malformed event: " + json.error().what);
  auto type = json->is_object() ? json->find("type") : json->end();
  auto object = json->is_object() ? json->find("object") : json->end();
  if (type == json->end() || !type->is_string() || object == json->end() || !object->is_object())
    return fail("malformed event: not {\"type\": string, \"object\": object}");
  WatchEvent event;
  const auto& t = type->get_ref<const std::string&>();
  using Type = WatchEvent::Type;
  event.type = t == "ADDED"      ? Type::kAdded
               : t == "MODIFIED" ? Type::kModified
               : t == "DELETED"  ? Type::kDeleted
               : t == "BOOKMARK" ? Type::kBookmark
               : t == "ERROR"    ? Type::kError
                                 : Type::kUnknown;
  event.object = std::move(*object);
  event.resourceVersion = stringField(field(event.object, "metadata"), "resourceVersion");
  if (event.type == Type::kError) {
    // A Status: its code is an integer (a float or a huge number is no code).
    const auto& code = field(event.object, "code");
    if (code.is_number_integer() && code.get<int64_t>() >= 0 && code.get<int64_t>() < 1000)
      event.code = code.get<long>();
    event.message = stringField(event.object, "message");
  }
  return event;
}

std::string urlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Reflector::Reflector(const ApiClient& client, Resource resource, ReflectorSink& sink,
                     ReflectorOptions options)
    : client_(client), resource_(std::move(resource)), sink_(sink), options_(std::move(options)) {}

std::string Reflector::query(
    std::initializer_list<std::pair<std::string, std::string>> params) const {
  std::string q = resource_.path;
  char sep = '?';
  auto add = [&](const std::string& k, const std::string& v) {
    if (v.empty()) return;
    q += sep + k + "=" + urlEncode(v);
    sep = '&';
  };
  add("labelSelector", resource_.labelSelector);
  add("fieldSelector", resource_.fieldSelector);
  for (const auto& [k, v] : params) add(k, v);
  return q;
}

void Reflector::observe(const std::string& what, const std::string& cause,
                        const std::string& detail) {
  spdlog::info("{}: {} ({}{}{})", resource_.name, what, cause, detail.empty() ? "" : ": ", detail);
  if (options_.observe) options_.observe(resource_.name, what, cause);
}

void Reflector::backoff(const std::atomic<bool>& stop, std::optional<int> retryAfterSec) {
  // client-go's reflector: 800 ms doubling to 30 s, each step with up to as
  // much again of random jitter, so that many agents do not retry together.
  std::chrono::milliseconds base = std::min<std::chrono::milliseconds>(
      options_.backoffInitial * (1L << std::min(failures_, 16)), options_.backoffMax);
  ++failures_;
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<long>(base.count() * (1.0 + jitter(rng()))));
  if (retryAfterSec) delay = std::max(delay, std::chrono::milliseconds(*retryAfterSec * 1000L));
  sleepUnlessStopped(delay, stop);
}

Result<std::string> Reflector::list(const std::atomic<bool>& stop) {
  std::string cont, rv;
  bool first = true;
  for (;;) {
    if (stop.load()) return fail("stopped");
    auto r = client_.get(query({{"limit", std::to_string(options_.pageSize)}, {"continue", cont}}));
    if (!r) return std::unexpected(r.error());
    if (r->status != 200) {
      Error e{resource_.name + ": list: HTTP " + std::to_string(r->status) + ": " +
                  statusMessage(r->body),
              0};
      if (r->retryAfterSec) e.what += " (retry after " + std::to_string(*r->retryAfterSec) + " s)";
      // A continue token that expired (410): start the list again.
      if (r->status == kGone && !cont.empty()) {
        observe("relist", "continue_expired", "");
        first = true;
        cont.clear();
        continue;
      }
      retryAfter_ = r->retryAfterSec;
      return std::unexpected(e);
    }
    auto page = parseListPage(r->body);
    if (!page) return fail(resource_.name + ": list: " + page.error().what);
    rv = std::move(page->resourceVersion);
    cont = std::move(page->continueToken);
    sink_.listPage(resource_.name, std::move(page->items), first);
    first = false;
    if (cont.empty()) break;
  }
  sink_.listDone(resource_.name);
  return rv;
}

Reflector::WatchEnd Reflector::watch(const std::atomic<bool>& stop) {
  std::uniform_int_distribution<long> spread(0, options_.minWatchTimeout.count());
  long timeout = options_.minWatchTimeout.count() + spread(rng());
  bool gone = false, anyLine = false;
  std::string errorCause;
  auto started = std::chrono::steady_clock::now();
  auto onLine = [&](std::string_view line) {
    if (line.empty()) return true;
    anyLine = true;
    auto event = parseWatchEvent(line);
    if (!event) {
      errorCause = event.error().what;
      return false;
    }
    using Type = WatchEvent::Type;
    if (event->type == Type::kError) {
      gone = event->code == kGone;
      errorCause = "error event " + std::to_string(event->code) + ": " + event->message;
      return false;
    }
    std::string rv = std::move(event->resourceVersion);
    if (event->type == Type::kBookmark) {
      if (!rv.empty()) resourceVersion_ = rv;
      return true;
    }
    if (event->type == Type::kUnknown) return true;  // a type from a newer server: skip it
    auto change = event->type == Type::kAdded      ? ReflectorSink::Change::kAdded
                  : event->type == Type::kModified ? ReflectorSink::Change::kModified
                                                   : ReflectorSink::Change::kDeleted;
    sink_.change(resource_.name, change, std::move(event->object));
    if (!rv.empty()) resourceVersion_ = rv;
    failures_ = 0;  // events flow: the connection is healthy
    return true;
  };
  auto r = client_.stream(query({{"watch", "true"},
                                 {"resourceVersion", resourceVersion_},
                                 {"allowWatchBookmarks", "true"},
                                 {"timeoutSeconds", std::to_string(timeout)}}),
                          onLine, stop);
  if (stop.load()) return WatchEnd::kStopped;
  if (gone) {
    observe("relist", "gone", "error event 410");
    return WatchEnd::kGone;
  }
  if (!r) {
    observe("watch restart", "transport", r.error().message());
    return WatchEnd::kFailed;
  }
  if (r->status == kGone) {
    observe("relist", "gone", "HTTP 410");
    return WatchEnd::kGone;
  }
  if (r->status != 200) {
    retryAfter_ = r->retryAfterSec;
    observe("watch restart", "http_" + std::to_string(r->status), statusMessage(r->body));
    return WatchEnd::kFailed;
  }
  if (!errorCause.empty()) {
    observe("watch restart", "error_event", errorCause);
    return WatchEnd::kFailed;
  }
  // A server that ends every watch at once would have us spin: back off.
  if (!anyLine && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
    observe("watch restart", "ended_at_once", "");
    return WatchEnd::kFailed;
  }
  return WatchEnd::kExpired;  // the server ended it after timeoutSeconds
}

void Reflector::run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    retryAfter_.reset();
    auto rv = list(stop);
    if (!rv) {
      if (stop.load()) return;
      observe("relist", "list_failed", rv.error().message());
      backoff(stop, retryAfter_);
      continue;
    }
    resourceVersion_ = *rv;
    failures_ = 0;
    for (bool relist = false; !relist && !stop.load();) {
      retryAfter_.reset();
      switch (watch(stop)) {
        case WatchEnd::kExpired:
          break;  // resume at once from the last resourceVersion
        case WatchEnd::kGone:
          relist = true;
          break;
        case WatchEnd::kFailed:
          backoff(stop, retryAfter_);
          break;
        case WatchEnd::kStopped:
          return;
      }
    }
  }
}

}  // namespace svcrouter
