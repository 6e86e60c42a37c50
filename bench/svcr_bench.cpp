// svcr-bench: the load client of the benchmarks. Compares cases side by side in one run,
// interleaved round by round, against the first case (the baseline).
//
//   svcr-bench --case NAME,HOST:PORT[,netns=PATH][,cgroup=DIR] [--case ...]...
//              [--mode crr|rr|udp-rr] [--requests N] [--parallel P] [--rounds R] [--json]
//
// What one request is (--mode; the server is svcr-testsrv, which answers every line or
// datagram with one line):
//   crr     (netperf's TCP_CRR) socket, non-blocking connect, send "x\n", read the reply
//           line, close with SO_LINGER {1,0} so no TIME_WAIT piles up; the latency is the
//           whole transaction (socket() to close()), and the connect latency (from the connect()
//           call until the socket is writable) is kept beside it
//   rr      (TCP_RR) "x\n" and its reply on one TCP connection per client, opened before
//           the case's clock starts
//   udp-rr  a datagram and its reply on one connected UDP socket per client; a reply not
//           back within a second counts as lost and the request is sent again
// N requests per case per round (default 5000; --connections is the older name) are shared
// by P clients (--parallel, default 1), each a thread with its own sockets, sending one
// request after the other. Each round runs every case once, starting one case later than
// the round before; round 0 warms up and is discarded. Before a case runs, the process
// moves itself into the case's network namespace (setns; its threads are made there) and
// cgroup v2 directory (its pid into DIR/cgroup.procs), or back to the ones it started in.
// Any failed request (but a lost datagram) aborts the run.
//
// Reported per case, the median over rounds of: the rate (requests/s over the case's wall
// time), the p50/p90/p99/p99.9 latency of every request of the round, the machine's CPU
// time per request (busy time of all CPUs from /proc/stat over the case: client, server,
// router and kernel, divided by the requests), the per-round ratio of the rate to the
// baseline's in the same round (with its min-max), and of p50 latency. The table goes to
// stdout; with --json it goes to stderr and stdout gets one JSON object.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/load.h"

namespace {

using svcrouter::bench::CaseSpec;
using svcrouter::bench::CpuTicks;
using svcrouter::bench::median;
using svcrouter::bench::Mode;
using svcrouter::bench::Options;
using svcrouter::bench::Percentiles;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 5000;     // per TCP connect and reply; a timeout is a failure
constexpr int kUdpTimeoutMs = 1000;  // a datagram's reply later than this is lost
constexpr int kUdpMaxLostInARow = 20;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "svcr-bench: %s\n", msg.c_str());
  std::exit(1);
}

std::string errnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

double usSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// The cgroup v2 directory this process is in: the "0::" line of /proc/self/cgroup under the
// cgroup2 mount point. Empty if there is no cgroup2 mount.
std::string currentCgroup() {
  std::ifstream mounts("/proc/self/mounts");
  std::string dev, dir, type, rest, mountPoint;
  while (mounts >> dev >> dir >> type && std::getline(mounts, rest)) {
    if (type == "cgroup2") {
      mountPoint = dir;
      break;
    }
  }
  if (mountPoint.empty()) return "";
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    if (line.starts_with("0::")) {
      std::string path = line.substr(3);
      return path == "/" ? mountPoint : mountPoint + path;
    }
  }
  return "";
}

CpuTicks cpuNow() {
  std::ifstream stat("/proc/stat");
  auto t = svcrouter::bench::readCpuTicks(stat);
  if (!t) die(t.error());
  return *t;
}

struct Case {
  CaseSpec spec;
  int netnsFd = -1;  // -1: the namespace the process started in
};

// Where the process started; cases without netns= or cgroup= run here.
struct Home {
  int netnsFd = -1;
  std::string cgroup;
};

void moveTo(const Case& c, const Home& home) {
  int ns = c.netnsFd >= 0 ? c.netnsFd : home.netnsFd;
  if (setns(ns, CLONE_NEWNET) < 0) die("case " + c.spec.name + ": setns: " + errnoName(errno));
  const std::string& cgroup = c.spec.cgroup.empty() ? home.cgroup : c.spec.cgroup;
  if (cgroup.empty()) return;
  std::string procs = cgroup + "/cgroup.procs";
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  std::string pid = std::to_string(getpid());
  if (fd < 0 || write(fd, pid.data(), pid.size()) < 0) {
    die("case " + c.spec.name + ": move to " + procs + ": " + errnoName(errno));
  }
  close(fd);
}

