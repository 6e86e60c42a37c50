// The packet path's logic (bpf/lib/nat.h) run by the kernel: each case
// sends frames through tc_test.bpf.c's programs with BPF_PROG_TEST_RUN and
// compares what comes out with frames built here. Every expected checksum
// is computed by this file's packet builder, never taken from the program's
// output. The service maps are filled by the real maps::Table, as the agent
// fills them. See README.md.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "maps/bpf_map.h"
#include "maps/kernel_maps.h"
#include "maps/layout/nat.h"
#include "maps/table.h"
#include "svcr_tc.skel.h"
#include "tc_test.skel.h"
#include "tests/bpf/bpf_test.h"
#include "tests/support/packets.h"
#include "userspace/core/planner.h"

namespace svcrouter::bpftest {
namespace {

using namespace packets;  // NOLINT: the frames' vocabulary
constexpr uint64_t kSec = 1'000'000'000;

struct Result {
  int verdict = -1;
  std::vector<uint8_t> out;
};

class TcObject {
 public:
  explicit TcObject(uint32_t conntrackMax = SVCR_CT_MAX_DEFAULT) {
    skel_.reset(tc_test__open());
    if (!skel_ || bpf_map__set_max_entries(skel_->maps.svcr_ct, conntrackMax) != 0 ||
        tc_test__load(skel_.get()) != 0)
      throw std::runtime_error("load tc_test: " + std::string(strerror(errno)));
    kernel_ = must(maps::KernelMaps::fromSkeleton(*skel_, ""));
    table_ = std::make_unique<maps::Table>(*kernel_);
  }

  void apply(const DesiredState& want) {
    auto cur = must(table_->read());
    must(table_->apply(must(planUpdate(cur, want))));
  }
  void setClock(uint64_t ns) { skel_->bss->test_now_ns = ns; }
  // Writes a conntrack entry by hand: packets with tuple `from` become `to`.
  void track(const Packet& from, const Packet& to) {
    auto ct = must(maps::TypedMap<svcr_ct_key, svcr_ct_entry>::from(skel_->maps.svcr_ct));
    auto addr = [](const std::string& ip) {
      svcr_addr a{};
      std::memcpy(&a, builders::ip(ip.c_str()).bytes().data(), 16);
      return a;
    };
    svcr_ct_key k{addr(from.src.ip), addr(from.dst.ip), htons(from.src.port), htons(from.dst.port),
                  static_cast<uint8_t>(from.proto), {}};
    svcr_ct_entry e{};
    e.saddr = addr(to.src.ip);
    e.daddr = addr(to.dst.ip);
    e.sport = htons(to.src.port);
    e.dport = htons(to.dst.port);
    e.last_seen_ns = skel_->bss->test_now_ns;
    must(ct.update(k, e));
  }
  // Backends are reached through device `ifindex`, this node's address on it `ip`.
  void routeThrough(uint32_t ifindex, const std::string& ip, const std::string& ip6 = "") {
    skel_->bss->test_route_ifindex = ifindex;
    svcr_device dev{};
    dev.ip4 = ip4(ip);
    if (!ip6.empty()) std::memcpy(&dev.ip6, wire(ip6).data(), 16);
    auto devices = must(maps::TypedMap<uint32_t, svcr_device>::from(skel_->maps.svcr_devices));
    must(devices.update(ifindex, dev));
  }

  Result run(const bpf_program* prog, const std::vector<uint8_t>& in) {
    Result r;
    r.out.resize(in.size() + 128);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data(), .data_out = r.out.data(),
                .data_size_in = static_cast<uint32_t>(in.size()),
                .data_size_out = static_cast<uint32_t>(r.out.size()), .repeat = 1);
    if (int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts); err != 0)
      throw std::runtime_error("BPF_PROG_TEST_RUN: " + std::string(strerror(-err)));
    r.out.resize(opts.data_size_out);
    r.verdict = static_cast<int>(opts.retval);
    return r;
  }
  Result ingress(const std::vector<uint8_t>& f) { return run(skel_->progs.test_ingress, f); }
  Result ingress(const Packet& p) { return ingress(frame(p)); }
  Result egress(const Packet& p) { return run(skel_->progs.test_egress, frame(p)); }
  Result ingressIcmp(const IcmpError& e) { return ingress(icmpFrame(e)); }
  Result egressIcmp(const IcmpError& e) { return run(skel_->progs.test_egress, icmpFrame(e)); }

