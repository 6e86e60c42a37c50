#include "api.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <charconv>
#include <span>
#include <tuple>
#include <vector>

#include "continue_token.h"
#include "discovery.h"
#include "objects.h"

namespace apiserver {

// What a path names: a discovery document, a collection (list or watch) or
// one object, of a resource, in a namespace or in all.
struct ApiRoute {
  enum class Type { kUnknown, kDiscovery, kCollection, kObject };
  Type type = Type::kUnknown;
  const Resource* resource = nullptr;
  std::optional<std::string> ns;  // nullopt: every namespace (or cluster-scoped)
  std::string name;               // for kObject
};

namespace {

constexpr const char* kJson = "application/json";

//   /api/v1/{plural}[/{name}]                            cluster-scoped (nodes)
//   /api/v1/{plural}                                     namespaced, every namespace
//   /api/v1/namespaces/{ns}/{plural}[/{name}]            namespaced
// and the same under /apis/discovery.k8s.io/v1.
ApiRoute parseRoute(std::string_view path, std::string_view serverAddress) {
  ApiRoute route;
  if (discoveryDocument(path, serverAddress)) {
    route.type = ApiRoute::Type::kDiscovery;
    return route;
  }
  std::vector<std::string_view> segments;
  for (size_t start = 0; start < path.size();) {
    size_t end = std::min(path.find('/', start), path.size());
    if (end > start) segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  std::span<std::string_view> rest(segments);
  std::string_view prefix;
  if (rest.size() >= 2 && rest[0] == "api" && rest[1] == "v1") {
    prefix = "/api/v1";
    rest = rest.subspan(2);
  } else if (rest.size() >= 3 && rest[0] == "apis" && rest[1] == "discovery.k8s.io" &&
             rest[2] == "v1") {
    prefix = "/apis/discovery.k8s.io/v1";
    rest = rest.subspan(3);
  } else {
    return route;
  }
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    route.ns = std::string(rest[1]);
    rest = rest.subspan(2);
  }
  if (rest.empty() || rest.size() > 2) return route;
  route.resource = resourceByPath(prefix, rest[0]);
  if (!route.resource) return route;
  bool scoped = route.ns.has_value();
  if (rest.size() == 2) {
    // One object: in its namespace, or cluster-scoped.
    if (scoped != route.resource->namespaced) return route;
    route.name = std::string(rest[1]);
    route.type = ApiRoute::Type::kObject;
  } else {
    if (scoped && !route.resource->namespaced) return route;
    route.type = ApiRoute::Type::kCollection;
  }
  return route;
}

void answer(httplib::Response& res, const nlohmann::json& status) {
  res.status = status["code"].get<int>();
  res.set_content(status.dump(), kJson);
}

bool isTrue(const std::string& value) { return value == "true" || value == "1"; }

// httplib compresses an application/json answer as the request's
// Accept-Encoding allows, once the handler has returned; this narrows that
// to what the real server does. A watch: never, since httplib's compressor
// flushes only at the end of the body and would hold events back. Anything
// else: gzip at most, since httplib prefers brotli, at a level that takes
// seconds for a large list. (The Request is httplib's own non-const object,
// handed to handlers as const.)
void limitCompression(const httplib::Request& req, bool isWatch) {
  bool gzip = !isWatch && req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
  auto& headers = const_cast<httplib::Request&>(req).headers;
  headers.erase("Accept-Encoding");
  if (gzip) headers.emplace("Accept-Encoding", "gzip");
}

// A non-negative integer query parameter: nullopt if absent, or an error.
std::expected<std::optional<uint64_t>, std::string> numberParam(const httplib::Request& req,
                                                                const char* name) {
  std::string text = req.get_param_value(name);
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::unexpected(std::string(name) + ": invalid value '" + text + "'");
  }
  return value;
}

std::expected<Filter, std::string> parseFilter(const httplib::Request& req, const ApiRoute& route) {
  auto labels = LabelSelector::parse(req.get_param_value("labelSelector"));
  if (!labels) return std::unexpected(labels.error());
  auto fields = FieldSelector::parse(req.get_param_value("fieldSelector"));
  if (!fields) return std::unexpected(fields.error());
  return Filter{route.ns, std::move(*labels), std::move(*fields)};
}

nlohmann::json badRequest(const std::string& message) { return status(400, "BadRequest", message); }

}  // namespace

