// The responder's sockets: UDP and TCP on each --dns-listen address, and
// the upstreams it forwards to, all on one thread (epoll). Queries go
// through the Handler; what it cannot answer is asked upstream over UDP
// (over TCP when the answer came truncated), each upstream in turn with a
// timeout, one question in flight per (name, type, class) however many
// clients ask it, and SERVFAIL when every upstream failed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "maps/error.h"
#include "userspace/dns/config.h"
#include "userspace/dns/handler.h"
#include "userspace/dns/zone.h"

namespace svcrouter::dns {

struct ServerOptions {
  std::vector<SocketAddress> listen;                // --dns-listen: UDP and TCP on each
  std::vector<SocketAddress> upstreams;             // tried in order; none: no forwarding
  std::string domain = "cluster.local";             // never forwarded
  std::chrono::milliseconds upstreamTimeout{2000};  // per upstream and try
  size_t cacheEntries = 10000;                      // the forwarded answers' cache: entries
  size_t cacheBytes = 32u << 20;                    //   and bytes
  size_t maxTcpClients = 256;                       // more connections are closed at once
  std::chrono::milliseconds tcpIdle{10000};         // an idle client connection is closed
  size_t maxInFlight = 2048;                        // questions upstream at once; more: SERVFAIL
};

// What the metrics read (from another thread) besides the Stats.
struct UpstreamCounts {
  std::string upstream;  // describe(SocketAddress)
  uint64_t failures;     // tries that timed out, were refused or broke
};

class Server {
 public:
  // Binds every socket (errors at once: the port is taken, an address is
  // not here), then serves on a thread of its own until destroyed.
  [[nodiscard]] static Result<std::unique_ptr<Server>> start(ServerOptions options,
                                                             const ZoneHolder& zones);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const Stats& stats() const;
  std::vector<UpstreamCounts> upstreams() const;
  size_t cacheEntries() const;
  // Where it listens (a port 0 of --dns-listen replaced by the one bound).
  const std::vector<SocketAddress>& listening() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace svcrouter::dns