  svcr_tc_stats stats() const {
    auto m = must(maps::PerCpuArray<svcr_tc_stats>::from(skel_->maps.svcr_tc_stats));
    svcr_tc_stats sum{};
    for (const auto& s : must(m.lookup(0))) {
      sum.new_flows += s.new_flows;
      sum.refused += s.refused;
      sum.snat_failed += s.snat_failed;
      sum.translated += s.translated;
      sum.expired += s.expired;
      sum.ct_full += s.ct_full;
      sum.denied += s.denied;
      sum.no_local += s.no_local;
      sum.icmp += s.icmp;
    }
    return sum;
  }
  // The packet path's own counters of a service entry, summed over CPUs.
  svcr_svc_stats packetCounters(const ServiceKey& k) const {
    uint32_t id = must(table_->read()).services.at(k).entry.id;
    auto m = must(maps::PerCpuArray<svcr_svc_stats>::from(skel_->maps.svcr_svc_stats));
    svcr_svc_stats sum{};
    for (const auto& s : must(m.lookup(id))) {
      sum.packets += s.packets;
      sum.bytes += s.bytes;
    }
    return sum;
  }
  maps::ServiceCounters counters(const ServiceKey& k) const {
    return must(table_->serviceCounters(must(table_->read()).services.at(k).entry.id));
  }

 private:
  SkeletonPtr<tc_test, tc_test__destroy> skel_;
  std::unique_ptr<maps::KernelMaps> kernel_;
  std::unique_ptr<maps::Table> table_;
};

class PacketPath : public ::testing::Test {
 protected:
  void SetUp() override {
    obj_ = std::make_unique<TcObject>();
    obj_->setClock(1000 * kSec);
  }
  std::unique_ptr<TcObject> obj_;
};

const End kClient{"203.0.113.5", 40000}, kNodePort{"192.168.1.10", 30080};
const ServiceKey kExternal = key("192.168.1.10", 30080, Protocol::kTcp, Scope::kExternal);
const ServiceKey kExternalUdp = key("192.168.1.10", 30053, Protocol::kUdp, Scope::kExternal);

DesiredState twoBackends() {
  return desired({service("web", kExternal, {"10.0.0.1", "10.0.0.2"}),
                  service("dns", kExternalUdp, {"10.0.0.1"}, 53)});
}

TEST_F(PacketPath, SynToANodePortGoesToTheNextBackendAndItsReplyComesBack) {
  obj_->apply(twoBackends());
  auto in = obj_->ingress({kClient, kNodePort});
  EXPECT_EQ(in.verdict, TC_ACT_OK);
  EXPECT_EQ(in.out, frame({kClient, {"10.0.0.1", 8080}}));
  // The backend on this node answers the client's own address.
  auto back = obj_->egress({{"10.0.0.1", 8080}, kClient, Protocol::kTcp, kSyn | kAck});
  EXPECT_EQ(back.verdict, TC_ACT_OK);
  EXPECT_EQ(back.out, frame({kNodePort, kClient, Protocol::kTcp, kSyn | kAck}));
  // Another client port: another flow, the next backend.
  auto second = obj_->ingress({{kClient.ip, 40001}, kNodePort});
  EXPECT_EQ(second.out, frame({{kClient.ip, 40001}, {"10.0.0.2", 8080}}));
  EXPECT_EQ(obj_->counters(kExternal).connections, 2u);
  EXPECT_EQ(obj_->stats().new_flows, 2u);
}

