// svcr-tc-cost: the packet path's own cost per packet, measured by the kernel
// (BPF_PROG_TEST_RUN's duration) against an empty TC program, side by side:
//
//   svcr-tc-cost [--repeat N] [--rounds R]
//
// Cases, each a frame through the real ingress logic (bench/tc_cost.bpf.c):
//   first        a flow's first packet: service lookup, round-robin, two
//                conntrack entries, DNAT (its entries are deleted after each run)
//   established  a later packet of that flow: the prefilter, one conntrack
//                lookup, DNAT, the counters
//   other        a packet of a connection that is no service's: the prefilter
//   empty        an empty program (the floor every case is measured from)
// Rounds interleave the cases; the median of the rounds' means is printed,
// with each case's distance from the empty program. Run it in a network
// namespace of its own (scripts/bench-nodeport.sh does): a first packet
// asks the namespace's routing table where the backend is.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "maps/bpf_map.h"
#include "maps/kernel_maps.h"
#include "maps/layout/nat.h"
#include "maps/table.h"
#include "tc_cost.skel.h"
#include "tests/support/builders.h"
#include "tests/support/packets.h"
#include "userspace/core/planner.h"

namespace svcrouter {
namespace {

using namespace packets;  // NOLINT: the frames' vocabulary

template <class T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message());
  return std::move(*r);
}
void must(Result<void> r) {
  if (!r) throw std::runtime_error(r.error().message());
}

// Mean ns per run of `prog` over `frame`, `repeat` times in the kernel.
double timeRuns(const bpf_program* prog, const std::vector<uint8_t>& frame, uint32_t repeat) {
  std::vector<uint8_t> out(frame.size() + 64);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()),
              .data_size_out = static_cast<uint32_t>(out.size()),
              .repeat = static_cast<int>(repeat));
  if (int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts); err != 0)
    throw std::runtime_error("BPF_PROG_TEST_RUN: " + std::string(strerror(-err)));
  return opts.duration;  // the kernel's mean per run, in ns
}

double median(std::vector<double> v) {
  std::ranges::sort(v);
  return v[v.size() / 2];
}

int run(uint32_t repeat, int rounds) {
  struct Deleter {
    void operator()(tc_cost* s) const { tc_cost__destroy(s); }
  };
  std::unique_ptr<tc_cost, Deleter> skel(tc_cost__open_and_load());
  if (!skel) throw std::runtime_error("load tc_cost: " + std::string(strerror(errno)));
  auto kernel = must(maps::KernelMaps::fromSkeleton(*skel, ""));
  maps::Table table(*kernel);
  auto want = builders::desired({builders::service(
      "web", builders::key("192.168.1.10", 30080, Protocol::kTcp, Scope::kExternal),
      {"10.0.0.1"})});
  must(table.apply(must(planUpdate(must(table.read()), want))));
  auto ct = must(maps::TypedMap<svcr_ct_key, svcr_ct_entry>::from(skel->maps.svcr_ct));

  const End client{"203.0.113.5", 40000};
  const auto syn = frame({client, {"192.168.1.10", 30080}});
  const auto ack = frame({client, {"192.168.1.10", 30080}, Protocol::kTcp, kAck});
  const auto other = frame({client, {"192.168.1.10", 22}, Protocol::kTcp, kAck});
  // A repeated run sees the frame as the run before left it: translated to
  // the backend. So that every run is an established packet with a whole
  // rewrite, the translated tuple gets an entry back to the frontend (and
  // its port the mark that lets it be looked up): the frame flips between
  // the two, each run one hit and one DNAT.
  auto ports = must(maps::TypedMap<uint32_t, svcr_port>::from(skel->maps.svcr_ports));
  auto mirror = [&] {
    auto fwd = must(ct.entries());
    for (const auto& [k, v] : fwd) {
      if (v.flags & (SVCR_CT_F_REPLY | SVCR_CT_F_EGRESS)) continue;
      svcr_ct_key back{v.saddr, v.daddr, v.sport, v.dport, k.proto, {}};
      svcr_ct_entry e = v;
      e.saddr = k.saddr;
      e.daddr = k.daddr;
      e.sport = k.sport;
      e.dport = k.dport;
      must(ct.update(back, e));
      must(ports.update(ntohs(v.dport), svcr_port{SVCR_PORT_F_FRONTEND | SVCR_PORT_F_BACKEND}));
    }
  };
  auto forget = [&] {  // the flow's entries, so that the next packet is a first one
    for (const auto& [k, v] : must(ct.entries())) must(ct.erase(k));
  };
  enum { kFirst, kEstablished, kOther, kEmpty, kCases };
  const char* names[kCases] = {"first", "established", "other", "empty"};
  std::vector<std::vector<double>> means(kCases);
  for (int r = 0; r < rounds; ++r) {
    for (int c = 0; c < kCases; ++c) {
      int which = (c + r) % kCases;  // each round starts one case later
      double ns = 0;
      switch (which) {
        case kFirst: {
          // One run at a time (a repeat would be established after the first).
          const uint32_t n = std::max<uint32_t>(repeat / 100, 100);
          for (uint32_t i = 0; i < n; ++i) {
            ns += timeRuns(skel->progs.cost_ingress, syn, 1);
            forget();
          }
          ns /= n;
          break;
        }
        case kEstablished:
          timeRuns(skel->progs.cost_ingress, syn, 1);  // the flow exists
          mirror();
          ns = timeRuns(skel->progs.cost_ingress, ack, repeat);
          forget();
          break;
        case kOther:
          ns = timeRuns(skel->progs.cost_ingress, other, repeat);
          break;
        case kEmpty:
          ns = timeRuns(skel->progs.cost_empty, ack, repeat);
          break;
      }
      means[which].push_back(ns);
    }
  }
  double empty = median(means[kEmpty]);
  std::printf("%-12s %10s %14s\n", "case", "ns/packet", "above empty");
  for (int c = 0; c < kCases; ++c) {
    double m = median(means[c]);
    std::printf("%-12s %10.1f %+14.1f\n", names[c], m, m - empty);
  }
  return 0;
}

}  // namespace
}  // namespace svcrouter

int main(int argc, char** argv) {
  uint32_t repeat = 1'000'000;
  int rounds = 11;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string arg = argv[i];
    if (arg == "--repeat") {
      repeat = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    } else if (arg == "--rounds") {
      rounds = std::stoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: svcr-tc-cost [--repeat N] [--rounds R]\n");
      return 2;
    }
  }
  try {
    return svcrouter::run(repeat, rounds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "svcr-tc-cost: %s\n", e.what());
    return 1;
  }
}
