// svcr-probe: a client for the checks curl and dig cannot make. Prints one key=value line per
// fact, flushed, so a shell test can grep them.
//
//   svcr-probe tcp    HOST PORT [--timeout-ms N]   connect_ms=, peer=, local=, reply=
//   svcr-probe hold   HOST PORT [--timeout-ms N]   connect_ms=, peer=, local=, reply=; then
//                                                  reply= per stdin line on that connection
//   svcr-probe udp    HOST PORT [--timeout-ms N] [--connect]   from=, reply=
//   svcr-probe udphold HOST PORT [--timeout-ms N] [--connect]  from=, reply=; then again
//                                                  per stdin line, on the same socket
//   svcr-probe repeat HOST PORT COUNT [--timeout-ms N]         reply= per connection
//   svcr-probe load   HOST PORT SECONDS RATE [--timeout-ms N] [--log FILE]
//                     new connections at RATE a second for SECONDS, each one request and its
//                     reply, closed with a reset; then total=, failed=, rate= (achieved),
//                     seconds=, connect_ms_max=, reply.NAME=COUNT per backend and
//                     errno.NAME=COUNT per failure; --log FILE: "EPOCH_MS REPLY" (or
//                     "EPOCH_MS errno=NAME") a connection. Exit 0 when none failed.
//
// HOST picks the family: a dotted quad is AF_INET, anything with ':' (also ::ffff:a.b.c.d)
// is AF_INET6. Every request is "hello\n"; a reply is one line. Exit 0 on success; 1 on a
// failed call, after errno=NAME (EOF when the peer closed before a full line) and
// elapsed_ms=MS for that call; 2 on a usage error. Default timeout 2000 ms per call.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kRequest = "hello\n";

[[noreturn]] void usage(const char* why = nullptr) {
  if (why) std::fprintf(stderr, "svcr-probe: %s\n", why);
  std::fprintf(stderr,
               "usage: svcr-probe tcp HOST PORT [--timeout-ms N]\n"
               "       svcr-probe hold HOST PORT [--timeout-ms N]\n"
               "       svcr-probe udp HOST PORT [--timeout-ms N] [--connect]\n"
               "       svcr-probe udphold HOST PORT [--timeout-ms N] [--connect]\n"
               "       svcr-probe repeat HOST PORT COUNT [--timeout-ms N]\n"
               "       svcr-probe load HOST PORT SECONDS RATE [--timeout-ms N] [--log FILE]\n");
  std::exit(2);
}

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Reports a failed call and exits 1. err 0 means the peer closed before a full reply.
[[noreturn]] void fail(int err, Clock::time_point start) {
  const char* name = err == 0 ? "EOF" : strerrorname_np(err);
  std::printf("errno=%s\nelapsed_ms=%.3f\n", name ? name : std::to_string(err).c_str(),
              msSince(start));
  std::exit(1);
}

long parseNumber(std::string_view s, long min, long max, const char* what) {
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) usage(what);
  return v;
}

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Target parseTarget(std::string host, std::string_view port) {
  Target t;
  uint16_t p = htons(parseNumber(port, 1, 65535, "bad PORT"));
  if (host.find(':') != std::string::npos) {
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    auto& a = reinterpret_cast<sockaddr_in6&>(t.addr);
    a.sin6_family = AF_INET6;
    a.sin6_port = p;
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) usage("bad IPv6 HOST");
    t.len = sizeof a;
  } else {
    auto& a = reinterpret_cast<sockaddr_in&>(t.addr);
    a.sin_family = AF_INET;
    a.sin_port = p;
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) usage("bad IPv4 HOST");
    t.len = sizeof a;
  }
  return t;
}

// Numeric ADDR:PORT as the kernel reports it: 10.96.0.10:80, [fd00::10]:80.
std::string formatAddr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
  return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
}

// Waits until fd is ready for events; false on timeout.
bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, timeoutMs);
    if (r >= 0) return r > 0;
    if (errno != EINTR) return true;  // let the next call report the error
  }
}

