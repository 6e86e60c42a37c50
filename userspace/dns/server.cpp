#include "userspace/dns/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <queue>
#include <random>
#include <thread>
#include <tuple>
#include <unordered_map>

namespace svcrouter::dns {

namespace {

// epoll's data: what the descriptor is (top byte) and which one.
enum Kind : uint64_t { kStop = 1, kListener, kClient, kUpstreamUdp, kUpstreamTcp };
uint64_t tag(Kind kind, uint64_t index) { return (static_cast<uint64_t>(kind) << 56) | index; }
Kind kindOf(uint64_t data) { return static_cast<Kind>(data >> 56); }
uint64_t indexOf(uint64_t data) { return data & ((uint64_t{1} << 56) - 1); }

// Datagrams read and answered per system call, and calls per wake-up
// before the other descriptors get their turn.
constexpr int kBatch = 32;
constexpr int kRoundsPerWake = 8;
// A UDP query over this is dropped (no real query is near it); UDP replies
// are at most 4096 bytes (handler.cpp).
constexpr size_t kUdpBuffer = 4096;
// A client connection whose replies pile up unread is closed.
constexpr size_t kMaxTcpBacklog = 1 << 20;
// Clients waiting for one question upstream.
constexpr size_t kMaxWaiters = 256;

uint16_t read16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

SockAddr toSockaddr(const SocketAddress& a) {
  SockAddr out;
  const auto& b = a.addr.bytes();
  if (a.addr.isV4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a.port);
    std::memcpy(&sin->sin_addr, &b[12], 4);
    out.len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a.port);
    std::memcpy(&sin6->sin6_addr, b.data(), 16);
    out.len = sizeof(sockaddr_in6);
  }
  return out;
}

uint16_t boundPort(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof(s);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) return 0;
  return ntohs(s.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&s)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&s)->sin6_port);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~Fd() { reset(); }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, const ZoneHolder& zones)
      : options_(std::move(options)),
        cache_(options_.cacheEntries, options_.cacheBytes),
        handler_({.domain = options_.domain, .forwarding = !options_.upstreams.empty()}, zones,
                 cache_, stats_),
        rng_(std::random_device{}()) {}

  ~Impl() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      (void)!write(stop_.get(), &one, sizeof(one));
      thread_.join();
    }
  }

  Result<void> open();
  void run();

  Stats stats_;
  std::vector<SocketAddress> listening_;
  std::atomic<size_t> cacheSize_{0};
  struct Upstream {
    SocketAddress addr;
    SockAddr sa;
    Fd udp;
    std::atomic<uint64_t> failures{0};
  };
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::thread thread_;

 private:
  struct Listener {
    Fd fd;
    bool tcp;
  };
  struct Client {  // a TCP connection
    Fd fd;
    std::string in, out;
    size_t sent = 0;
    Clock::time_point last;
    bool writing = false;
    bool eof = false;     // it sent all it will: closed once answered
    size_t awaiting = 0;  // its questions upstream
  };
  // Who waits for an answer from upstream: a UDP peer of a listener, or a
  // TCP client (gone if its connection closed meanwhile).
  struct Waiter {
    Forward fwd;
    int udpFd = -1;
    SockAddr peer;
    uint64_t client = 0;
  };
  struct Pending {
    uint64_t serial = 0;
    std::string key;
    std::string query;  // as sent upstream
    std::vector<Waiter> waiters;
    size_t upstream = 0;   // which one is being tried
    uint32_t attempt = 0;  // bumps with each try: older timers are stale
    uint16_t id = 0;
    std::string name;
    uint16_t type = 0, klass = 0;
    // Over TCP (after a truncated UDP answer).
    Fd tcp;
    std::string tcpOut, tcpIn;
    size_t tcpSent = 0;
  };
  using Timer = std::tuple<Clock::time_point, uint64_t, uint32_t>;  // deadline, serial, attempt
  // The epoll data of a question's TCP connection: its serial and try.
  static uint64_t tcpTag(const Pending& p) {
    return tag(kUpstreamTcp, (p.serial << 16) | (p.attempt & 0xffff));
  }

  Result<void> listen(const SocketAddress& at);
  void watch(int fd, uint32_t events, uint64_t data);
  void readUdp(int fd);
  void acceptTcp(int fd);
  void readClient(uint64_t id);
  void flushClient(uint64_t id, Client& c);
  void closeClient(uint64_t id);
  // Replies to every waiter of a question upstream.
  void reply(std::vector<Waiter>& waiters, const CachedAnswer* answer);
  // Drops a question's ID from the map of those in flight, if it is there.
  void forgetId(const Pending& p);
  void sendToClient(uint64_t id, std::span<const uint8_t> reply);
  void forward(const Forward& fwd, Waiter waiter);
  void tryUpstream(Pending& p);
  void readUpstreamUdp(size_t index);
  // data: tcpTag()'s index.
  void upstreamTcpEvent(uint64_t data, uint32_t events);
  void startTcp(Pending& p);
  void failed(Pending& p);
  void finish(Pending& p, const CachedAnswer* answer);
  void expire(Clock::time_point now);
  void sweepClients(Clock::time_point now);
  int timeoutMs(Clock::time_point now) const;

  ServerOptions options_;
  Cache cache_;
  Handler handler_;
  Fd epoll_, stop_;
  std::vector<Listener> listeners_;
  std::unordered_map<uint64_t, Client> clients_;
  uint64_t nextClient_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Pending>> pending_;
  std::unordered_map<uint16_t, uint64_t> byId_;
  std::unordered_map<std::string, uint64_t> byKey_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t nextSerial_ = 1;
  std::mt19937 rng_;
  Clock::time_point now_ = Clock::now(), nextSweep_ = now_;
  // Per batch of datagrams: what came in and what goes out.
  std::array<std::array<uint8_t, kUdpBuffer>, kBatch> in_{}, out_{};
  std::array<uint8_t, kMaxMessageSize + 2> scratch_{};
};

