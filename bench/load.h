// The pure parts of the load client svcr-bench (bench/svcr_bench.cpp): its command line, the
// percentiles and medians it reports, and the CPU time it reads from /proc/stat. No sockets
// here, so that tests/unit/bench_load_test.cpp checks them without privileges.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <expected>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace svcrouter::bench {

// What one request is.
enum class Mode {
  kCrr,    // a new TCP connection per request: connect, send a line, read the reply, close
  kRr,     // a line and its reply on a TCP connection kept open for the whole case
  kUdpRr,  // a datagram and its reply on a connected UDP socket
};

[[nodiscard]] std::expected<Mode, std::string> parseMode(std::string_view s);
[[nodiscard]] const char* modeName(Mode mode);

// One thing to measure: a name, where to send requests, and where the client runs.
struct CaseSpec {
  std::string name;
  std::string target;  // HOST:PORT as given
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
  std::string netns;   // a network namespace file (/run/netns/NAME); empty: where we started
  std::string cgroup;  // a cgroup v2 directory; empty: where we started
};

// NAME,HOST:PORT[,netns=PATH][,cgroup=DIR]; HOST is IPv4, IPv6 or [IPv6].
[[nodiscard]] std::expected<CaseSpec, std::string> parseCase(std::string_view spec);

struct Options {
  std::vector<CaseSpec> cases;  // the first is the baseline of every ratio
  Mode mode = Mode::kCrr;
  long requests = 5000;  // per case per round, over all parallel clients
  long rounds = 7;       // round 0 is a warm-up and not counted
  int parallel = 1;      // clients (threads), each with its own socket(s)
  bool json = false;
};

// The arguments after the program's name. --connections is --requests' older name.
[[nodiscard]] std::expected<Options, std::string> parseArgs(const std::vector<std::string>& args);

// Nearest-rank percentiles of every request's latency (any unit).
struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;
};

// The value at rank ceil(p * n) of sorted values (the smallest one for p = 0); 0 if empty.
[[nodiscard]] double percentile(const std::vector<double>& sorted, double p);
// Sorts samples, then reads p50, p90, p99 and p99.9.
[[nodiscard]] Percentiles percentiles(std::vector<double> samples);
// The middle value, or the mean of the middle two; 0 if empty.
[[nodiscard]] double median(std::vector<double> values);

// The machine's CPU time from /proc/stat's "cpu" line, in clock ticks: busy is all but idle
// and iowait. The difference over a case is what that case cost every process and the kernel
// (softirqs included), with client, server and router on the same machine.
struct CpuTicks {
  uint64_t busy = 0, total = 0;
};
[[nodiscard]] std::expected<CpuTicks, std::string> readCpuTicks(std::istream& procStat);

}  // namespace svcrouter::bench
