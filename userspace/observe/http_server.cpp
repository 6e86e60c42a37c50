#include "userspace/observe/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace svcrouter::observe {

Result<std::pair<std::string, int>> parseHostPort(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return fail(address + ": not ADDR:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  auto p = std::string_view(address).substr(colon + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port < 0 || port > 65535)
    return fail(address + ": the port must be 0-65535");
  if (host.empty()) return fail(address + ": no address");
  return std::pair{host, port};
}

HttpServer::HttpServer(std::string name, std::string host, int port)
    : name_(std::move(name)),
      host_(std::move(host)),
      port_(port),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() {
  stop_ = true;
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::route(const std::string& path, Handler handler) {
  server_->Get(path, [handler](const httplib::Request&, httplib::Response& res) {
    HttpAnswer a = handler();
    res.status = a.status;
    for (const auto& [k, v] : a.headers) res.set_header(k, v);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(a.body, a.contentType);
  });
}

void HttpServer::start() {
  thread_ = std::thread([this] {
    bool said = false;
    while (!stop_.load()) {
      int port = port_;
      bool bound = port == 0 ? (port = server_->bind_to_any_port(host_)) > 0
                             : server_->bind_to_port(host_, port);
      if (bound) {
        bound_ = port;
        spdlog::info("{}: listening on {}:{}", name_, host_, port);
        server_->listen_after_bind();
        bound_ = 0;
        if (stop_.load()) return;
      } else if (!said) {
        spdlog::error("{}: cannot listen on {}:{} (in use?); trying again every 5 s", name_, host_,
                      port_);
        said = true;
      }
      for (int i = 0; i < 50 && !stop_.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

ServiceHealthServers::ServiceHealthServers(std::vector<std::string> hosts,
                                           std::function<bool()> proxyHealthy)
    : hosts_(std::move(hosts)), proxyHealthy_(std::move(proxyHealthy)) {}

HttpAnswer ServiceHealthServers::answer(int port) const {
  Target t;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(port);
    if (it != targets_.end()) t = it->second;
  }
  bool healthy = proxyHealthy_ ? proxyHealthy_() : true;
  nlohmann::ordered_json j;
  j["service"] = {{"namespace", t.ns}, {"name", t.name}};
  j["localEndpoints"] = t.localEndpoints;
  j["serviceProxyHealthy"] = healthy;
  HttpAnswer a;
  a.status = t.localEndpoints > 0 && healthy ? 200 : 503;
  a.body = j.dump(2);
  a.headers["X-Load-Balancing-Endpoint-Weight"] = std::to_string(t.localEndpoints);
  return a;
}

void ServiceHealthServers::update(const std::map<int, Target>& targets) {
  std::map<int, std::vector<std::unique_ptr<HttpServer>>> gone;
  {
    std::lock_guard lock(mu_);
    targets_ = targets;
    for (auto it = servers_.begin(); it != servers_.end();) {
      if (targets.contains(it->first)) {
        ++it;
      } else {
        gone.insert(servers_.extract(it++));
      }
    }
    for (const auto& [port, target] : targets) {
      if (servers_.contains(port)) continue;
      auto& servers = servers_[port];
      for (const auto& host : hosts_) {
        auto server = std::make_unique<HttpServer>(
            "health check port of " + target.ns + "/" + target.name, host, port);
        server->route("/.*", [this, port] { return answer(port); });
        server->start();
        servers.push_back(std::move(server));
      }
    }
  }
  // Stopped outside the lock: a request in flight may need it.
  gone.clear();
}

}  // namespace svcrouter::observe
