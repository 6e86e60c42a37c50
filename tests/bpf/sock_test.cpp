// The socket path's logic (bpf/lib/sock.h) run by the kernel: each call is
// one BPF_PROG_TEST_RUN of a sock_test.bpf.c program, over maps filled by the
// real maps::Table with the plans the agent would apply. See README.md.
#include "maps/layout/sock.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "maps/bpf_map.h"
#include "maps/kernel_maps.h"
#include "maps/layout/service.h"
#include "maps/table.h"
#include "sock_test.skel.h"
#include "tests/bpf/bpf_test.h"
#include "userspace/core/planner.h"

namespace svcrouter::bpftest {
namespace {

using ::testing::AnyOf;

constexpr uint64_t kSec = 1'000'000'000;

// The hooks of bpf/svcr_sock.bpf.c, as sock_test.bpf.c runs them.
enum class Hook { kConnect4, kConnect6, kSendmsg4, kSendmsg6, kReverse4, kReverse6 };

bool isV6(Hook h) { return h == Hook::kConnect6 || h == Hook::kSendmsg6 || h == Hook::kReverse6; }

// The socket a call is made on.
struct Socket {
  uint64_t cookie = 1;  // bpf_get_socket_cookie()
  Protocol proto = Protocol::kTcp;
  uint64_t netns = 1;  // bpf_get_netns_cookie(): the ClientIP affinity's client
};

// What a hook did.
struct Outcome {
  int verdict = -1;  // 1 lets the call proceed, 0 fails it
  // The context's address after the call: "10.0.0.1:8080" for a v4 hook,
  // "[::ffff:10.0.0.1]:8080" for a v6 one.
  std::string addr;
  uint32_t retvalCalls = 0;  // bpf_set_retval() calls
  int retval = 0;            // the value of the last one
};

std::string formatV4(uint32_t ip4, uint16_t port) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &ip4, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(port);
}

std::string formatV6(const uint32_t (&ip6)[4], uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, ip6, buf, sizeof(buf));
  return "[" + std::string(buf) + "]:" + std::to_string(port);
}

// One loaded sock_test object: its service maps behind a maps::Table, as
// the agent has them, and its programs as calls of the socket hooks.
// Nothing is pinned: the maps go away with the object.
class SockObject {
 public:
  struct Options {
    bool haveSetRetval = true;  // the loader's probe result, in rodata
  };

  explicit SockObject(Options options) {
    skel_.reset(sock_test__open());
    if (!skel_) throw std::runtime_error("open sock_test: " + std::string(strerror(errno)));
    skel_->rodata->svcr_have_set_retval = options.haveSetRetval;
    if (int err = sock_test__load(skel_.get()); err != 0)
      throw std::runtime_error("load sock_test: " + std::string(strerror(-err)));
    kernel_ = must(maps::KernelMaps::fromSkeleton(*skel_, ""));
    table_ = std::make_unique<maps::Table>(*kernel_);
    const auto& m = skel_->maps;
    services_ = must(maps::TypedMap<svcr_svc_key, svcr_svc_value>::from(m.svcr_services));
    slots_ = must(maps::TypedMap<uint32_t, svcr_slot>::from(m.svcr_slots));
    rr_ = must(maps::TypedMap<uint32_t, uint64_t>::from(m.svcr_rr));
    rev_ = must(maps::TypedMap<svcr_sock_key, svcr_sock_rev>::from(m.svcr_sock_rev));
  }
  SockObject() : SockObject(Options{}) {}

  // Plans from what the maps hold to `want` and applies it, as the agent does.
  void apply(const DesiredState& want) {
    auto cur = must(table_->read());
    must(table_->apply(must(planUpdate(cur, want))));
  }

