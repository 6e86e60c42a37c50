#include "admin.h"

#include <algorithm>
#include <string>
#include <vector>

namespace apiserver {
namespace {

constexpr const char* kJson = "application/json";

void error(httplib::Response& res, int code, const std::string& message) {
  res.status = code;
  res.set_content(nlohmann::json{{"error", message}}.dump() + "\n", kJson);
}

void ok(httplib::Response& res, const nlohmann::json& body) {
  res.set_content(body.dump() + "\n", kJson);
}

// The request's body as a JSON object, or nullopt (with a 400 answered).
std::optional<nlohmann::json> jsonBody(const httplib::Request& req, httplib::Response& res) {
  auto body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) {
    error(res, 400, "the body is not a JSON object");
    return std::nullopt;
  }
  return body;
}

// A count from a fault's JSON: "count", 1 if absent.
int faultCount(const nlohmann::json& f) { return f.value("count", 1); }

}  // namespace

AdminServer::AdminServer(Store& store, WatchHub& watches, Faults& faults, Authenticator& auth,
                         RequestLog& log)
    : store_(store), watches_(watches), faults_(faults), auth_(auth), log_(log) {}

void AdminServer::install(httplib::Server& server) {
  using httplib::Request, httplib::Response;
  server.Post("/objects", [this](const Request& req, Response& res) { putObjects(req, res); });
  server.Delete("/objects/([^/]+)/([^/]+)/([^/]+)",
                [this](const Request& req, Response& res) { deleteObject(req, res); });
  server.Post("/faults", [this](const Request& req, Response& res) { fault(req, res); });
  server.Post("/tokens", [this](const Request& req, Response& res) { tokens(req, res); });
  server.Get("/requests", [this](const Request&, Response& res) { ok(res, log_.toJson()); });
  server.Delete("/requests", [this](const Request&, Response& res) {
    log_.clear();
    ok(res, nlohmann::json::object());
  });
  server.Get("/watches", [this](const Request&, Response& res) {
    nlohmann::json counts = nlohmann::json::object();
    for (auto [kind, n] : watches_.openWatches()) counts[resourceOf(kind).plural] = n;
    ok(res, counts);
  });
}

void AdminServer::putObjects(const httplib::Request& req, httplib::Response& res) {
  auto body = jsonBody(req, res);
  if (!body) return;
  bool isList = body->value("kind", "") == "List";
  std::vector<nlohmann::json> docs;
  if (isList) {
    auto& items = (*body)["items"];
    if (!items.is_array()) return error(res, 400, "a List needs items");
    docs.reserve(items.size());
    for (auto& item : items) docs.push_back(std::move(item));
  } else {
    docs.push_back(std::move(*body));
  }
  auto stored = store_.put(std::move(docs));
  if (!stored) return error(res, 400, stored.error());
  if (!isList) return res.set_content(stored->front()->wire + "\n", kJson);
  // Joined as text: the objects' JSON was made when they were stored.
  std::string out = R"({"kind":"List","apiVersion":"v1","items":[)";
  for (size_t i = 0; i < stored->size(); i++) {
    if (i > 0) out += ',';
    out += (*stored)[i]->wire;
  }
  out += "]}\n";
  res.set_content(std::move(out), kJson);
}

void AdminServer::deleteObject(const httplib::Request& req, httplib::Response& res) {
  const Resource* resource = resourceByKindName(req.matches[1].str());
  if (!resource) return error(res, 400, "unknown kind " + req.matches[1].str());
  std::string ns = resource->namespaced ? req.matches[2].str() : "";
  std::string name = req.matches[3].str();
  ObjectPtr deleted = store_.remove(resource->kind, ns, name);
  if (!deleted)
    return error(res, 404, std::string(resource->kindName) + " " + ns + "/" + name + " not found");
  res.set_content(deleted->wire + "\n", kJson);
}

void AdminServer::fault(const httplib::Request& req, httplib::Response& res) {
  auto body = jsonBody(req, res);
  if (!body) return;
  std::string name = body->value("fault", "");
  if (name == "watch-gone") {
    watches_.signal(WatchSignal::kGone);
  } else if (name == "cut") {
    watches_.signal(WatchSignal::kCut);
  } else if (name == "bookmark") {
    watches_.signal(WatchSignal::kBookmark);
  } else if (name == "http-gone") {
    faults_.addHttpErrors(410, faultCount(*body));
  } else if (name == "http500") {
    faults_.addHttpErrors(500, faultCount(*body));
  } else if (name == "http429") {
    faults_.addHttpErrors(429, faultCount(*body), body->value("retryAfter", 1));
  } else if (name == "compact") {
    store_.compact();
  } else if (name == "slow") {
    faults_.setSlow(std::chrono::milliseconds(body->value("ms", 0)));
  } else if (name == "down") {
    faults_.setDown(true);
    // A server that goes away takes its connections with it.
    watches_.signal(WatchSignal::kCut);
  } else if (name == "up") {
    faults_.setDown(false);
  } else if (name == "none") {
    faults_.clear();
  } else {
    return error(res, 400, "unknown fault '" + name + "'");
  }
  ok(res, {{"fault", name}, {"resourceVersion", std::to_string(store_.resourceVersion())}});
}

void AdminServer::tokens(const httplib::Request& req, httplib::Response& res) {
  auto body = jsonBody(req, res);
  if (!body) return;
  auto& list = (*body)["tokens"];
  if (!list.is_array() || !std::ranges::all_of(list, [](auto& t) { return t.is_string(); })) {
    return error(res, 400, "tokens must be an array of strings");
  }
  auth_.setTokens(list.get<std::vector<std::string>>());
  ok(res, nlohmann::json::object());
}

}  // namespace apiserver