Result<void> Server::Impl::listen(const SocketAddress& at) {
  SockAddr sa = toSockaddr(at);
  const int family = sa.storage.ss_family;
  const std::string where = describe(at);
  Fd udp(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (udp.get() < 0) return fail("DNS: UDP socket for " + where, errno);
  int one = 1;
  if (family == AF_INET6) setsockopt(udp.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  // Room for bursts (a benchmark, a node's pods starting at once).
  int rcvbuf = 4 << 20;
  if (setsockopt(udp.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(udp.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (bind(udp.get(), reinterpret_cast<sockaddr*>(&sa.storage), sa.len) != 0)
    return fail("DNS: listen on " + where + "/UDP (--dns-listen)", errno);
  // Port 0: the TCP socket takes the port the UDP one got.
  SocketAddress bound{at.addr, boundPort(udp.get())};
  sa = toSockaddr(bound);
  Fd tcp(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (tcp.get() < 0) return fail("DNS: TCP socket for " + where, errno);
  setsockopt(tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) setsockopt(tcp.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(tcp.get(), reinterpret_cast<sockaddr*>(&sa.storage), sa.len) != 0)
    return fail("DNS: listen on " + describe(bound) + "/TCP (--dns-listen)", errno);
  if (::listen(tcp.get(), 128) != 0)
    return fail("DNS: listen on " + describe(bound) + "/TCP", errno);
  watch(udp.get(), EPOLLIN, tag(kListener, listeners_.size()));
  listeners_.push_back({std::move(udp), false});
  watch(tcp.get(), EPOLLIN, tag(kListener, listeners_.size()));
  listeners_.push_back({std::move(tcp), true});
  listening_.push_back(bound);
  return {};
}

void Server::Impl::watch(int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
}

Result<void> Server::Impl::open() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  stop_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (epoll_.get() < 0 || stop_.get() < 0) return fail("DNS: epoll and eventfd", errno);
  watch(stop_.get(), EPOLLIN, tag(kStop, 0));
  if (options_.listen.empty()) return fail("DNS: no --dns-listen address");
  for (const auto& at : options_.listen) SVCR_RETURN_IF_ERROR(listen(at));
  for (const auto& addr : options_.upstreams) {
    auto u = std::make_unique<Upstream>();
    u->addr = addr;
    u->sa = toSockaddr(addr);
    // One connected socket per upstream: replies from elsewhere are not
    // read, and an ICMP port unreachable says at once that it is down.
    u->udp.reset(socket(u->sa.storage.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (u->udp.get() < 0 ||
        connect(u->udp.get(), reinterpret_cast<sockaddr*>(&u->sa.storage), u->sa.len) != 0)
      return fail("DNS: UDP socket to upstream " + describe(addr) + " (--dns-upstream)", errno);
    watch(u->udp.get(), EPOLLIN, tag(kUpstreamUdp, upstreams_.size()));
    upstreams_.push_back(std::move(u));
  }
  return {};
}

int Server::Impl::timeoutMs(Clock::time_point now) const {
  auto until = nextSweep_;
  if (!timers_.empty()) until = std::min(until, std::get<0>(timers_.top()));
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
}

void Server::Impl::run() {
  std::array<epoll_event, 64> events{};
  for (;;) {
    int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                       timeoutMs(Clock::now()));
    if (n < 0 && errno != EINTR) {
      spdlog::error("DNS: epoll_wait: {}", std::strerror(errno));
      return;
    }
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
      uint64_t data = events[i].data.u64;
      uint64_t index = indexOf(data);
      switch (kindOf(data)) {
        case kStop:
          return;
        case kListener:
          if (listeners_[index].tcp)
            acceptTcp(listeners_[index].fd.get());
          else
            readUdp(listeners_[index].fd.get());
          break;
        case kClient:
          if (events[i].events & (EPOLLERR | EPOLLHUP)) {
            closeClient(index);
            break;
          }
          if (events[i].events & (EPOLLIN | EPOLLRDHUP)) readClient(index);
          if (events[i].events & EPOLLOUT) {
            if (auto it = clients_.find(index); it != clients_.end())
              flushClient(index, it->second);
          }
          break;
        case kUpstreamUdp:
          readUpstreamUdp(index);
          break;
        case kUpstreamTcp:
          upstreamTcpEvent(index, events[i].events);
          break;
      }
    }
    expire(now_);
    if (now_ >= nextSweep_) {
      sweepClients(now_);
      nextSweep_ = now_ + std::chrono::seconds(1);
    }
    cacheSize_.store(cache_.size(), std::memory_order_relaxed);
  }
}

// ---- UDP clients ----

void Server::Impl::readUdp(int fd) {
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iovs{};
  std::array<SockAddr, kBatch> peers{};
  std::array<mmsghdr, kBatch> replies{};
  std::array<iovec, kBatch> replyIovs{};
  Forward fwd;
  for (int round = 0; round < kRoundsPerWake; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      iovs[i] = {in_[i].data(), in_[i].size()};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &peers[i].storage;
      msgs[i].msg_hdr.msg_namelen = sizeof(peers[i].storage);
    }
    int n = recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    now_ = Clock::now();
    int out = 0;
    for (int i = 0; i < n; ++i) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        stats_.dropped();
        continue;
      }
      auto r = handler_.handle({in_[i].data(), msgs[i].msg_len}, Transport::kUdp,
                               {out_[out].data(), out_[out].size()}, fwd, now_);
      peers[i].len = msgs[i].msg_hdr.msg_namelen;
      if (r.action == Handler::Action::kRespond) {
        replyIovs[out] = {out_[out].data(), r.size};
        replies[out].msg_hdr = {};
        replies[out].msg_hdr.msg_iov = &replyIovs[out];
        replies[out].msg_hdr.msg_iovlen = 1;
        replies[out].msg_hdr.msg_name = &peers[i].storage;
        replies[out].msg_hdr.msg_namelen = peers[i].len;
        ++out;
      } else if (r.action == Handler::Action::kForward) {
        forward(fwd, Waiter{fwd, fd, peers[i], 0});
      }
    }
    for (int sent = 0; sent < out;) {
      int k = sendmmsg(fd, replies.data() + sent, static_cast<unsigned>(out - sent), MSG_DONTWAIT);
      if (k <= 0) break;  // a full socket buffer: the clients ask again
      sent += k;
    }
    if (n < kBatch) return;
  }
}

// ---- TCP clients ----

void Server::Impl::acceptTcp(int fd) {
  for (;;) {
    int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;
    if (clients_.size() >= options_.maxTcpClients) {
      close(c);
      continue;
    }
    uint64_t id = nextClient_++;
    Client& client = clients_[id];
    client.fd.reset(c);
    client.last = now_;
    watch(c, EPOLLIN | EPOLLRDHUP, tag(kClient, id));
  }
}

void Server::Impl::closeClient(uint64_t id) { clients_.erase(id); }

void Server::Impl::readClient(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  char buf[16384];
  while (!c.eof) {
    ssize_t n = recv(c.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > 4 * kMaxMessageSize) break;  // answer what is there first
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    c.eof = true;  // closed by the client, or broken: answer what came, then close
  }
  c.last = now_;
  size_t pos = 0;
  Forward fwd;
  while (c.in.size() - pos >= 2) {
    size_t len = (static_cast<uint8_t>(c.in[pos]) << 8) | static_cast<uint8_t>(c.in[pos + 1]);
    if (c.in.size() - pos - 2 < len) break;
    auto query =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(c.in.data()) + pos + 2, len);
    pos += 2 + len;
    auto r = handler_.handle(query, Transport::kTcp, {scratch_.data(), kMaxMessageSize}, fwd, now_);
    if (r.action == Handler::Action::kRespond) {
      c.out.push_back(static_cast<char>(r.size >> 8));
      c.out.push_back(static_cast<char>(r.size & 0xff));
      c.out.append(reinterpret_cast<const char*>(scratch_.data()), r.size);
    } else if (r.action == Handler::Action::kForward) {
      ++c.awaiting;
      forward(fwd, Waiter{fwd, -1, {}, id});
      if (!clients_.contains(id)) return;  // closed by a reply it did not take
    }
  }
  c.in.erase(0, pos);
  flushClient(id, c);
}

void Server::Impl::flushClient(uint64_t id, Client& c) {
  while (c.sent < c.out.size()) {
    ssize_t n =
        send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      closeClient(id);
      return;
    }
    c.sent += static_cast<size_t>(n);
  }
  if (c.sent == c.out.size()) {
    c.out.clear();
    c.sent = 0;
  } else if (c.out.size() - c.sent > kMaxTcpBacklog) {
    closeClient(id);  // it does not read its replies
    return;
  }
  bool writing = !c.out.empty();
  if (c.eof && !writing && c.awaiting == 0) {
    closeClient(id);
    return;
  }
  if (writing != c.writing || c.eof) {
    c.writing = writing;
    epoll_event ev{};
    // After its end only replies are left to send (a readable end of file
    // would wake the loop for ever).
    ev.events = (c.eof ? 0u : uint32_t{EPOLLIN | EPOLLRDHUP}) | (writing ? uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = tag(kClient, id);
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  }
}

void Server::Impl::sendToClient(uint64_t id, std::span<const uint8_t> reply) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;  // it left meanwhile
  Client& c = it->second;
  if (c.awaiting) --c.awaiting;
  c.out.push_back(static_cast<char>(reply.size() >> 8));
  c.out.push_back(static_cast<char>(reply.size() & 0xff));
  c.out.append(reinterpret_cast<const char*>(reply.data()), reply.size());
  flushClient(id, c);
}