  // One call of a hook on `sock` with destination (or, reversed, source)
  // addr:port; a v6 hook takes IPv4 as ::ffff:a.b.c.d.
  Outcome call(Hook hook, const Socket& sock, const char* addr, uint16_t port) {
    auto* in = skel_->bss;
    IpAddr a = ip(addr);
    if (!isV6(hook) && !a.isV4()) throw std::invalid_argument("an IPv4 hook needs IPv4");
    std::memcpy(&in->test_ip4, a.bytes().data() + 12, 4);
    std::memcpy(in->test_ip6, a.bytes().data(), 16);
    in->test_port = htons(port);
    in->test_protocol = static_cast<uint32_t>(sock.proto);
    in->test_sock_cookie = sock.cookie;
    in->test_netns_cookie = sock.netns;
    in->test_verdict = -1;
    in->test_retval_calls = 0;
    in->test_retval = 0;
    must(runOnce(program(hook)));
    uint16_t outPort = ntohs(static_cast<uint16_t>(in->test_out_port));
    return {in->test_verdict,
            isV6(hook) ? formatV6(in->test_out_ip6, outPort) : formatV4(in->test_out_ip4, outPort),
            in->test_retval_calls, in->test_retval};
  }
  Outcome connect4(const Socket& s, const char* addr, uint16_t port) {
    return call(Hook::kConnect4, s, addr, port);
  }

  // cgroup/sock_release of `sock`, connected to addr:port; family AF_INET or AF_INET6.
  void release(const Socket& sock, int family, const char* addr, uint16_t port) {
    auto* in = skel_->bss;
    IpAddr a = ip(addr);
    std::memcpy(&in->test_ip4, a.bytes().data() + 12, 4);
    std::memcpy(in->test_ip6, a.bytes().data(), 16);
    in->test_port = htons(port);
    in->test_protocol = static_cast<uint32_t>(sock.proto);
    in->test_sock_cookie = sock.cookie;
    in->test_sk_family = static_cast<uint32_t>(family);
    in->test_verdict = -1;
    must(runOnce(skel_->progs.test_release));
    if (in->test_verdict != 1) throw std::runtime_error("sock_release must return 1");
  }

  // The mock clock, bpf_ktime_get_ns().
  void setClock(uint64_t ns) { skel_->bss->test_now_ns = ns; }

  // The next `reads` lookups of svcr_services return `stale` instead.
  void injectStale(const svcr_svc_value& stale, uint32_t reads) {
    skel_->bss->test_stale_svc = stale;
    skel_->bss->test_stale_reads = reads;
  }
  uint32_t staleReadsLeft() const { return skel_->bss->test_stale_reads; }

  // ---- the maps, read back --------------------------------------------------
  CurrentState state() const { return must(table_->read()); }
  uint32_t serviceId(const ServiceKey& k) const { return state().services.at(k).entry.id; }
  // The id the table gave the backend addr:port of protocol p.
  uint32_t backendId(const char* addr, uint16_t port, Protocol p = Protocol::kTcp) const {
    for (const auto& [id, b] : state().backends)
      if (b == BackendAddr{ip(addr), port, p}) return id;
    throw std::runtime_error(std::string("no backend ") + addr);
  }
  maps::ServiceCounters counters(const ServiceKey& k) const {
    return must(table_->serviceCounters(serviceId(k)));
  }
  uint64_t backendConnections(const char* addr, uint16_t port = 8080,
                              Protocol p = Protocol::kTcp) const {
    return backendConnections(backendId(addr, port, p));
  }
  uint64_t backendConnections(uint32_t id) const { return must(table_->backendConnections(id)); }
  svcr_svc_value serviceValue(const ServiceKey& k) const {
    auto v = must(services_.lookup(maps::toKernel(k)));
    if (!v) throw std::runtime_error("no service entry " + describe(k));
    return *v;
  }
  // The round-robin cursor of a service.
  uint64_t cursor(const ServiceKey& k) const {
    return must(rr_.lookup(serviceId(k))).value_or(~0ULL);
  }
  // The backend the cursor's value picks from the service's current set.
  std::string nextPick(const ServiceKey& k) const {
    auto s = state();
    const auto& svc = s.services.at(k);
    uint32_t id = svc.slots.at(cursor(k) % svc.slots.size());
    return describe(s.backends.at(id));
  }
  // Writes a slot directly, bypassing the table.
  void writeSlot(uint32_t index, const svcr_slot& slot) { must(slots_.update(index, slot)); }
  // The socket's reverse entry for the backend addr:port, if any.
  std::optional<svcr_sock_rev> reverseEntry(const Socket& sock, const char* addr,
                                            uint16_t port) const {
    svcr_sock_key k{};
    k.cookie = sock.cookie;
    k.addr = maps::toKernel(ip(addr));
    k.port = htons(port);
    k.proto = static_cast<uint8_t>(sock.proto);
    return must(rev_.lookup(k));
  }

