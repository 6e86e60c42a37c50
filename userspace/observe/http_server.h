// Small HTTP listeners (cpp-httplib), each on its own thread: the agent's
// /metrics, /healthz and /livez, and the per-service health check ports.
// An address that cannot be bound (in use) is said once and tried again
// every few seconds; the agent goes on programming meanwhile, as kube-proxy
// does.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "maps/error.h"

namespace httplib {
class Server;
}

namespace svcrouter::observe {

struct HttpAnswer {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

// "ADDR:PORT", "[V6ADDR]:PORT" -> host and port.
[[nodiscard]] Result<std::pair<std::string, int>> parseHostPort(const std::string& address);

class HttpServer {
 public:
  using Handler = std::function<HttpAnswer()>;

  // name: for messages ("healthz"); address "ADDR:PORT".
  HttpServer(std::string name, std::string host, int port);
  ~HttpServer();  // stops listening
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void route(const std::string& path, Handler handler);
  void start();
  // The bound port once listening (useful with port 0 in tests), else 0.
  int boundPort() const { return bound_.load(); }

 private:
  std::string name_, host_;
  int port_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> bound_{0};
};

// The health check node ports of LoadBalancer Services with
// externalTrafficPolicy: Local, answered as kube-proxy's service health
// server does: 200 with the number of local endpoints, 503 when there are
// none (or the agent is unhealthy), header X-Load-Balancing-Endpoint-Weight.
class ServiceHealthServers {
 public:
  struct Target {
    std::string ns, name;
    size_t localEndpoints = 0;
  };

  // hosts: where to listen, as kube-proxy does: {"0.0.0.0"}, or the node's
  // addresses in --nodeport-addresses (none: no port is served).
  ServiceHealthServers(std::vector<std::string> hosts, std::function<bool()> proxyHealthy);

  // Listens on exactly these ports (port -> target), with these counts.
  void update(const std::map<int, Target>& targets);

  HttpAnswer answer(int port) const;

 private:
  std::vector<std::string> hosts_;
  std::function<bool()> proxyHealthy_;
  mutable std::mutex mu_;
  std::map<int, Target> targets_;
  std::map<int, std::vector<std::unique_ptr<HttpServer>>> servers_;  // one a host
};

}  // namespace svcrouter::observe