void Server::Impl::sweepClients(Clock::time_point now) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (now - it->second.last > options_.tcpIdle && it->second.out.empty() &&
        it->second.awaiting == 0)
      it = clients_.erase(it);
    else
      ++it;
  }
}

// ---- Upstreams ----

void Server::Impl::forward(const Forward& fwd, Waiter waiter) {
  std::string key = fwd.upstreamKey();
  if (auto it = byKey_.find(key); it != byKey_.end()) {
    Pending& p = *pending_.at(it->second);
    if (p.waiters.size() < kMaxWaiters) {
      p.waiters.push_back(std::move(waiter));
      return;
    }
  } else if (pending_.size() < options_.maxInFlight) {
    auto owned = std::make_unique<Pending>();
    Pending& p = *owned;
    p.serial = nextSerial_++;
    p.key = key;
    p.name = std::string(fwd.upstreamName());
    p.type = fwd.type;
    p.klass = fwd.upstreamClass();
    p.waiters.push_back(std::move(waiter));
    pending_.emplace(p.serial, std::move(owned));
    byKey_.emplace(std::move(key), p.serial);
    tryUpstream(p);
    return;
  }
  // Too many questions upstream already: SERVFAIL now rather than later.
  std::vector<Waiter> alone{std::move(waiter)};
  reply(alone, nullptr);
}