 private:
  const bpf_program* program(Hook hook) const {
    const auto& p = skel_->progs;
    switch (hook) {
      case Hook::kConnect4:
        return p.test_connect4;
      case Hook::kConnect6:
        return p.test_connect6;
      case Hook::kSendmsg4:
        return p.test_sendmsg4;
      case Hook::kSendmsg6:
        return p.test_sendmsg6;
      case Hook::kReverse4:
        return p.test_reverse4;
      case Hook::kReverse6:
        return p.test_reverse6;
    }
    throw std::logic_error("unknown hook");
  }

  SkeletonPtr<sock_test, sock_test__destroy> skel_;
  // Declared after skel_, destroyed before it: they use its maps.
  std::unique_ptr<maps::KernelMaps> kernel_;
  std::unique_ptr<maps::Table> table_;
  maps::TypedMap<svcr_svc_key, svcr_svc_value> services_;
  maps::TypedMap<uint32_t, svcr_slot> slots_;
  maps::TypedMap<uint32_t, uint64_t> rr_;
  maps::TypedMap<svcr_sock_key, svcr_sock_rev> rev_;
};

constexpr int kAllow = 1, kDeny = 0;

class SockPath : public ::testing::Test {
 protected:
  void SetUp() override { obj_ = std::make_unique<SockObject>(); }
  std::unique_ptr<SockObject> obj_;
};

// ---- round-robin ---------------------------------------------------------------

const ServiceKey kWeb = key("10.96.0.10", 80);
const DesiredState kWeb3 = desired({service("web", kWeb, {"10.0.0.3", "10.0.0.1", "10.0.0.2"})});

TEST_F(SockPath, RoundRobinVisitsBackendsInSlotOrder) {
  obj_->apply(kWeb3);
  // The slots hold the backends sorted by address, whatever the input order.
  const char* order[] = {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"};
  for (int i = 0; i < 9; ++i) {
    auto out = obj_->connect4({.cookie = 100u + i}, "10.96.0.10", 80);
    EXPECT_EQ(out.verdict, kAllow) << "call " << i;
    EXPECT_EQ(out.addr, order[i % 3]) << "call " << i;
    EXPECT_EQ(out.retvalCalls, 0u) << "call " << i;
  }
  EXPECT_EQ(obj_->counters(kWeb).connections, 9u);
  EXPECT_EQ(obj_->counters(kWeb).refused, 0u);
  for (const char* b : {"10.0.0.1", "10.0.0.2", "10.0.0.3"})
    EXPECT_EQ(obj_->backendConnections(b), 3u) << b;
}

TEST_F(SockPath, V4MappedConnect6GetsTheNextBackend) {
  obj_->apply(kWeb3);
  EXPECT_EQ(obj_->connect4({.cookie = 1}, "10.96.0.10", 80).addr, "10.0.0.1:8080");
  auto out = obj_->call(Hook::kConnect6, {.cookie = 2}, "::ffff:10.96.0.10", 80);
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "[::ffff:10.0.0.2]:8080");
  EXPECT_EQ(obj_->counters(kWeb).connections, 2u);
}