struct Failure {
  const char* step;
  int err;  // 0: the server closed before a full reply line
};

bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  int r;
  while ((r = poll(&p, 1, timeoutMs)) < 0 && errno == EINTR) {
  }
  return r != 0;  // on a poll error, the next call reports it
}

// Closes with RST: no TIME_WAIT on either side.
struct Socket {
  int fd = -1;
  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd < 0) return;
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
  }
};

// Sends "x\n" on a non-blocking socket and reads until the reply line ends.
std::expected<void, Failure> exchangeLine(int fd) {
  if (send(fd, "x\n", 2, MSG_NOSIGNAL) != 2) return std::unexpected(Failure{"send", errno});
  char buf[512];
  for (char last = 0; last != '\n';) {
    if (!waitFor(fd, POLLIN, kTimeoutMs)) return std::unexpected(Failure{"recv", ETIMEDOUT});
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return std::unexpected(Failure{"recv", n == 0 ? 0 : errno});
    last = buf[n - 1];
  }
  return {};
}

// Connects a non-blocking socket of TYPE to the case's target; for TCP waits until it is up.
std::expected<void, Failure> connectTo(Socket& s, const CaseSpec& c, int type) {
  s.fd = socket(c.addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return std::unexpected(Failure{"socket", errno});
  if (type == SOCK_STREAM) {
    int on = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  if (connect(s.fd, reinterpret_cast<const sockaddr*>(&c.addr), c.addrLen) == 0) return {};
  if (errno != EINPROGRESS) return std::unexpected(Failure{"connect", errno});
  if (!waitFor(s.fd, POLLOUT, kTimeoutMs)) return std::unexpected(Failure{"connect", ETIMEDOUT});
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return std::unexpected(Failure{"connect", err});
  return {};
}

// One client's share of a case.
struct Client {
  long requests = 0;
  Socket sock;                    // rr, udp-rr: opened before the clock starts
  std::vector<double> latency;    // us, every request
  std::vector<double> connectUs;  // us, crr only
  long lost = 0;
  std::optional<std::string> error;

  void fail(const char* what, long i, const Failure& f) {
    error = std::string(what) + " " + std::to_string(i) + ": " + f.step + ": " +
            (f.err ? errnoName(f.err) : "closed before the reply line");
  }

  void setUp(const CaseSpec& c, Mode mode) {
    if (mode == Mode::kCrr) return;
    auto ok = connectTo(sock, c, mode == Mode::kRr ? SOCK_STREAM : SOCK_DGRAM);
    if (!ok) fail("connection", 0, ok.error());
  }

  void run(const CaseSpec& c, Mode mode) {
    latency.reserve(requests);
    for (long i = 0; i < requests && !error; ++i) {
      auto start = Clock::now();
      std::expected<void, Failure> ok;
      switch (mode) {
        case Mode::kCrr: {
          Socket s;
          ok = connectTo(s, c, SOCK_STREAM);
          if (!ok) break;
          connectUs.push_back(usSince(start));
          ok = exchangeLine(s.fd);
          break;
        }
        case Mode::kRr:
          ok = exchangeLine(sock.fd);
          break;
        case Mode::kUdpRr:
          ok = datagram(start);
          break;
      }
      if (!ok) return fail("request", i, ok.error());
      latency.push_back(usSince(start));
    }
  }

  // One datagram and its reply; a lost one is sent again (its clock restarted).
  std::expected<void, Failure> datagram(Clock::time_point& start) {
    char buf[512];
    for (int tries = 0; tries < kUdpMaxLostInARow; ++tries) {
      if (tries > 0) {
        ++lost;
        start = Clock::now();
      }
      if (send(sock.fd, "x\n", 2, 0) != 2) return std::unexpected(Failure{"send", errno});
      while (waitFor(sock.fd, POLLIN, kUdpTimeoutMs)) {
        ssize_t n = recv(sock.fd, buf, sizeof buf, 0);
        if (n > 0) return {};
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          return std::unexpected(Failure{"recv", errno});
        }
      }
    }
    return std::unexpected(Failure{"recv", ETIMEDOUT});
  }
};

struct Result {
  double rate = 0, cpuUsPerRequest = 0, ratio = 0, p50Ratio = 0;
  Percentiles latency, connect;
  long lost = 0;
};

Result runCase(const Case& c, const Options& o, int round) {
  std::vector<Client> clients(o.parallel);
  for (int k = 0; k < o.parallel; ++k) {
    clients[k].requests = o.requests / o.parallel + (k < o.requests % o.parallel ? 1 : 0);
  }
  std::barrier ready(o.parallel + 1);
  std::vector<std::thread> threads;
  for (Client& client : clients) {
    threads.emplace_back([&c, &o, &ready, cl = &client] {
      cl->setUp(c.spec, o.mode);
      ready.arrive_and_wait();
      if (!cl->error) cl->run(c.spec, o.mode);
    });
  }
  ready.arrive_and_wait();
  auto start = Clock::now();
  CpuTicks cpu0 = cpuNow();
  for (auto& t : threads) t.join();
  CpuTicks cpu1 = cpuNow();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  Result r;
  std::vector<double> latency, connect;
  for (Client& client : clients) {
    if (client.error) {
      die("case " + c.spec.name + " (" + c.spec.target + ") round " + std::to_string(round) + ": " +
          *client.error);
    }
    latency.insert(latency.end(), client.latency.begin(), client.latency.end());
    connect.insert(connect.end(), client.connectUs.begin(), client.connectUs.end());
    r.lost += client.lost;
  }
  r.rate = static_cast<double>(o.requests) / seconds;
  r.latency = svcrouter::bench::percentiles(std::move(latency));
  r.connect = svcrouter::bench::percentiles(std::move(connect));
  double busySeconds = static_cast<double>(cpu1.busy - cpu0.busy) / sysconf(_SC_CLK_TCK);
  r.cpuUsPerRequest = busySeconds * 1e6 / static_cast<double>(o.requests);
  return r;
}

void printJson(const Options& o, const std::vector<Case>& cases,
               const std::vector<std::vector<Result>>& results) {
  auto across = [&](size_t i, auto get) {
    std::vector<double> v;
    for (auto& row : results) v.push_back(get(row[i]));
    return median(std::move(v));
  };
  std::printf(
      "{\"mode\":\"%s\",\"parallel\":%d,\"requests\":%ld,\"rounds\":%ld,\"baseline\":\"%s\","
      "\"cases\":[",
      svcrouter::bench::modeName(o.mode), o.parallel, o.requests, o.rounds - 1,
      cases[0].spec.name.c_str());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<double> ratios;
    long lost = 0;
    for (auto& row : results) {
      ratios.push_back(row[i].ratio);
      lost += row[i].lost;
    }
    auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    std::printf(
        "%s{\"name\":\"%s\",\"target\":\"%s\",\"rate_per_s\":%.1f,\"ratio_vs_baseline\":%.4f,"
        "\"ratio_min\":%.4f,\"ratio_max\":%.4f,\"p50_ratio_vs_baseline\":%.4f,"
        "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f},",
        i ? "," : "", cases[i].spec.name.c_str(), cases[i].spec.target.c_str(),
        across(i, [](const Result& r) { return r.rate; }), median(ratios), *lo, *hi,
        across(i, [](const Result& r) { return r.p50Ratio; }),
        across(i, [](const Result& r) { return r.latency.p50; }),
        across(i, [](const Result& r) { return r.latency.p90; }),
        across(i, [](const Result& r) { return r.latency.p99; }),
        across(i, [](const Result& r) { return r.latency.p999; }));
    if (o.mode == Mode::kCrr) {
      std::printf("\"connect_us\":{\"p50\":%.1f,\"p99\":%.1f},",
                  across(i, [](const Result& r) { return r.connect.p50; }),
                  across(i, [](const Result& r) { return r.connect.p99; }));
    }
    std::printf("\"cpu_us_per_request\":%.2f,\"lost\":%ld,\"per_round\":[",
                across(i, [](const Result& r) { return r.cpuUsPerRequest; }), lost);
    for (size_t k = 0; k < results.size(); ++k) {
      const Result& x = results[k][i];
      std::printf(
          "%s{\"rate_per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
          "\"p999_us\":%.1f,\"cpu_us_per_request\":%.2f,\"ratio\":%.4f,\"p50_ratio\":%.4f,"
          "\"lost\":%ld}",
          k ? "," : "", x.rate, x.latency.p50, x.latency.p90, x.latency.p99, x.latency.p999,
          x.cpuUsPerRequest, x.ratio, x.p50Ratio, x.lost);
    }
    std::printf("]}");
  }
  std::printf("]}\n");
}