void Server::Impl::reply(std::vector<Waiter>& waiters, const CachedAnswer* answer) {
  for (auto& w : waiters) {
    size_t size = handler_.respond(w.fwd, answer, {scratch_.data(), kMaxMessageSize}, now_);
    if (w.client)
      sendToClient(w.client, {scratch_.data(), size});
    else
      sendto(w.udpFd, scratch_.data(), size, MSG_DONTWAIT,
             reinterpret_cast<sockaddr*>(&w.peer.storage), w.peer.len);
  }
}

void Server::Impl::forgetId(const Pending& p) {
  if (auto it = byId_.find(p.id); it != byId_.end() && it->second == p.serial) byId_.erase(it);
}

void Server::Impl::tryUpstream(Pending& p) {
  while (p.upstream < upstreams_.size()) {
    Upstream& u = *upstreams_[p.upstream];
    do {
      p.id = static_cast<uint16_t>(rng_());
    } while (byId_.contains(p.id));
    // The question as asked (lowercased), recursion desired, with EDNS0.
    p.query.assign(kHeaderSize + p.name.size() + 4 + kOptSize, '\0');
    MessageWriter w(reinterpret_cast<uint8_t*>(p.query.data()), p.query.size());
    w.header(p.id, kFlagRd);
    w.reserveOpt(kOfferedUdpSize, false, 0);
    w.question(p.name, p.type, p.klass);
    p.query.resize(w.finish());
    ++p.attempt;
    if (send(u.udp.get(), p.query.data(), p.query.size(), MSG_DONTWAIT) ==
        static_cast<ssize_t>(p.query.size())) {
      byId_[p.id] = p.serial;
      timers_.emplace(now_ + options_.upstreamTimeout, p.serial, p.attempt);
      return;
    }
    u.failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("DNS: upstream {}: send: {}", describe(u.addr), std::strerror(errno));
    ++p.upstream;
  }
  finish(p, nullptr);
}