TEST_F(PacketPath, LaterPacketsOfAFlowKeepItsBackend) {
  obj_->apply(twoBackends());
  obj_->ingress({kClient, kNodePort});
  obj_->ingress({{kClient.ip, 40001}, kNodePort});
  for (int i = 0; i < 3; ++i) {
    auto r = obj_->ingress({kClient, kNodePort, Protocol::kTcp, kAck});
    EXPECT_EQ(r.out, frame({kClient, {"10.0.0.1", 8080}, Protocol::kTcp, kAck})) << i;
  }
  EXPECT_EQ(obj_->counters(kExternal).connections, 2u);
}

TEST_F(PacketPath, UdpBothWaysWithAndWithoutChecksum) {
  obj_->apply(twoBackends());
  const End dns{"192.168.1.10", 30053}, backend{"10.0.0.1", 53};
  for (bool checksum : {true, false}) {
    SCOPED_TRACE(checksum ? "with checksum" : "without");
    End client{kClient.ip, static_cast<uint16_t>(checksum ? 5000 : 5001)};
    auto in = obj_->ingress({client, dns, Protocol::kUdp, 0, checksum});
    EXPECT_EQ(in.out, frame({client, backend, Protocol::kUdp, 0, checksum}));
    auto back = obj_->egress({backend, client, Protocol::kUdp, 0, checksum});
    EXPECT_EQ(back.out, frame({dns, client, Protocol::kUdp, 0, checksum}));
  }
}

TEST_F(PacketPath, BackendOnAnotherNodeIsReachedFromThisNodesAddress) {
  obj_->apply(twoBackends());
  obj_->routeThrough(7, "192.168.1.10");
  // In: to the backend; out, by the device that leads there: from this node.
  auto in = obj_->ingress({kClient, kNodePort});
  ASSERT_EQ(in.verdict, TC_ACT_OK);
  EXPECT_EQ(in.out, frame({kClient, {"10.0.0.1", 8080}}));
  auto out = obj_->egress({kClient, {"10.0.0.1", 8080}});
  uint16_t port = sourcePort(out.out);
  EXPECT_GE(port, SVCR_SNAT_PORT_MIN);
  EXPECT_EQ(out.out, frame({{"192.168.1.10", port}, {"10.0.0.1", 8080}}));
  // The reply comes in to this node and goes to the client; out, it comes
  // from the frontend.
  const End backend{"10.0.0.1", 8080};
  auto back = obj_->ingress({backend, {"192.168.1.10", port}, Protocol::kTcp, kSyn | kAck});
  EXPECT_EQ(back.out, frame({backend, kClient, Protocol::kTcp, kSyn | kAck}));
  auto toClient = obj_->egress({backend, kClient, Protocol::kTcp, kSyn | kAck});
  EXPECT_EQ(toClient.out, frame({kNodePort, kClient, Protocol::kTcp, kSyn | kAck}));
  // Another client with the same port: another SNAT port.
  obj_->ingress({{"203.0.113.6", 40000}, kNodePort});
  auto other = obj_->egress({{"203.0.113.6", 40000}, {"10.0.0.2", 8080}});
  EXPECT_NE(sourcePort(other.out), port);
}

// Each entry applies at its hook only: the reply tuple of a flow, arriving,
// is not that flow's reply.
TEST_F(PacketPath, EntriesApplyAtTheirHookOnly) {
  obj_->apply(twoBackends());
  obj_->ingress({kClient, kNodePort});
  const Packet reply{{"10.0.0.1", 8080}, kClient, Protocol::kTcp, kSyn | kAck};
  EXPECT_EQ(obj_->ingress(reply).out, frame(reply));
  const Packet forward{kClient, kNodePort, Protocol::kTcp, kAck};
  EXPECT_EQ(obj_->egress(forward).out, frame(forward));
}