void printTable(FILE* out, const Options& o, const std::vector<Case>& cases,
                const std::vector<std::vector<Result>>& results) {
  auto across = [&](size_t i, auto get) {
    std::vector<double> v;
    for (auto& row : results) v.push_back(get(row[i]));
    return v;
  };
  int width = 4;
  for (auto& c : cases) width = std::max(width, static_cast<int>(c.spec.name.size()));
  std::string ratioHeader = "ratio_vs_" + cases[0].spec.name;
  std::fprintf(out, "%-*s  %9s  %8s  %8s  %8s  %8s  %8s  %*s  %s\n", width, "case", "req/s",
               "p50_us", "p90_us", "p99_us", "p99.9_us", "cpu_us",
               static_cast<int>(ratioHeader.size()), ratioHeader.c_str(), "ratio_min-max");
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ratios = across(i, [](const Result& r) { return r.ratio; });
    auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    std::fprintf(out, "%-*s  %9.0f  %8.0f  %8.0f  %8.0f  %8.0f  %8.1f  %*.3f  %.3f-%.3f\n", width,
                 cases[i].spec.name.c_str(), median(across(i, [](auto& r) { return r.rate; })),
                 median(across(i, [](auto& r) { return r.latency.p50; })),
                 median(across(i, [](auto& r) { return r.latency.p90; })),
                 median(across(i, [](auto& r) { return r.latency.p99; })),
                 median(across(i, [](auto& r) { return r.latency.p999; })),
                 median(across(i, [](auto& r) { return r.cpuUsPerRequest; })),
                 static_cast<int>(ratioHeader.size()), median(ratios), *lo, *hi);
  }
  std::fprintf(out,
               "(%s, %ld requests per case per round from %d client(s), median of %ld rounds "
               "after a warm-up)\n",
               svcrouter::bench::modeName(o.mode), o.requests, o.parallel, o.rounds - 1);
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = svcrouter::bench::parseArgs(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr,
                 "svcr-bench: %s\n"
                 "usage: svcr-bench --case NAME,HOST:PORT[,netns=PATH][,cgroup=DIR] "
                 "[--case ...]... [--mode crr|rr|udp-rr] [--requests N] [--parallel P] "
                 "[--rounds R] [--json]\n",
                 parsed.error().c_str());
    return 2;
  }
  const Options& o = *parsed;

  Home home;
  home.netnsFd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home.netnsFd < 0) die("open /proc/self/ns/net: " + errnoName(errno));
  home.cgroup = currentCgroup();
  std::vector<Case> cases;
  for (const CaseSpec& spec : o.cases) {
    Case c{spec};
    if (!spec.netns.empty()) {
      c.netnsFd = open(spec.netns.c_str(), O_RDONLY | O_CLOEXEC);
      if (c.netnsFd < 0) die("open " + spec.netns + ": " + errnoName(errno));
    }
    if (!spec.cgroup.empty()) {
      if (home.cgroup.empty()) {
        die("cgroup= needs a cgroup v2 mount, and /proc/self/mounts has none (`ip netns exec` "
            "remounts /sys without it: start under `nsenter --net=/run/netns/NAME`, or use "
            "netns=)");
      }
      if (access((spec.cgroup + "/cgroup.procs").c_str(), W_OK) < 0) {
        die("case " + spec.name + ": " + spec.cgroup + "/cgroup.procs: " + errnoName(errno));
      }
    }
    cases.push_back(std::move(c));
  }

  Case atHome;  // neither netns= nor cgroup=
  atHome.spec.name = "home";
  // results[round - 1][case]; round 0 is not kept.
  std::vector<std::vector<Result>> results(o.rounds - 1, std::vector<Result>(cases.size()));
  for (int round = 0; round < o.rounds; ++round) {
    std::vector<Result> row(cases.size());
    for (size_t k = 0; k < cases.size(); ++k) {
      size_t i = (k + round) % cases.size();
      moveTo(cases[i], home);
      row[i] = runCase(cases[i], o, round);
    }
    moveTo(atHome, home);  // between rounds, and at the end, be where we began
    std::fprintf(stderr, "round %d%s:", round, round == 0 ? " (warm-up)" : "");
    for (size_t i = 0; i < cases.size(); ++i) {
      row[i].ratio = row[i].rate / row[0].rate;
      row[i].p50Ratio = row[0].latency.p50 > 0 ? row[i].latency.p50 / row[0].latency.p50 : 0;
      std::fprintf(stderr, "  %s %.0f/s p50 %.0fus p99 %.0fus", cases[i].spec.name.c_str(),
                   row[i].rate, row[i].latency.p50, row[i].latency.p99);
    }
    std::fprintf(stderr, "\n");
    if (round > 0) results[round - 1] = row;
  }

  printTable(o.json ? stderr : stdout, o, cases, results);
  if (o.json) printJson(o, cases, results);
  return 0;
}
