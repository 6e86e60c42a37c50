// svcr-bench: connection-rate benchmark. Compares cases side by side in one run, interleaved
// round by round, against the first case (the baseline).
//
//   svcr-bench --case NAME,HOST:PORT[,netns=PATH][,cgroup=DIR] [--case ...]...
//              [--connections N] [--rounds R] [--json]
//
// One connection: socket, non-blocking connect (latency: from the connect() call until the
// socket is writable), send "x\n", read the reply line, close with SO_LINGER {1,0} so no
// TIME_WAIT piles up. Single-threaded and sequential. Each round runs every case once,
// starting one case later than the round before; round 0 warms up and is discarded. Before
// a case runs, the process moves itself into the case's network namespace (setns) and cgroup
// v2 directory (its pid into DIR/cgroup.procs), or back to the ones it started in, so
// sockets are created where the case says. Any failed connection aborts the run.
//
// Output: one progress line per round on stderr, then per case the median over rounds of
// conns/s, p50 and p99 connect latency, and of the per-round ratio to the baseline's conns/s.
// The table goes to stdout; with --json it goes to stderr and stdout gets one JSON object.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 5000;  // per connect and per reply; a timeout is a failure

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "svcr-bench: %s\n", msg.c_str());
  std::exit(1);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "svcr-bench: %s\n"
               "usage: svcr-bench --case NAME,HOST:PORT[,netns=PATH][,cgroup=DIR] "
               "[--case ...]... [--connections N] [--rounds R] [--json]\n",
               why.c_str());
  std::exit(2);
}

std::string errnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

long parseNumber(std::string_view s, long min, const char* what) {
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min) usage(std::string("bad ") + what);
  return v;
}

struct Case {
  std::string name;
  std::string target;  // HOST:PORT as given
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  int netnsFd = -1;    // -1: the namespace the process started in
  std::string cgroup;  // empty: the cgroup the process started in
};

// HOST:PORT, with [brackets] or a bare address before the last ':' for IPv6.
void parseTarget(Case& c) {
  size_t colon = c.target.rfind(':');
  if (colon == std::string::npos) usage("target needs HOST:PORT: " + c.target);
  std::string host = c.target.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  long port = parseNumber(std::string_view(c.target).substr(colon + 1), 1, "port");
  if (port > 65535) usage("bad port: " + c.target);
  if (host.find(':') != std::string::npos) {
    auto& a = reinterpret_cast<sockaddr_in6&>(c.addr);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) usage("bad address: " + host);
    c.addrLen = sizeof a;
  } else {
    auto& a = reinterpret_cast<sockaddr_in&>(c.addr);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) usage("bad address: " + host);
    c.addrLen = sizeof a;
  }
}