// A client port reused, once its NodePort flow closed: to the backend's own
// address, the new connection is nobody's to rewrite (its reply would match
// the old flow's); to the NodePort again, it is a new flow.
TEST_F(PacketPath, AReusedClientPortStartsAfreshOnItsSyn) {
  obj_->apply(twoBackends());
  obj_->ingress({kClient, kNodePort});
  obj_->ingress({kClient, kNodePort, Protocol::kTcp, kFin | kAck});
  const Packet direct{kClient, {"10.0.0.1", 8080}};
  EXPECT_EQ(obj_->ingress(direct).out, frame(direct));
  const Packet directReply{{"10.0.0.1", 8080}, kClient, Protocol::kTcp, kSyn | kAck};
  EXPECT_EQ(obj_->egress(directReply).out, frame(directReply));
  EXPECT_EQ(obj_->ingress({kClient, kNodePort}).out, frame({kClient, {"10.0.0.2", 8080}}));
}

// As kube-proxy's REJECT: the SYN comes back as the frontend's RST+ACK
// (sequence 0, acknowledging the SYN and its 5 bytes), out of the device it
// came in by; anything else without a backend is dropped.
TEST_F(PacketPath, FrontendWithoutBackendsRefusesTheConnection) {
  obj_->apply(desired({service("web", kExternal, {}), service("dns", kExternalUdp, {}, 53)}));
  auto in = obj_->ingress({kClient, kNodePort, Protocol::kTcp, kSyn, true, 1000});
  EXPECT_EQ(in.verdict, TC_ACT_REDIRECT);
  Packet rst{kNodePort, kClient, Protocol::kTcp, 0x14, true, 0, 1000 + 1 + 5, 0};
  rst.swapMacs = true;
  EXPECT_EQ(in.out, frame(rst));
  EXPECT_EQ(obj_->counters(kExternal).refused, 1u);
  EXPECT_EQ(obj_->stats().refused, 1u);
  EXPECT_EQ(obj_->ingress({kClient, kNodePort, Protocol::kTcp, kAck}).verdict, TC_ACT_SHOT);
}