TEST_F(SockPath, ReverseShowsTheVipToThatSocketOnly) {
  obj_->apply(kWeb3);
  Socket s4{.cookie = 7}, s6{.cookie = 8}, other{.cookie = 9};
  ASSERT_EQ(obj_->connect4(s4, "10.96.0.10", 80).addr, "10.0.0.1:8080");
  ASSERT_EQ(obj_->call(Hook::kConnect6, s6, "::ffff:10.96.0.10", 80).addr,
            "[::ffff:10.0.0.2]:8080");
  // getpeername()/recvmsg() on the socket that was rewritten: the VIP.
  auto back = obj_->call(Hook::kReverse4, s4, "10.0.0.1", 8080);
  EXPECT_EQ(back.verdict, kAllow);
  EXPECT_EQ(back.addr, "10.96.0.10:80");
  EXPECT_EQ(obj_->call(Hook::kReverse6, s6, "::ffff:10.0.0.2", 8080).addr,
            "[::ffff:10.96.0.10]:80");
  // Another socket talking to the same backend directly sees the backend.
  auto direct = obj_->call(Hook::kReverse4, other, "10.0.0.1", 8080);
  EXPECT_EQ(direct.verdict, kAllow);
  EXPECT_EQ(direct.addr, "10.0.0.1:8080");
}

TEST_F(SockPath, ReleaseDeletesTheSocketsReverseEntry) {
  obj_->apply(kWeb3);
  Socket a{.cookie = 7}, b{.cookie = 8}, c{.cookie = 9};
  ASSERT_EQ(obj_->connect4(a, "10.96.0.10", 80).addr, "10.0.0.1:8080");
  ASSERT_EQ(obj_->connect4(b, "10.96.0.10", 80).addr, "10.0.0.2:8080");
  ASSERT_EQ(obj_->call(Hook::kConnect6, c, "::ffff:10.96.0.10", 80).addr, "[::ffff:10.0.0.3]:8080");
  ASSERT_TRUE(obj_->reverseEntry(a, "10.0.0.1", 8080));
  ASSERT_TRUE(obj_->reverseEntry(b, "10.0.0.2", 8080));
  ASSERT_TRUE(obj_->reverseEntry(c, "10.0.0.3", 8080));
  auto rev = *obj_->reverseEntry(a, "10.0.0.1", 8080);
  EXPECT_EQ(maps::fromKernel(rev.vip), ip("10.96.0.10"));
  EXPECT_EQ(ntohs(rev.port), 80);
  EXPECT_EQ(rev.svc_id, obj_->serviceId(kWeb));

  obj_->release(a, AF_INET, "10.0.0.1", 8080);
  EXPECT_FALSE(obj_->reverseEntry(a, "10.0.0.1", 8080));
  EXPECT_TRUE(obj_->reverseEntry(b, "10.0.0.2", 8080)) << "only the released socket's entry goes";
  EXPECT_EQ(obj_->call(Hook::kReverse4, a, "10.0.0.1", 8080).addr, "10.0.0.1:8080");
  obj_->release(c, AF_INET6, "::ffff:10.0.0.3", 8080);
  EXPECT_FALSE(obj_->reverseEntry(c, "10.0.0.3", 8080));
}

// ---- the stale entry ----------------------------------------------------------