void Server::Impl::failed(Pending& p) {
  if (p.upstream < upstreams_.size())
    upstreams_[p.upstream]->failures.fetch_add(1, std::memory_order_relaxed);
  p.tcp.reset();
  forgetId(p);
  ++p.upstream;
  tryUpstream(p);
}

void Server::Impl::finish(Pending& p, const CachedAnswer* answer) {
  // Out of the maps first: a reply may close a client, nothing else.
  forgetId(p);
  byKey_.erase(p.key);
  auto owned = std::move(pending_.at(p.serial));
  pending_.erase(p.serial);
  reply(owned->waiters, answer);
}

void Server::Impl::readUpstreamUdp(size_t index) {
  Upstream& u = *upstreams_[index];
  for (int round = 0; round < kBatch; ++round) {
    ssize_t n = recv(u.udp.get(), scratch_.data(), kMaxMessageSize, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      // ECONNREFUSED and the like: nothing listens there. Every question
      // waiting on it moves on to the next upstream.
      spdlog::debug("DNS: upstream {}: {}", describe(u.addr), std::strerror(errno));
      std::vector<uint64_t> waiting;
      for (const auto& [serial, p] : pending_)
        if (p->upstream == index && p->tcp.get() < 0) waiting.push_back(serial);
      for (uint64_t serial : waiting)
        if (auto it = pending_.find(serial); it != pending_.end()) failed(*it->second);
      continue;
    }
    auto reply = std::span<const uint8_t>(scratch_.data(), static_cast<size_t>(n));
    if (reply.size() < kHeaderSize) continue;
    auto id = byId_.find(read16(reply.data()));
    if (id == byId_.end()) continue;  // late, or not ours
    Pending& p = *pending_.at(id->second);
    if (p.upstream != index || !answersQuestion(reply, p.name, p.type, p.klass)) continue;
    if (reply[2] & 0x02) {  // TC: the whole answer over TCP
      startTcp(p);
      continue;
    }
    auto answer = readAnswer(reply, now_);
    if (!answer) {
      failed(p);
      continue;
    }
    cache_.insert(p.key, *answer);
    finish(p, &*answer);
  }
}

