// svcr-dnsload: DNS queries at a fixed rate, and each one's latency.
//
//   svcr-dnsload --server IP [--port 53] --queries FILE --rate QPS --seconds S
//
// For the latency percentiles of scripts/bench-dns.sh: dnsperf measures the
// peak, but its per-query report (-v) costs it more than the servers at
// these rates. Reads "NAME TYPE" lines (dnsperf's format), builds the
// queries once with ldns, then sends them in turn over one UDP socket,
// paced to QPS (every due query sent at once, in batches), and times each
// answer from its send. A query without an answer within a second is lost.
// Prints one line: sent received lost rate p50 p90 p99 p999 max (us).
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/load.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "svcr-dnsload: %s\n", what.c_str());
  std::exit(2);
}

std::vector<std::vector<uint8_t>> readQueries(const std::string& file) {
  std::ifstream in(file);
  if (!in) die("cannot read " + file);
  std::vector<std::vector<uint8_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string name, type = "A";
    if (!(words >> name)) continue;
    words >> type;
    ldns_pkt* q = nullptr;
    if (ldns_pkt_query_new_frm_str(&q, name.c_str(), ldns_get_rr_type_by_name(type.c_str()),
                                   LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK)
      die("not a query: " + line);
    uint8_t* wire = nullptr;
    size_t size = 0;
    ldns_pkt2wire(&wire, q, &size);
    out.emplace_back(wire, wire + size);
    free(wire);
    ldns_pkt_free(q);
  }
  if (out.empty()) die("no queries in " + file);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server, file;
  int port = 53;
  double rate = 0, seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string opt = argv[i], val = argv[i + 1];
    if (opt == "--server")
      server = val;
    else if (opt == "--port")
      port = std::stoi(val);
    else if (opt == "--queries")
      file = val;
    else if (opt == "--rate")
      rate = std::stod(val);
    else if (opt == "--seconds")
      seconds = std::stod(val);
    else
      die("unknown option " + opt);
  }
  if (server.empty() || file.empty() || rate <= 0 || seconds <= 0)
    die("usage: --server IP [--port 53] --queries FILE --rate QPS --seconds S");
  auto queries = readQueries(file);

  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, server.c_str(), &to.sin_addr) != 1) die("not an IPv4 address: " + server);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int buf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0)
    die("socket to " + server + ": " + std::strerror(errno));

  // In flight, by ID: when sent (zero: answered or never sent).
  std::vector<Clock::time_point> sentAt(65536);
  std::vector<double> latencies;
  const auto total = static_cast<uint64_t>(rate * seconds);
  latencies.reserve(total);
  uint64_t sent = 0, received = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds + 1.0));
  uint8_t reply[4096];
  for (;;) {
    auto now = Clock::now();
    // Every query due by now.
    auto due = std::min<uint64_t>(
        total,
        static_cast<uint64_t>(std::chrono::duration<double>(now - start).count() * rate) + 1);
    while (sent < due) {
      auto q = queries[sent % queries.size()];
      auto id = static_cast<uint16_t>(sent);
      q[0] = static_cast<uint8_t>(id >> 8);
      q[1] = static_cast<uint8_t>(id & 0xff);
      sentAt[id] = Clock::now();
      if (send(fd, q.data(), q.size(), 0) < 0 && errno != EAGAIN) die(std::strerror(errno));
      ++sent;
    }
    for (;;) {
      ssize_t n = recv(fd, reply, sizeof(reply), 0);
      if (n < 2) break;
      auto t = Clock::now();
      uint16_t id = static_cast<uint16_t>((reply[0] << 8) | reply[1]);
      if (sentAt[id] == Clock::time_point{}) continue;
      latencies.push_back(std::chrono::duration<double, std::micro>(t - sentAt[id]).count());
      sentAt[id] = {};
      ++received;
    }
    now = Clock::now();
    if (now >= end || (sent == total && received == total)) break;
    // Until the next query is due (or a reply comes), without spinning:
    // the client's CPU also carries the kernel's work for its packets.
    auto wait = sent < total
                    ? start +
                          std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(sent / rate)) -
                          now
                    : std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(10));
    auto ns =
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count());
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    pollfd p{fd, POLLIN, 0};
    ppoll(&p, 1, &ts, nullptr);
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  double max = latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end());
  auto pct = svcrouter::bench::percentiles(std::move(latencies));
  std::printf("%llu %llu %llu %.0f %.1f %.1f %.1f %.1f %.1f\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(sent - received),
              static_cast<double>(received) / std::min(elapsed, seconds), pct.p50, pct.p90, pct.p99,
              pct.p999, max);
  close(fd);
  return 0;
}
