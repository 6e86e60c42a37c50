#include "bench/load.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

namespace svcrouter::bench {
namespace {

std::expected<long, std::string> parseNumber(std::string_view s, long min, long max,
                                             std::string_view what) {
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
    return std::unexpected("bad " + std::string(what) + ": '" + std::string(s) + "' (" +
                           std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  return v;
}

// HOST:PORT, with [brackets] or a bare address before the last ':' for IPv6.
std::expected<void, std::string> parseTarget(CaseSpec& c) {
  size_t colon = c.target.rfind(':');
  if (colon == std::string::npos) return std::unexpected("target needs HOST:PORT: " + c.target);
  std::string host = c.target.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  auto port = parseNumber(std::string_view(c.target).substr(colon + 1), 1, 65535, "port");
  if (!port) return std::unexpected(port.error() + " in " + c.target);
  c.addr = {};
  if (host.find(':') != std::string::npos) {
    auto& a = reinterpret_cast<sockaddr_in6&>(c.addr);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET6, host.c_str(), &a.sin6_addr) != 1) {
      return std::unexpected("bad address: " + host);
    }
    c.addrLen = sizeof a;
  } else {
    auto& a = reinterpret_cast<sockaddr_in&>(c.addr);
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(*port));
    if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      return std::unexpected("bad address: " + host);
    }
    c.addrLen = sizeof a;
  }
  return {};
}

}  // namespace

std::expected<Mode, std::string> parseMode(std::string_view s) {
  for (Mode m : {Mode::kCrr, Mode::kRr, Mode::kUdpRr}) {
    if (s == modeName(m)) return m;
  }
  return std::unexpected("unknown mode '" + std::string(s) + "' (crr, rr or udp-rr)");
}

const char* modeName(Mode mode) {
  switch (mode) {
    case Mode::kCrr:
      return "crr";
    case Mode::kRr:
      return "rr";
    case Mode::kUdpRr:
      return "udp-rr";
  }
  return "?";
}

std::expected<CaseSpec, std::string> parseCase(std::string_view spec) {
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    size_t comma = spec.find(',', start);
    fields.emplace_back(spec.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (fields.size() < 2) return std::unexpected("--case needs NAME,HOST:PORT");
  CaseSpec c;
  c.name = fields[0];
  bool nameOk = !c.name.empty() && std::all_of(c.name.begin(), c.name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
  });
  if (!nameOk) {
    return std::unexpected("case name must be letters, digits, '-', '_' or '.': " + c.name);
  }
  c.target = fields[1];
  if (auto ok = parseTarget(c); !ok) return std::unexpected(ok.error());
  for (size_t i = 2; i < fields.size(); ++i) {
    const std::string& f = fields[i];
    if (f.starts_with("netns=") && f.size() > 6) {
      c.netns = f.substr(6);
    } else if (f.starts_with("cgroup=") && f.size() > 7) {
      c.cgroup = f.substr(7);
    } else {
      return std::unexpected("unknown case option: " + f);
    }
  }
  return c;
}

std::expected<Options, std::string> parseArgs(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= args.size()) return std::unexpected("unexpected argument: " + arg);
    std::string_view value = args[++i];
    if (arg == "--case") {
      auto c = parseCase(value);
      if (!c) return std::unexpected(c.error());
      o.cases.push_back(std::move(*c));
    } else if (arg == "--mode") {
      auto m = parseMode(value);
      if (!m) return std::unexpected(m.error());
      o.mode = *m;
    } else if (arg == "--requests" || arg == "--connections") {
      auto n = parseNumber(value, 1, 1'000'000'000, arg);
      if (!n) return std::unexpected(n.error());
      o.requests = *n;
    } else if (arg == "--rounds") {
      auto n = parseNumber(value, 2, 100'000, "--rounds (at least 2: round 0 is a warm-up)");
      if (!n) return std::unexpected(n.error());
      o.rounds = *n;
    } else if (arg == "--parallel") {
      auto n = parseNumber(value, 1, 1024, arg);
      if (!n) return std::unexpected(n.error());
      o.parallel = static_cast<int>(*n);
    } else {
      return std::unexpected("unexpected argument: " + arg);
    }
  }
  if (o.cases.empty()) return std::unexpected("at least one --case is needed");
  if (o.requests < o.parallel) {
    return std::unexpected("--requests must be at least --parallel (each client sends one)");
  }
  return o;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

Percentiles percentiles(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {percentile(samples, 0.50), percentile(samples, 0.90), percentile(samples, 0.99),
          percentile(samples, 0.999)};
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::expected<CpuTicks, std::string> readCpuTicks(std::istream& procStat) {
  for (std::string line; std::getline(procStat, line);) {
    if (!line.starts_with("cpu ")) continue;
    std::istringstream fields(line.substr(4));
    CpuTicks t;
    uint64_t v = 0;
    int i = 0;
    // user nice system idle iowait irq softirq steal [guest guest_nice: inside user, nice]
    for (; i < 8 && fields >> v; ++i) {
      t.total += v;
      if (i != 3 && i != 4) t.busy += v;
    }
    if (i < 8) return std::unexpected("/proc/stat: a short cpu line: " + line);
    return t;
  }
  return std::unexpected("/proc/stat: no cpu line");
}

}  // namespace svcrouter::bench