// A UDP datagram gets ICMP port unreachable from the frontend, quoting its
// IP header and 8 bytes (RFC 792, RFC 4443), out of the device it came in by.
TEST_F(PacketPath, UdpWithoutBackendsIsAnsweredPortUnreachable) {
  const ServiceKey udp6 = key("fd00::10", 30053, Protocol::kUdp, Scope::kExternal);
  obj_->apply(desired({service("dns", kExternalUdp, {}, 53), service("dns6", udp6, {}, 53)}));
  const Packet query{kClient, {"192.168.1.10", 30053}, Protocol::kUdp};
  auto in = obj_->ingress(query);
  EXPECT_EQ(in.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(in.out, icmpFrame(IcmpError{"192.168.1.10", kClient.ip, 3, 3, ipPacket(query), 28, 0, 0,
                                    false},
                          true));
  const Packet query6{{"2001:db8::5", 5000}, {"fd00::10", 30053}, Protocol::kUdp};
  auto in6 = obj_->ingress(query6);
  EXPECT_EQ(in6.verdict, TC_ACT_REDIRECT);
  EXPECT_EQ(in6.out, icmpFrame(IcmpError{"fd00::10", "2001:db8::5", 1, 4, ipPacket(query6), 48}, true));
  EXPECT_EQ(obj_->stats().refused, 2u);
  EXPECT_EQ(obj_->counters(kExternalUdp).refused, 1u);
}

TEST_F(PacketPath, Ipv6FlowsAreBalancedAndTranslatedBothWays) {
  const ServiceKey web6 = key("fd00::10", 30080, Protocol::kTcp, Scope::kExternal);
  const ServiceKey dns6 = key("fd00::10", 30053, Protocol::kUdp, Scope::kExternal);
  obj_->apply(desired({service("web", web6, {"fd00:1::1", "fd00:1::2"}),
                       service("dns", dns6, {"fd00:1::1"}, 53)}));
  const End client{"2001:db8::5", 40000}, frontend{"fd00::10", 30080};
  EXPECT_EQ(obj_->ingress({client, frontend}).out, frame({client, {"fd00:1::1", 8080}}));
  EXPECT_EQ(obj_->egress({{"fd00:1::1", 8080}, client, Protocol::kTcp, kSyn | kAck}).out,
            frame({frontend, client, Protocol::kTcp, kSyn | kAck}));
  EXPECT_EQ(obj_->ingress({client, frontend, Protocol::kTcp, kAck}).out,
            frame({client, {"fd00:1::1", 8080}, Protocol::kTcp, kAck}));
  EXPECT_EQ(obj_->ingress({{client.ip, 40001}, frontend}).out,
            frame({{client.ip, 40001}, {"fd00:1::2", 8080}}));
  const End dns{"fd00::10", 30053};
  EXPECT_EQ(obj_->ingress({client, dns, Protocol::kUdp}).out,
            frame({client, {"fd00:1::1", 53}, Protocol::kUdp}));
  EXPECT_EQ(obj_->egress({{"fd00:1::1", 53}, client, Protocol::kUdp}).out,
            frame({dns, client, Protocol::kUdp}));
  // Packets and bytes (IPv6 header included) of the flows, per service entry.
  EXPECT_EQ(obj_->counters(web6).connections, 2u);
  auto web = obj_->packetCounters(web6);
  EXPECT_EQ(web.packets, 4u);
  EXPECT_EQ(web.bytes, 4u * (40 + 20 + 5));
}

TEST_F(PacketPath, Ipv6BackendOnAnotherNodeIsReachedFromThisNodesAddress) {
  const ServiceKey web6 = key("fd00::10", 30080, Protocol::kTcp, Scope::kExternal);
  obj_->apply(desired({service("web", web6, {"fd00:1::1"})}));
  obj_->routeThrough(7, "192.168.1.10", "fd00::10");
  const End client{"2001:db8::5", 40000}, frontend{"fd00::10", 30080}, backend{"fd00:1::1", 8080};
  EXPECT_EQ(obj_->ingress({client, frontend}).out, frame({client, backend}));
  auto out = obj_->egress({client, backend});
  uint16_t port = sourcePort(out.out);
  EXPECT_GE(port, SVCR_SNAT_PORT_MIN);
  EXPECT_EQ(out.out, frame({{"fd00::10", port}, backend}));
  EXPECT_EQ(obj_->ingress({backend, {"fd00::10", port}, Protocol::kTcp, kSyn | kAck}).out,
            frame({backend, client, Protocol::kTcp, kSyn | kAck}));
}

// Path MTU discovery through a NodePort: a router on the client's side says
// a reply was too big. The error goes to the backend that sent the reply,
// quoting the reply as the backend sent it.
TEST_F(PacketPath, FragmentationNeededForAReplyReachesItsBackend) {
  obj_->apply(twoBackends());
  obj_->ingress({kClient, kNodePort});
  const Packet sent{kNodePort, kClient, Protocol::kTcp, kAck};
  const Packet asBackendSentIt{{"10.0.0.1", 8080}, kClient, Protocol::kTcp, kAck};
  auto r = obj_->ingressIcmp(IcmpError{"198.51.100.1", "192.168.1.10", 3, 4, ipPacket(sent), 28, 1400});
  EXPECT_EQ(r.verdict, TC_ACT_OK);
  EXPECT_EQ(r.out, icmpFrame(IcmpError{"198.51.100.1", "10.0.0.1", 3, 4, ipPacket(asBackendSentIt), 28,
                                   1400}));
  EXPECT_EQ(obj_->stats().icmp, 1u);
  // IPv6: Packet Too Big.
  const ServiceKey web6 = key("fd00::10", 30080, Protocol::kTcp, Scope::kExternal);
  obj_->apply(desired({service("web", web6, {"fd00:1::1"})}));
  const End client{"2001:db8::5", 40000}, frontend{"fd00::10", 30080};
  obj_->ingress({client, frontend});
  const Packet sent6{frontend, client, Protocol::kTcp, kAck};
  const Packet asSent6{{"fd00:1::1", 8080}, client, Protocol::kTcp, kAck};
  auto r6 = obj_->ingressIcmp(IcmpError{"2001:db8::1", "fd00::10", 2, 0, ipPacket(sent6), 48, 1280});
  EXPECT_EQ(r6.out, icmpFrame(IcmpError{"2001:db8::1", "fd00:1::1", 2, 0, ipPacket(asSent6), 48, 1280}));
}

// A backend that says "port unreachable" to the client about its datagram:
// on the way out the error comes from the frontend and quotes the datagram
// as the client sent it. (Without a UDP checksum in the quote: the quote's
// L4 checksum is left as it was, as receivers do not check it.)
TEST_F(PacketPath, AnErrorFromTheBackendReachesTheClientAsTheFrontends) {
  obj_->apply(twoBackends());
  const End client{kClient.ip, 5000}, dns{"192.168.1.10", 30053}, backend{"10.0.0.1", 53};
  obj_->ingress({client, dns, Protocol::kUdp, 0, false});
  const Packet arrived{client, backend, Protocol::kUdp, 0, false};
  const Packet sent{client, dns, Protocol::kUdp, 0, false};
  auto r = obj_->egressIcmp(IcmpError{"10.0.0.1", client.ip, 3, 3, ipPacket(arrived)});
  EXPECT_EQ(r.out, icmpFrame(IcmpError{"192.168.1.10", client.ip, 3, 3, ipPacket(sent)}));
  // An error about a flow nobody tracks passes as it is.
  const IcmpError stray{"10.0.0.1", client.ip, 3, 3,
                        ipPacket(Packet{{kClient.ip, 5999}, backend, Protocol::kUdp, 0, false})};
  EXPECT_EQ(obj_->egressIcmp(stray).out, icmpFrame(stray));
  EXPECT_EQ(obj_->stats().icmp, 1u);
}

TEST_F(PacketPath, TrafficThatIsNoServiceIsLeftAlone) {
  // A ClusterIP and a node-scope entry are the socket path's, not this one's.
  obj_->apply(desired(
      {service("web", key("10.96.0.10", 80), {"10.0.0.1"}),
       service("web", key("192.168.1.10", 30080, Protocol::kTcp, Scope::kNode), {"10.0.0.1"})}));
  for (const Packet& p : {Packet{kClient, {"10.96.0.10", 80}}, Packet{kClient, kNodePort},
                          Packet{kClient, {"192.168.1.10", 22}}}) {
    auto r = obj_->ingress(p);
    EXPECT_EQ(r.verdict, TC_ACT_OK);
    EXPECT_EQ(r.out, frame(p));
  }
  EXPECT_EQ(obj_->stats().new_flows, 0u);
  // Not IPv4: an ARP frame passes as it is.
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  auto r = obj_->ingress(arp);
  EXPECT_EQ(r.verdict, TC_ACT_OK);
  EXPECT_EQ(r.out, arp);
}

TEST_F(PacketPath, AnIdleFlowExpiresAndItsNextPacketStartsANewOne) {
  const End dns{"192.168.1.10", 30053};
  const End client{kClient.ip, 5000};
  obj_->apply(desired({service("dns", kExternalUdp, {"10.0.0.1", "10.0.0.2"}, 53)}));
  EXPECT_EQ(obj_->ingress({client, dns, Protocol::kUdp}).out,
            frame({client, {"10.0.0.1", 53}, Protocol::kUdp}));
  obj_->setClock((1000 + SVCR_CT_TIMEOUT_UDP) * kSec);  // idle for exactly the timeout: alive
  EXPECT_EQ(obj_->ingress({client, dns, Protocol::kUdp}).out,
            frame({client, {"10.0.0.1", 53}, Protocol::kUdp}));
  obj_->setClock((1001 + 2 * SVCR_CT_TIMEOUT_UDP) * kSec);  // idle for longer: gone
  EXPECT_EQ(obj_->ingress({client, dns, Protocol::kUdp}).out,
            frame({client, {"10.0.0.2", 53}, Protocol::kUdp}));
  EXPECT_EQ(obj_->stats().expired, 1u);
}

// Two CPUs see one flow: one stamps the entry after the other read its
// clock. The entry is not 2^64 ns old for the second one.
TEST_F(PacketPath, AnEntryStampedAfterThisCpuReadItsClockIsAlive) {
  obj_->apply(twoBackends());
  obj_->setClock(2000 * kSec);
  obj_->ingress({kClient, kNodePort});
  obj_->setClock(2000 * kSec - 1);
  EXPECT_EQ(obj_->ingress({kClient, kNodePort, Protocol::kTcp, kAck}).out,
            frame({kClient, {"10.0.0.1", 8080}, Protocol::kTcp, kAck}));
  EXPECT_EQ(obj_->egress({{"10.0.0.1", 8080}, kClient, Protocol::kTcp, kAck}).out,
            frame({kNodePort, kClient, Protocol::kTcp, kAck}));
  EXPECT_EQ(obj_->stats().expired, 0u);
  EXPECT_EQ(obj_->stats().new_flows, 1u);
}

TEST_F(PacketPath, AClosedTcpFlowExpiresSoonerThanAnOpenOne) {
  obj_->apply(twoBackends());
  obj_->ingress({kClient, kNodePort});
  obj_->ingress({kClient, kNodePort, Protocol::kTcp, kAck});
  // Established: still there after the closing timeout.
  obj_->setClock((1000 + 2 * SVCR_CT_TIMEOUT_TCP_CLOSE) * kSec);
  EXPECT_EQ(obj_->ingress({kClient, kNodePort, Protocol::kTcp, kFin | kAck}).out,
            frame({kClient, {"10.0.0.1", 8080}, Protocol::kTcp, kFin | kAck}));
  // After a FIN, the closing timeout applies: a new SYN starts a new flow.
  obj_->setClock((1000 + 4 * SVCR_CT_TIMEOUT_TCP_CLOSE) * kSec);
  EXPECT_EQ(obj_->ingress({kClient, kNodePort}).out, frame({kClient, {"10.0.0.2", 8080}}));
}

// A full conntrack map refuses new flows (counted) and keeps the live ones:
// no eviction behind a connection's back.
TEST(PacketPathFull, AFullConntrackMapDropsNewFlowsAndKeepsLiveOnes) {
  TcObject obj(4);  // two flows of two entries
  obj.setClock(1000 * kSec);
  obj.apply(twoBackends());
  for (uint16_t port : {40000, 40001})
    ASSERT_EQ(obj.ingress({{kClient.ip, port}, kNodePort}).verdict, TC_ACT_OK) << port;
  auto third = obj.ingress({{kClient.ip, 40002}, kNodePort});
  EXPECT_EQ(third.verdict, TC_ACT_SHOT);
  EXPECT_EQ(obj.stats().ct_full, 1u);
  EXPECT_EQ(obj.stats().new_flows, 2u);
  EXPECT_EQ(obj.ingress({{kClient.ip, 40000}, kNodePort, Protocol::kTcp, kAck}).out,
            frame({{kClient.ip, 40000}, {"10.0.0.1", 8080}, Protocol::kTcp, kAck}));
  EXPECT_EQ(obj.egress({{"10.0.0.2", 8080}, {kClient.ip, 40001}, Protocol::kTcp, kAck}).out,
            frame({kNodePort, {kClient.ip, 40001}, Protocol::kTcp, kAck}));
}

// loadBalancerSourceRanges: a client in a range opens flows; another one's
// first packet is dropped (as kube-proxy drops it) and counted. IPv4 and
// IPv6 ranges, each for its own family.
TEST_F(PacketPath, SourceRangesDropClientsOutsideThem) {
  auto web = service("web", kExternal, {"10.0.0.1"});
  web.sourceRanges = {IpCidr::network(ip("203.0.113.0"), 24), IpCidr::network(ip("10.9.0.1"), 32)};
  const ServiceKey web6Key = key("fd00::10", 30080, Protocol::kTcp, Scope::kExternal);
  auto web6 = service("web6", web6Key, {"fd00:1::1"});
  web6.sourceRanges = {IpCidr::network(ip("2001:db8::"), 64)};
  obj_->apply(desired({web, web6}));
  EXPECT_EQ(obj_->ingress({kClient, kNodePort}).out, frame({kClient, {"10.0.0.1", 8080}}));
  EXPECT_EQ(obj_->ingress({{"10.9.0.1", 1000}, kNodePort}).out,
            frame({{"10.9.0.1", 1000}, {"10.0.0.1", 8080}}));
  for (const char* outside : {"198.51.100.7", "10.9.0.2"})
    EXPECT_EQ(obj_->ingress({{outside, 1000}, kNodePort}).verdict, TC_ACT_SHOT) << outside;
  const End frontend6{"fd00::10", 30080};
  EXPECT_EQ(obj_->ingress({{"2001:db8::5", 1000}, frontend6}).out,
            frame({{"2001:db8::5", 1000}, {"fd00:1::1", 8080}}));
  EXPECT_EQ(obj_->ingress({{"2001:db9::5", 1000}, frontend6}).verdict, TC_ACT_SHOT);
  EXPECT_EQ(obj_->stats().denied, 3u);
  EXPECT_EQ(obj_->stats().new_flows, 3u);
}

// externalTrafficPolicy: Local with endpoints elsewhere only: dropped, not
// refused, so that load balancers' health checks steer away.
TEST_F(PacketPath, AnEntryThatDropsWhenEmptyDropsWithoutAnswer) {
  auto local = service("web", kExternal, {});
  local.dropWhenEmpty = true;
  obj_->apply(desired({local}));
  EXPECT_EQ(obj_->ingress({kClient, kNodePort}).verdict, TC_ACT_SHOT);
  EXPECT_EQ(obj_->stats().no_local, 1u);
  EXPECT_EQ(obj_->stats().refused, 0u);
}

// The prefilter: a packet whose ports no external entry uses (svcr_ports)
// skips the conntrack lookup, so even an entry for its tuple is not applied;
// with its port marked (the planner marks a frontend's), it is.
TEST_F(PacketPath, PacketsOnPortsOfNoServiceSkipConntrack) {
  obj_->apply(twoBackends());
  const Packet ssh{kClient, {"192.168.1.10", 22}, Protocol::kTcp, kAck};
  obj_->track(ssh, {kClient, {"10.0.0.9", 22}});
  EXPECT_EQ(obj_->ingress(ssh).out, frame(ssh));
  const Packet web{{kClient.ip, 41000}, kNodePort, Protocol::kTcp, kAck};
  obj_->track(web, {{kClient.ip, 41000}, {"10.0.0.9", 8080}});
  EXPECT_EQ(obj_->ingress(web).out,
            frame({{kClient.ip, 41000}, {"10.0.0.9", 8080}, Protocol::kTcp, kAck}));
}

// The production object (bpf/svcr_tc.bpf.c, with the real clock and FIB
// lookup) passes the verifier.
TEST(PacketPathObject, Loads) {
  SkeletonPtr<svcr_tc, svcr_tc__destroy> skel(svcr_tc__open_and_load());
  ASSERT_TRUE(skel) << strerror(errno);
  EXPECT_GE(bpf_program__fd(skel->progs.svcr_tc_ingress), 0);
  EXPECT_GE(bpf_program__fd(skel->progs.svcr_tc_egress), 0);
}

}  // namespace
}  // namespace svcrouter::bpftest