// A program that copied web's entry just before the agent flipped it to a
// new generation reaches the retired range, which may already hold someone
// else's slots: the (svc_id, gen) check sends it back for the new entry.
TEST_F(SockPath, StaleEntryIsLookedUpAgain) {
  obj_->apply(desired({service("web", kWeb, {"10.0.0.1", "10.0.0.2"})}));
  svcr_svc_value stale = obj_->serviceValue(kWeb);
  obj_->apply(desired({service("web", kWeb, {"10.0.0.3", "10.0.0.4"})}));
  svcr_svc_value fresh = obj_->serviceValue(kWeb);
  ASSERT_EQ(fresh.id, stale.id);
  ASSERT_NE(fresh.gen, stale.gen);
  ASSERT_NE(fresh.slot_base, stale.slot_base);

  // The retired range reused: by another service (same gen, other id), and
  // by a later generation of web itself (same id, other gen).
  svcr_slot other{};
  other.be = maps::toKernel(BackendAddr{ip("10.0.0.99"), 9999, Protocol::kTcp}, 77);
  other.svc_id = stale.id + 100;
  other.gen = stale.gen;
  obj_->writeSlot(stale.slot_base, other);
  svcr_slot later = other;
  later.be = maps::toKernel(BackendAddr{ip("10.0.0.98"), 9998, Protocol::kTcp}, 78);
  later.svc_id = stale.id;
  later.gen = static_cast<uint16_t>(stale.gen + 2);
  obj_->writeSlot(stale.slot_base + 1, later);

  // Cursor 0 -> the stale pick reaches the other service's slot; cursor 1
  // -> the new set's second backend.
  obj_->injectStale(stale, 1);
  auto out = obj_->connect4({.cookie = 1}, "10.96.0.10", 80);
  EXPECT_EQ(obj_->staleReadsLeft(), 0u) << "the stale copy was not read";
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "10.0.0.4:8080");
  // Cursor 2, no stale read: the new set's first backend.
  EXPECT_EQ(obj_->connect4({.cookie = 2}, "10.96.0.10", 80).addr, "10.0.0.3:8080");
  // Cursor 3 -> web's own later generation's slot; cursor 4 -> the new set.
  obj_->injectStale(stale, 1);
  out = obj_->connect4({.cookie = 3}, "10.96.0.10", 80);
  EXPECT_EQ(obj_->staleReadsLeft(), 0u);
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "10.0.0.3:8080");
  EXPECT_EQ(obj_->counters(kWeb).refused, 0u);
  EXPECT_EQ(obj_->counters(kWeb).connections, 3u);
  EXPECT_EQ(obj_->backendConnections(other.be.id), 0u);
  EXPECT_EQ(obj_->backendConnections(later.be.id), 0u);
}

// The retry is one: two stale reads in a row refuse, never pick from the
// stale range.
TEST_F(SockPath, TwoStaleReadsAreRefused) {
  obj_->apply(desired({service("web", kWeb, {"10.0.0.1", "10.0.0.2"})}));
  svcr_svc_value stale = obj_->serviceValue(kWeb);
  obj_->apply(desired({service("web", kWeb, {"10.0.0.3", "10.0.0.4"})}));
  svcr_slot other{};
  other.be = maps::toKernel(BackendAddr{ip("10.0.0.99"), 9999, Protocol::kTcp}, 77);
  other.svc_id = stale.id + 100;
  other.gen = stale.gen;
  obj_->writeSlot(stale.slot_base, other);
  obj_->writeSlot(stale.slot_base + 1, other);

  obj_->injectStale(stale, 2);
  auto out = obj_->connect4({.cookie = 1}, "10.96.0.10", 80);
  EXPECT_EQ(obj_->staleReadsLeft(), 0u);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.addr, "10.96.0.10:80") << "a refused call keeps its address";
  EXPECT_EQ(out.retvalCalls, 1u);
  EXPECT_EQ(out.retval, -ECONNREFUSED);
  EXPECT_EQ(obj_->counters(kWeb).refused, 1u);
  EXPECT_EQ(obj_->counters(kWeb).connections, 0u);
}