ApiServer::ApiServer(const Store& store, WatchHub& watches, Faults& faults,
                     const Authenticator& auth, RequestLog& log, std::string serverAddress)
    : store_(store),
      watches_(watches),
      faults_(faults),
      auth_(auth),
      log_(log),
      serverAddress_(std::move(serverAddress)) {}

void ApiServer::install(httplib::Server& server) {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    ApiRoute route = parseRoute(req.path, serverAddress_);
    bool isWatch =
        route.type == ApiRoute::Type::kCollection && isTrue(req.get_param_value("watch"));
    limitCompression(req, isWatch);
    std::string auth = respond(req, res, route, isWatch);
    if (res.status == -1) res.status = 200;  // httplib's default, made explicit for the log
    // A watch's status is known before its stream starts: tests see it while it is open.
    log_.add({req.method, req.target, res.status, isWatch, std::move(auth)});
  };
  // One pattern for every path: unknown paths get the real server's 404 Status.
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
}

std::string ApiServer::respond(const httplib::Request& req, httplib::Response& res,
                               const ApiRoute& route, bool isWatch) {
  if (faults_.down()) {
    answer(res, status(503, "ServiceUnavailable",
                       "the server is currently unable to handle the request"));
    return "";
  }
  auto who = auth_.authenticate(req);
  if (!who) {
    answer(res, status(401, "Unauthorized", "Unauthorized"));
    return "";
  }
  if (req.method != "GET" && req.method != "HEAD") {
    answer(res, status(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource"));
    return *who;
  }
  switch (route.type) {
    case ApiRoute::Type::kUnknown:
      answer(res, status(404, "NotFound", "the server could not find the requested resource"));
      return *who;
    case ApiRoute::Type::kDiscovery:
      // Always the legacy format as plain application/json, also when kubectl
      // asks for aggregated discovery first: it falls back from this answer.
      res.set_content(discoveryDocument(req.path, serverAddress_)->dump(), kJson);
      return *who;
    default:
      break;
  }
  if (auto injected = faults_.takeHttpError(isWatch)) {
    switch (injected->code) {
      case 429: {
        auto body = status(429, "TooManyRequests", "too many requests, please try again later");
        body["details"] = {{"retryAfterSeconds", injected->retryAfterSeconds}};
        answer(res, body);
        res.set_header("Retry-After", std::to_string(injected->retryAfterSeconds));
        break;
      }
      case 410: {
        auto from = numberParam(req, "resourceVersion");
        answer(res, tooOldStatus(from && *from ? **from : 0, store_.resourceVersion()));
        break;
      }
      default:
        answer(res, status(500, "InternalError", "Internal error occurred: injected fault"));
    }
    return *who;
  }
  if (route.type == ApiRoute::Type::kObject) {
    get(route, res);
  } else if (isWatch) {
    watch(req, route, res);
  } else {
    list(req, route, res);
  }
  return *who;
}

void ApiServer::get(const ApiRoute& route, httplib::Response& res) {
  ObjectPtr object = store_.get(route.resource->kind, route.ns.value_or(""), route.name);
  if (!object) {
    auto body = status(404, "NotFound",
                       std::string(route.resource->plural) + " \"" + route.name + "\" not found");
    body["details"] = {{"name", route.name}, {"kind", route.resource->plural}};
    return answer(res, body);
  }
  res.set_content(object->wire, kJson);
}

void ApiServer::list(const httplib::Request& req, const ApiRoute& route, httplib::Response& res) {
  auto filter = parseFilter(req, route);
  if (!filter) return answer(res, badRequest(filter.error()));
  auto limit = numberParam(req, "limit");
  if (!limit) return answer(res, badRequest(limit.error()));
  std::optional<ContinueToken> after;
  if (std::string text = req.get_param_value("continue"); !text.empty()) {
    after = ContinueToken::decode(text);
    if (!after) return answer(res, badRequest("continue key is not valid"));
  }
  // Every page of a list reads the snapshot of its first page; the real
  // server (etcd) cannot once it compacted past it.
  auto snap =
      store_.snapshot(route.resource->kind, after ? std::optional(after->snapshot) : std::nullopt);
  if (!snap) {
    return answer(res, status(410, "Expired",
                              "The provided continue parameter is too old to display a "
                              "consistent list result. You can start a new list without the "
                              "continue parameter."));
  }
  // The real server counts what is left only when no selector filters it;
  // otherwise it only says whether there is more.
  const bool countRemaining =
      req.get_param_value("labelSelector").empty() && req.get_param_value("fieldSelector").empty();
  std::vector<const StoredObject*> page;
  size_t remaining = 0;
  // The snapshot is in (namespace, name) order: a page starts after the
  // last one's key and ends once it is full, so that a list of N objects
  // in pages costs N, not N per page.
  auto it = snap->objects.begin();
  if (after) {
    it = std::ranges::upper_bound(snap->objects, std::tie(after->ns, after->name), {},
                                  [](const ObjectPtr& o) { return std::tie(o->ns, o->name); });
  }
  for (; it != snap->objects.end(); ++it) {
    const ObjectPtr& object = *it;
    if (!filter->matches(object->ns, object->name, object->labels())) continue;
    if (!limit->has_value() || **limit == 0 || page.size() < **limit) {
      page.push_back(object.get());
    } else {
      remaining++;
      if (!countRemaining) break;
    }
  }
  nlohmann::json meta = {{"resourceVersion", std::to_string(snap->id.resourceVersion)}};
  if (remaining > 0) {
    meta["continue"] = ContinueToken{snap->id, page.back()->ns, page.back()->name}.encode();
    if (countRemaining) meta["remainingItemCount"] = remaining;
  }
  // Items are joined as text: their JSON was made once, when they were stored.
  std::string body = R"({"kind":")" + std::string(route.resource->listKind) +
                     R"(","apiVersion":")" + std::string(route.resource->apiVersion) +
                     R"(","metadata":)" + meta.dump() + R"(,"items":[)";
  for (size_t i = 0; i < page.size(); i++) {
    if (i > 0) body += ',';
    body += page[i]->itemWire;
  }
  body += "]}";
  res.set_content(std::move(body), kJson);
}

void ApiServer::watch(const httplib::Request& req, const ApiRoute& route, httplib::Response& res) {
  auto filter = parseFilter(req, route);
  if (!filter) return answer(res, badRequest(filter.error()));
  auto from = numberParam(req, "resourceVersion");
  if (!from) return answer(res, badRequest(from.error()));
  auto timeout = numberParam(req, "timeoutSeconds");
  if (!timeout) return answer(res, badRequest(timeout.error()));

  auto request = std::make_shared<WatchRequest>();
  request->resource = route.resource;
  request->filter = std::move(*filter);
  // "0" (and none) means "from any version": the current state first.
  if (from->value_or(0) != 0) request->from = **from;
  request->bookmarks = isTrue(req.get_param_value("allowWatchBookmarks"));
  if (timeout->has_value()) request->timeout = std::chrono::seconds(**timeout);
  request->socket = req.ssl ? SSL_get_fd(req.ssl) : -1;

  res.status = 200;
  res.set_chunked_content_provider(kJson,
                                   [this, request](size_t /*offset*/, httplib::DataSink& sink) {
                                     return watches_.serve(*request, sink);
                                   });
}

}  // namespace apiserver