Case parseCase(std::string_view spec) {
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    size_t comma = spec.find(',', start);
    fields.emplace_back(spec.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (fields.size() < 2) usage("--case needs NAME,HOST:PORT");
  Case c;
  c.name = fields[0];
  bool nameOk = !c.name.empty() && std::all_of(c.name.begin(), c.name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
  });
  if (!nameOk) usage("case name must be letters, digits, '-', '_' or '.': " + c.name);
  c.target = fields[1];
  parseTarget(c);
  for (size_t i = 2; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    if (f.starts_with("netns=")) {
      std::string path = f.substr(6);
      c.netnsFd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (c.netnsFd < 0) die("open " + path + ": " + errnoName(errno));
    } else if (f.starts_with("cgroup=")) {
      c.cgroup = f.substr(7);
    } else {
      usage("unknown case option: " + f);
    }
  }
  return c;
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

// Where the process started; cases without netns= or cgroup= run here.
struct Home {
  int netnsFd = -1;
  std::string cgroup;
};

void moveTo(const Case& c, const Home& home) {
  int ns = c.netnsFd >= 0 ? c.netnsFd : home.netnsFd;
  if (setns(ns, CLONE_NEWNET) < 0) die("case " + c.name + ": setns: " + errnoName(errno));
  const std::string& cgroup = c.cgroup.empty() ? home.cgroup : c.cgroup;
  if (cgroup.empty()) return;
  std::string procs = cgroup + "/cgroup.procs";
  int fd = open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  std::string pid = std::to_string(getpid());
  if (fd < 0 || write(fd, pid.data(), pid.size()) < 0) {
    die("case " + c.name + ": move to " + procs + ": " + errnoName(errno));
  }
  close(fd);
}

struct Failure {
  const char* step;
  int err;  // 0: the server closed before a full reply line
};

bool waitFor(int fd, short events) {
  pollfd p{fd, events, 0};
  int r;
  while ((r = poll(&p, 1, kTimeoutMs)) < 0 && errno == EINTR) {
  }
  return r != 0;  // on a poll error, the next call reports it
}

// One connection; returns its connect latency in microseconds.
std::expected<double, Failure> oneConnection(const Case& c) {
  int fd = socket(c.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(Failure{"socket", errno});
  struct Closer {
    int fd;
    ~Closer() {
      linger l{1, 0};  // RST on close: no TIME_WAIT on either side
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      close(fd);
    }
  } closer{fd};

  auto start = Clock::now();
  if (connect(fd, reinterpret_cast<const sockaddr*>(&c.addr), c.addrLen) < 0) {
    if (errno != EINPROGRESS) return std::unexpected(Failure{"connect", errno});
    if (!waitFor(fd, POLLOUT)) return std::unexpected(Failure{"connect", ETIMEDOUT});
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return std::unexpected(Failure{"connect", err});
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();

  if (send(fd, "x\n", 2, MSG_NOSIGNAL) != 2) return std::unexpected(Failure{"send", errno});
  char buf[512];
  for (char last = 0; last != '\n';) {  // the reply is one line
    if (!waitFor(fd, POLLIN)) return std::unexpected(Failure{"recv", ETIMEDOUT});
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return std::unexpected(Failure{"recv", n == 0 ? 0 : errno});
    last = buf[n - 1];
  }
  return us;
}

struct Result {
  double connsPerSec = 0, p50Us = 0, p99Us = 0, ratio = 0;
};

double percentile(const std::vector<double>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Result runCase(const Case& c, long connections, int round) {
  std::vector<double> latencies;
  latencies.reserve(connections);
  auto start = Clock::now();
  for (long i = 0; i < connections; ++i) {
    auto us = oneConnection(c);
    if (!us) {
      die("case " + c.name + " (" + c.target + ") round " + std::to_string(round) + " connection " +
          std::to_string(i) + ": " + us.error().step + ": " +
          (us.error().err ? errnoName(us.error().err) : "closed before the reply line"));
    }
    latencies.push_back(*us);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  return {connections / seconds, percentile(latencies, 0.50), percentile(latencies, 0.99), 0};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Case> cases;
  long connections = 5000;
  long rounds = 7;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    bool hasValue = i + 1 < argc;
    if (arg == "--case" && hasValue) {
      cases.push_back(parseCase(argv[++i]));
    } else if (arg == "--connections" && hasValue) {
      connections = parseNumber(argv[++i], 1, "--connections");
    } else if (arg == "--rounds" && hasValue) {
      rounds = parseNumber(argv[++i], 2, "--rounds (at least 2: round 0 is a warm-up)");
    } else if (arg == "--json") {
      json = true;
    } else {
      usage("unexpected argument: " + std::string(arg));
    }
  }
  if (cases.empty()) usage("at least one --case is needed");

  Home home;
  home.netnsFd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home.netnsFd < 0) die("open /proc/self/ns/net: " + errnoName(errno));
  home.cgroup = currentCgroup();
  for (const Case& c : cases) {
    if (c.cgroup.empty()) continue;
    if (home.cgroup.empty()) {
      die("cgroup= needs a cgroup v2 mount, and /proc/self/mounts has none (`ip netns exec` "
          "remounts /sys without it: start under `nsenter --net=/run/netns/NAME`, or use netns=)");
    }
    if (access((c.cgroup + "/cgroup.procs").c_str(), W_OK) < 0) {
      die("case " + c.name + ": " + c.cgroup + "/cgroup.procs: " + errnoName(errno));
    }
  }

  Case atHome;  // neither netns= nor cgroup=
  atHome.name = "home";
  // results[round - 1][case]; round 0 is not kept.
  std::vector<std::vector<Result>> results(rounds - 1, std::vector<Result>(cases.size()));
  for (int round = 0; round < rounds; ++round) {
    std::vector<Result> row(cases.size());
    for (size_t k = 0; k < cases.size(); ++k) {
      size_t i = (k + round) % cases.size();
      moveTo(cases[i], home);
      row[i] = runCase(cases[i], connections, round);
    }
    moveTo(atHome, home);  // between rounds, and at the end, be where we began
    std::fprintf(stderr, "round %d%s:", round, round == 0 ? " (warm-up)" : "");
    for (size_t i = 0; i < cases.size(); ++i) {
      row[i].ratio = row[i].connsPerSec / row[0].connsPerSec;
      std::fprintf(stderr, "  %s %.0f/s p50 %.0fus p99 %.0fus", cases[i].name.c_str(),
                   row[i].connsPerSec, row[i].p50Us, row[i].p99Us);
    }
    std::fprintf(stderr, "\n");
    if (round > 0) results[round - 1] = row;
  }

  auto across = [&](size_t i, double Result::*field) {
    std::vector<double> v;
    for (auto& row : results) v.push_back(row[i].*field);
    return v;
  };
  FILE* table = json ? stderr : stdout;
  int width = 4;
  for (auto& c : cases) width = std::max(width, static_cast<int>(c.name.size()));
  std::string ratioHeader = "ratio_vs_" + cases[0].name;
  std::fprintf(table, "%-*s  %9s  %8s  %8s  %*s  %s\n", width, "case", "conns/s", "p50_us",
               "p99_us", static_cast<int>(ratioHeader.size()), ratioHeader.c_str(),
               "ratio_min-max");
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ratios = across(i, &Result::ratio);
    auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    std::fprintf(table, "%-*s  %9.0f  %8.0f  %8.0f  %*.3f  %.3f-%.3f\n", width,
                 cases[i].name.c_str(), median(across(i, &Result::connsPerSec)),
                 median(across(i, &Result::p50Us)), median(across(i, &Result::p99Us)),
                 static_cast<int>(ratioHeader.size()), median(ratios), *lo, *hi);
  }
  std::fprintf(table,
               "(%ld connections per case per round, median of %ld rounds after a warm-up)\n",
               connections, rounds - 1);

  if (json) {
    std::printf("{\"connections\":%ld,\"rounds\":%ld,\"baseline\":\"%s\",\"cases\":[", connections,
                rounds - 1, cases[0].name.c_str());
    for (size_t i = 0; i < cases.size(); ++i) {
      std::printf(
          "%s{\"name\":\"%s\",\"target\":\"%s\",\"conns_per_s\":%.1f,\"p50_us\":%.1f,"
          "\"p99_us\":%.1f,\"ratio_vs_baseline\":%.4f,\"per_round\":[",
          i ? "," : "", cases[i].name.c_str(), cases[i].target.c_str(),
          median(across(i, &Result::connsPerSec)), median(across(i, &Result::p50Us)),
          median(across(i, &Result::p99Us)), median(across(i, &Result::ratio)));
      for (size_t r = 0; r < results.size(); ++r) {
        const Result& x = results[r][i];
        std::printf("%s{\"conns_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"ratio\":%.4f}",
                    r ? "," : "", x.connsPerSec, x.p50Us, x.p99Us, x.ratio);
      }
      std::printf("]}");
    }
    std::printf("]}\n");
  }
  return 0;
}