// A stale copy of an entry that was deleted meanwhile: the second look
// finds nothing, and the call is refused.
TEST_F(SockPath, StaleCopyOfADeletedServiceIsRefused) {
  obj_->apply(desired({service("web", kWeb, {"10.0.0.1", "10.0.0.2"})}));
  svcr_svc_value stale = obj_->serviceValue(kWeb);
  obj_->apply(desired({service("other", key("10.96.0.11", 80), {"10.0.0.5"})}));
  obj_->injectStale(stale, 1);
  auto out = obj_->connect4({.cookie = 1}, "10.96.0.10", 80);
  EXPECT_EQ(obj_->staleReadsLeft(), 0u);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.retval, -ECONNREFUSED);
  EXPECT_EQ(out.addr, "10.96.0.10:80");
}

// ---- ClientIP affinity -------------------------------------------------------

const ServiceKey kSticky = key("10.96.0.30", 80);

// The sticky service with `backends`; 10.0.0.1 stays a backend of another
// service throughout, so that a client remembered on it is moved by the
// membership check, not by the backend's disappearance.
DesiredState stickyWith(const std::vector<const char*>& backends) {
  auto d = service("sticky", kSticky, backends);
  d.affinity = true;
  d.affinityTimeoutSec = 10;
  return desired({d, service("keeper", key("10.96.0.31", 80), {"10.0.0.1"})});
}