// A non-blocking TCP connection with a line reader; any failure exits through fail().
class TcpConn {
 public:
  TcpConn(const Target& t, int timeoutMs) : timeoutMs_(timeoutMs) {
    auto start = Clock::now();
    fd_ = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail(errno, start);
    start = Clock::now();
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&t.addr), t.len) < 0) {
      if (errno != EINPROGRESS) fail(errno, start);
      if (!waitFor(fd_, POLLOUT, timeoutMs_)) fail(ETIMEDOUT, start);
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) fail(err, start);
    }
    connectMs_ = msSince(start);
  }
  ~TcpConn() { close(fd_); }

  double connectMs() const { return connectMs_; }

  std::string peer() const { return name(getpeername); }
  std::string local() const { return name(getsockname); }

  // Sends the request and returns the reply line, without its '\n'.
  std::string exchange() {
    auto start = Clock::now();
    for (size_t sent = 0; sent < kRequest.size();) {
      ssize_t n = send(fd_, kRequest.data() + sent, kRequest.size() - sent, MSG_NOSIGNAL);
      if (n >= 0) {
        sent += n;
      } else if (errno == EAGAIN) {
        if (!waitFor(fd_, POLLOUT, timeoutMs_)) fail(ETIMEDOUT, start);
      } else if (errno != EINTR) {
        fail(errno, start);
      }
    }
    for (;;) {
      if (size_t eol = buf_.find('\n'); eol != std::string::npos) {
        std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 1);
        return line;
      }
      if (!waitFor(fd_, POLLIN, timeoutMs_)) fail(ETIMEDOUT, start);
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) fail(errno, start);
      if (n == 0) fail(0, start);
      buf_.append(chunk, n);
    }
  }

  // Makes close() send RST instead of FIN, so no TIME_WAIT is left behind.
  void abortOnClose() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }

 private:
  std::string name(int (*get)(int, sockaddr*, socklen_t*)) const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    auto start = Clock::now();
    if (get(fd_, reinterpret_cast<sockaddr*>(&ss), &len) < 0) fail(errno, start);
    return formatAddr(ss);
  }

  int fd_ = -1;
  int timeoutMs_;
  double connectMs_ = 0;
  std::string buf_;  // bytes received after the last line returned
};

int runTcp(const Target& t, int timeoutMs) {
  TcpConn conn(t, timeoutMs);
  std::printf("connect_ms=%.3f\n", conn.connectMs());
  std::printf("peer=%s\nlocal=%s\n", conn.peer().c_str(), conn.local().c_str());
  std::printf("reply=%s\n", conn.exchange().c_str());
  return 0;
}

int runHold(const Target& t, int timeoutMs) {
  TcpConn conn(t, timeoutMs);
  std::printf("connect_ms=%.3f\n", conn.connectMs());
  std::printf("peer=%s\nlocal=%s\n", conn.peer().c_str(), conn.local().c_str());
  std::printf("reply=%s\n", conn.exchange().c_str());
  for (std::string line; std::getline(std::cin, line);) {
    std::printf("reply=%s\n", conn.exchange().c_str());
  }
  return 0;
}

int runRepeat(const Target& t, int timeoutMs, long count) {
  for (long i = 0; i < count; ++i) {
    TcpConn conn(t, timeoutMs);
    conn.abortOnClose();
    std::printf("reply=%s\n", conn.exchange().c_str());
  }
  return 0;
}

// One datagram out, one reply in; prints where the reply came from.
void udpExchange(int fd, const Target& t, int timeoutMs, bool connected) {
  auto start = Clock::now();
  auto* to = reinterpret_cast<const sockaddr*>(&t.addr);
  ssize_t sent = connected ? send(fd, kRequest.data(), kRequest.size(), 0)
                           : sendto(fd, kRequest.data(), kRequest.size(), 0, to, t.len);
  if (sent < 0) fail(errno, start);
  start = Clock::now();
  if (!waitFor(fd, POLLIN, timeoutMs)) fail(ETIMEDOUT, start);
  char buf[65536];
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) fail(errno, start);
  std::string_view reply(buf, n);
  reply = reply.substr(0, reply.find('\n'));
  std::printf("from=%s\n", formatAddr(from).c_str());
  std::printf("reply=%.*s\n", static_cast<int>(reply.size()), reply.data());
}

// udp: one exchange. udphold: then one more on the same socket for every
// line read from stdin.
int runUdp(const Target& t, int timeoutMs, bool connected, bool hold) {
  auto start = Clock::now();
  int fd = socket(t.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno, start);
  if (connected && connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len) < 0)
    fail(errno, start);
  udpExchange(fd, t, timeoutMs, connected);
  if (hold)
    for (std::string line; std::getline(std::cin, line);) udpExchange(fd, t, timeoutMs, connected);
  close(fd);
  return 0;
}

// load: one connection's outcome; never exits, unlike TcpConn.
struct LoadOutcome {
  int err = 0;  // 0: replied
  bool eof = false;
  std::string reply;
  double connectMs = 0;
};