void Server::Impl::startTcp(Pending& p) {
  Upstream& u = *upstreams_[p.upstream];
  forgetId(p);
  p.tcp.reset(socket(u.sa.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (p.tcp.get() < 0 ||
      (connect(p.tcp.get(), reinterpret_cast<sockaddr*>(&u.sa.storage), u.sa.len) != 0 &&
       errno != EINPROGRESS)) {
    failed(p);
    return;
  }
  p.tcpOut.clear();
  p.tcpOut.push_back(static_cast<char>(p.query.size() >> 8));
  p.tcpOut.push_back(static_cast<char>(p.query.size() & 0xff));
  p.tcpOut += p.query;
  p.tcpSent = 0;
  p.tcpIn.clear();
  ++p.attempt;
  timers_.emplace(now_ + options_.upstreamTimeout, p.serial, p.attempt);
  watch(p.tcp.get(), EPOLLOUT | EPOLLIN | EPOLLRDHUP, tcpTag(p));
}

void Server::Impl::upstreamTcpEvent(uint64_t data, uint32_t events) {
  auto it = pending_.find(data >> 16);
  // Gone, or the event of a connection closed since (in the same batch).
  if (it == pending_.end() || it->second->tcp.get() < 0 ||
      (it->second->attempt & 0xffff) != (data & 0xffff))
    return;
  Pending& p = *it->second;
  if (events & EPOLLERR) {
    failed(p);
    return;
  }
  while ((events & EPOLLOUT) && p.tcpSent < p.tcpOut.size()) {
    ssize_t n = send(p.tcp.get(), p.tcpOut.data() + p.tcpSent, p.tcpOut.size() - p.tcpSent,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      failed(p);
      return;
    }
    p.tcpSent += static_cast<size_t>(n);
  }
  if (p.tcpSent == p.tcpOut.size() && (events & EPOLLOUT)) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = tcpTag(p);
    epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, p.tcp.get(), &ev);
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) return;
  char buf[16384];
  for (;;) {
    ssize_t n = recv(p.tcp.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      p.tcpIn.append(buf, static_cast<size_t>(n));
      if (p.tcpIn.size() >= 2) {
        size_t len = (static_cast<uint8_t>(p.tcpIn[0]) << 8) | static_cast<uint8_t>(p.tcpIn[1]);
        if (p.tcpIn.size() >= 2 + len) break;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    failed(p);  // closed before a whole answer
    return;
  }
  size_t len = (static_cast<uint8_t>(p.tcpIn[0]) << 8) | static_cast<uint8_t>(p.tcpIn[1]);
  auto reply = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.tcpIn.data()) + 2, len);
  if (len < kHeaderSize || read16(reply.data()) != p.id ||
      !answersQuestion(reply, p.name, p.type, p.klass)) {
    failed(p);
    return;
  }
  auto answer = readAnswer(reply, now_);
  if (!answer) {
    failed(p);
    return;
  }
  p.tcp.reset();
  cache_.insert(p.key, *answer);
  finish(p, &*answer);
}

void Server::Impl::expire(Clock::time_point now) {
  while (!timers_.empty() && std::get<0>(timers_.top()) <= now) {
    auto [deadline, serial, attempt] = timers_.top();
    timers_.pop();
    auto it = pending_.find(serial);
    if (it == pending_.end() || it->second->attempt != attempt) continue;  // answered, or retried
    spdlog::debug("DNS: upstream {} did not answer in time",
                  describe(upstreams_[it->second->upstream]->addr));
    failed(*it->second);
  }
}

// ---- Server ----

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, const ZoneHolder& zones) {
  auto impl = std::make_unique<Impl>(std::move(options), zones);
  SVCR_RETURN_IF_ERROR(impl->open());
  Impl* raw = impl.get();
  impl->thread_ = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

const Stats& Server::stats() const { return impl_->stats_; }

std::vector<UpstreamCounts> Server::upstreams() const {
  std::vector<UpstreamCounts> out;
  for (const auto& u : impl_->upstreams_)
    out.push_back({describe(u->addr), u->failures.load(std::memory_order_relaxed)});
  return out;
}

size_t Server::cacheEntries() const { return impl_->cacheSize_.load(std::memory_order_relaxed); }

const std::vector<SocketAddress>& Server::listening() const { return impl_->listening_; }

}  // namespace svcrouter::dns