TEST_F(SockPath, AffinityHoldsWithinTheTimeoutFromTheLastUse) {
  obj_->apply(stickyWith({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  Socket a{.cookie = 1, .netns = 1001}, b{.cookie = 2, .netns = 1002};
  auto at = [&](uint64_t ns, const Socket& s) {
    obj_->setClock(ns);
    return obj_->connect4(s, "10.96.0.30", 80).addr;
  };
  EXPECT_EQ(at(0, a), "10.0.0.1:8080");
  EXPECT_EQ(at(5 * kSec, a), "10.0.0.1:8080");
  // Round-robin has moved on meanwhile: another client gets the next one.
  EXPECT_EQ(at(5 * kSec, b), "10.0.0.2:8080");
  // 9 s after its last connection, not 14 s after its first: each refreshes.
  EXPECT_EQ(at(14 * kSec, a), "10.0.0.1:8080");
  // 11 s after: expired, a fresh round-robin pick.
  std::string next = obj_->nextPick(kSticky);
  EXPECT_EQ(at(25 * kSec, a), next);
  EXPECT_EQ(next, "10.0.0.3:8080");
}

TEST_F(SockPath, AffinityTimeoutIsInclusive) {
  obj_->apply(stickyWith({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  Socket a{.cookie = 1, .netns = 1001};
  auto at = [&](uint64_t ns) {
    obj_->setClock(ns);
    return obj_->connect4(a, "10.96.0.30", 80).addr;
  };
  const uint64_t t0 = 100 * kSec;
  EXPECT_EQ(at(t0), "10.0.0.1:8080");
  // Exactly timeoutSeconds after the last use: still held.
  EXPECT_EQ(at(t0 + 10 * kSec), "10.0.0.1:8080");
  // One nanosecond later than that from the refreshed use: a fresh pick.
  std::string next = obj_->nextPick(kSticky);
  EXPECT_EQ(at(t0 + 20 * kSec + 1), next);
  EXPECT_EQ(next, "10.0.0.2:8080");
}

TEST_F(SockPath, AffinityMovesWhenTheBackendLeavesTheSet) {
  obj_->apply(stickyWith({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  Socket a{.cookie = 1, .netns = 1001}, b{.cookie = 2, .netns = 1002};
  obj_->setClock(0);
  ASSERT_EQ(obj_->connect4(a, "10.96.0.30", 80).addr, "10.0.0.1:8080");
  ASSERT_EQ(obj_->connect4(b, "10.96.0.30", 80).addr, "10.0.0.2:8080");
  obj_->apply(stickyWith({"10.0.0.2", "10.0.0.3"}));
  obj_->setClock(1 * kSec);
  std::string next = obj_->nextPick(kSticky);
  auto moved = obj_->connect4(a, "10.96.0.30", 80).addr;
  EXPECT_EQ(moved, next);
  EXPECT_THAT(moved, AnyOf("10.0.0.2:8080", "10.0.0.3:8080"));
  // ... and is held there; b's backend stayed, so b keeps it.
  EXPECT_EQ(obj_->connect4(a, "10.96.0.30", 80).addr, moved);
  EXPECT_EQ(obj_->connect4(b, "10.96.0.30", 80).addr, "10.0.0.2:8080");
}

// ---- refusal -------------------------------------------------------------------

const ServiceKey kEmpty = key("10.96.0.40", 80);
const DesiredState kWebAndEmpty =
    desired({service("web", kWeb, {"10.0.0.1"}), service("empty", kEmpty, {})});

TEST_F(SockPath, ServiceWithoutBackendsIsRefused) {
  obj_->apply(kWebAndEmpty);
  auto out = obj_->connect4({}, "10.96.0.40", 80);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.retvalCalls, 1u);
  EXPECT_EQ(out.retval, -ECONNREFUSED);
  EXPECT_EQ(out.addr, "10.96.0.40:80");
  EXPECT_EQ(obj_->counters(kEmpty).refused, 1u);
  EXPECT_EQ(obj_->counters(kEmpty).connections, 0u);
}

TEST_F(SockPath, UndefinedPortOfAKnownVipIsRefused) {
  obj_->apply(kWebAndEmpty);
  auto out = obj_->connect4({}, "10.96.0.10", 81);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.retval, -ECONNREFUSED);
  EXPECT_EQ(out.addr, "10.96.0.10:81");
}

TEST_F(SockPath, UdpToATcpOnlyPortIsRefused) {
  obj_->apply(kWebAndEmpty);
  for (Hook h : {Hook::kConnect4, Hook::kSendmsg4}) {
    auto out = obj_->call(h, {.proto = Protocol::kUdp}, "10.96.0.10", 80);
    EXPECT_EQ(out.verdict, kDeny);
    EXPECT_EQ(out.retval, -ECONNREFUSED);
  }
  EXPECT_EQ(obj_->counters(kWeb).connections, 0u);
}

TEST_F(SockPath, AddressThatIsNoServiceIsLeftAlone) {
  obj_->apply(kWebAndEmpty);
  auto out = obj_->connect4({}, "10.1.2.3", 80);
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "10.1.2.3:80");
  EXPECT_EQ(out.retvalCalls, 0u);
  out = obj_->call(Hook::kConnect6, {}, "fd00::1", 80);
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "[fd00::1]:80");
}

// ---- NodePorts, ExternalIPs and LoadBalancer IPs ---------------------------------

// A NodePort on the node's address: local processes are served by the
// node-scope entry; the external one is the packet path's (another set: with
// externalTrafficPolicy: Local, only this node's endpoints); the node's
// other ports are nobody's business.
const ServiceKey kNodePort = key("192.168.1.10", 30080, Protocol::kTcp, Scope::kNode);
const ServiceKey kNodePortExternal = key("192.168.1.10", 30080, Protocol::kTcp, Scope::kExternal);

TEST_F(SockPath, NodePortIsServedToLocalProcessesByItsNodeEntry) {
  obj_->apply(desired({service("web", kWeb, {"10.0.0.1"}),
                       service("web", kNodePort, {"10.0.0.1", "10.0.0.2"}),
                       service("web", kNodePortExternal, {"10.0.0.9"})}));
  EXPECT_EQ(obj_->connect4({.cookie = 1}, "192.168.1.10", 30080).addr, "10.0.0.1:8080");
  EXPECT_EQ(obj_->connect4({.cookie = 2}, "192.168.1.10", 30080).addr, "10.0.0.2:8080");
  EXPECT_EQ(obj_->counters(kNodePort).connections, 2u);
  EXPECT_EQ(obj_->counters(kNodePortExternal).connections, 0u);
  // Not a ClusterIP: another port of the node's address is left alone.
  auto other = obj_->connect4({.cookie = 3}, "192.168.1.10", 22);
  EXPECT_EQ(other.verdict, kAllow);
  EXPECT_EQ(other.addr, "192.168.1.10:22");
  EXPECT_EQ(other.retvalCalls, 0u);
}

TEST_F(SockPath, ExternalEntryAloneIsNotTheSocketPaths) {
  obj_->apply(desired({service("web", kNodePortExternal, {"10.0.0.9"})}));
  auto out = obj_->connect4({.cookie = 1}, "192.168.1.10", 30080);
  EXPECT_EQ(out.verdict, kAllow);
  EXPECT_EQ(out.addr, "192.168.1.10:30080");
}

TEST_F(SockPath, NodePortWithoutBackendsIsRefused) {
  obj_->apply(desired({service("web", kNodePort, {})}));
  auto out = obj_->connect4({.cookie = 1}, "192.168.1.10", 30080);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.retval, -ECONNREFUSED);
  EXPECT_EQ(obj_->counters(kNodePort).refused, 1u);
}

// On a kernel without bpf_set_retval (the loader's probe clears the knob)
// a refusal only denies: the caller gets EPERM.
TEST_F(SockPath, RefusalWithoutSetRetvalOnlyDenies) {
  SockObject old(SockObject::Options{.haveSetRetval = false});
  old.apply(kWebAndEmpty);
  auto out = old.connect4({}, "10.96.0.40", 80);
  EXPECT_EQ(out.verdict, kDeny);
  EXPECT_EQ(out.retvalCalls, 0u);
  EXPECT_EQ(old.counters(kEmpty).refused, 1u);
  // The default object, same table: bpf_set_retval is called.
  obj_->apply(kWebAndEmpty);
  EXPECT_EQ(obj_->connect4({}, "10.96.0.40", 80).retvalCalls, 1u);
}

// ---- UDP ---------------------------------------------------------------------

const ServiceKey kDns = key("10.96.0.53", 53, Protocol::kUdp);

// As stickyWith: 10.0.0.1:5353 stays a backend of another service.
DesiredState dnsWith(const std::vector<const char*>& backends) {
  return desired({service("dns", kDns, backends, 5353),
                  service("keeper", key("10.96.0.54", 53, Protocol::kUdp), {"10.0.0.1"}, 5353)});
}

TEST_F(SockPath, UnconnectedUdpSocketKeepsItsBackendWhileItIsAMember) {
  obj_->apply(dnsWith({"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  Socket a{.cookie = 7, .proto = Protocol::kUdp}, b{.cookie = 8, .proto = Protocol::kUdp};
  auto send = [&](const Socket& s) { return obj_->call(Hook::kSendmsg4, s, "10.96.0.53", 53); };
  for (int i = 0; i < 3; ++i) {
    auto out = send(a);
    EXPECT_EQ(out.verdict, kAllow);
    EXPECT_EQ(out.addr, "10.0.0.1:5353") << "datagram " << i;
  }
  EXPECT_EQ(send(b).addr, "10.0.0.2:5353");
  EXPECT_EQ(send(a).addr, "10.0.0.1:5353");
  // One flow each: the datagrams that kept their backend are not new flows.
  EXPECT_EQ(obj_->counters(kDns).connections, 2u);
  EXPECT_EQ(obj_->backendConnections("10.0.0.1", 5353, Protocol::kUdp), 1u);

  obj_->apply(dnsWith({"10.0.0.2", "10.0.0.3"}));
  std::string next = obj_->nextPick(kDns);
  auto moved = send(a).addr;
  EXPECT_EQ(moved, next);
  EXPECT_THAT(moved, AnyOf("10.0.0.2:5353", "10.0.0.3:5353"));
  EXPECT_EQ(send(a).addr, moved) << "sticks to its new backend";
  EXPECT_EQ(send(b).addr, "10.0.0.2:5353") << "b's backend stayed";
}

}  // namespace
}  // namespace svcrouter::bpftest