LoadOutcome loadConnection(const Target& t, int timeoutMs) {
  LoadOutcome out;
  int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.err = errno;
    return out;
  }
  // A reset on close: thousands of connections a second leave no TIME_WAIT.
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  auto failWith = [&](int err) {
    out.err = err;
    close(fd);
    return out;
  };
  auto start = Clock::now();
  if (connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len) < 0) {
    if (errno != EINPROGRESS) return failWith(errno);
    if (!waitFor(fd, POLLOUT, timeoutMs)) return failWith(ETIMEDOUT);
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return failWith(err);
  }
  out.connectMs = msSince(start);
  if (send(fd, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(kRequest.size()))
    return failWith(errno ? errno : EMSGSIZE);
  std::string buf;
  while (buf.find('\n') == std::string::npos) {
    int left = timeoutMs - static_cast<int>(msSince(start));
    if (left <= 0 || !waitFor(fd, POLLIN, left)) return failWith(ETIMEDOUT);
    char chunk[512];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return failWith(errno);
    if (n == 0) {
      out.eof = true;
      return failWith(0);
    }
    buf.append(chunk, n);
  }
  out.reply = buf.substr(0, buf.find('\n'));
  close(fd);
  return out;
}

// Paced by the clock, not by the replies: connection i starts at i / rate
// seconds (at once when the ones before took longer).
int runLoad(const Target& t, int timeoutMs, double seconds, double rate, const std::string& log) {
  std::ofstream logFile;
  if (!log.empty()) {
    logFile.open(log);
    if (!logFile) usage("cannot write the --log file");
  }
  std::map<std::string, long> replies, errors;
  long total = 0, failed = 0;
  double connectMax = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (;;) {
    auto due = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(total / rate));
    if (due >= end) break;
    if (due > Clock::now()) std::this_thread::sleep_until(due);
    LoadOutcome o = loadConnection(t, timeoutMs);
    ++total;
    std::string what;
    if (o.err == 0 && !o.eof) {
      ++replies[o.reply];
      connectMax = std::max(connectMax, o.connectMs);
      what = o.reply;
    } else {
      ++failed;
      const char* name = o.eof ? "EOF" : strerrorname_np(o.err);
      what = std::string("errno=") + (name ? name : std::to_string(o.err));
      ++errors[what.substr(6)];
    }
    if (logFile) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
      logFile << ms << ' ' << what << '\n';
    }
  }
  double elapsed = msSince(start) / 1000;
  std::printf("total=%ld\nfailed=%ld\nrate=%.1f\nseconds=%.3f\nconnect_ms_max=%.3f\n", total,
              failed, total / elapsed, elapsed, connectMax);
  for (const auto& [name, n] : replies) std::printf("reply.%s=%ld\n", name.c_str(), n);
  for (const auto& [name, n] : errors) std::printf("errno.%s=%ld\n", name.c_str(), n);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // every key=value line reaches a pipe at once
  std::vector<std::string_view> args;
  int timeoutMs = 2000;
  bool connected = false;
  std::string log;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--timeout-ms" && i + 1 < argc) {
      timeoutMs = parseNumber(argv[++i], 1, 3'600'000, "bad --timeout-ms");
    } else if (arg == "--log" && i + 1 < argc) {
      log = argv[++i];
    } else if (arg == "--connect") {
      connected = true;
    } else if (arg.starts_with("--")) {
      usage("unknown option");
    } else {
      args.push_back(arg);
    }
  }
  if (args.size() < 3) usage();
  std::string_view cmd = args[0];
  Target target = parseTarget(std::string(args[1]), args[2]);
  if (connected && cmd != "udp" && cmd != "udphold") usage("--connect is for udp");
  if (cmd == "repeat" && args.size() == 4) {
    return runRepeat(target, timeoutMs, parseNumber(args[3], 1, 100'000'000, "bad COUNT"));
  }
  if (cmd == "load" && args.size() == 5) {
    return runLoad(target, timeoutMs, parseNumber(args[3], 1, 86'400, "bad SECONDS"),
                   parseNumber(args[4], 1, 1'000'000, "bad RATE"), log);
  }
  if (!log.empty()) usage("--log is for load");
  if (args.size() != 3) usage();
  if (cmd == "tcp") return runTcp(target, timeoutMs);
  if (cmd == "hold") return runHold(target, timeoutMs);
  if (cmd == "udp") return runUdp(target, timeoutMs, connected, false);
  if (cmd == "udphold") return runUdp(target, timeoutMs, connected, true);
  usage("unknown command");
}
