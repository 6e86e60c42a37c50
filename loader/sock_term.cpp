#include "loader/sock_term.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include "loader/sock_diag.h"
#include "maps/bpf_map.h"
#include "maps/layout/sock_term.h"
#include "svcr_sockterm.skel.h"

namespace svcrouter::loader {
namespace fs = std::filesystem;
using maps::Fd;

namespace {

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

const char* mechanismName(CloseWith how) {
  return how == CloseWith::kSockDestroy ? "bpf_sock_destroy" : "sock_diag";
}

// Keys of svcr_sock_rev, compared as bytes as the kernel compares them.
struct KeyLess {
  bool operator()(const svcr_sock_key& a, const svcr_sock_key& b) const {
    return std::memcmp(&a, &b, sizeof(a)) < 0;
  }
};
using KeySet = std::set<svcr_sock_key, KeyLess>;

// Every entry of svcr_sock_rev: BPF_MAP_LOOKUP_BATCH (5.6+) a chunk at a
// time where the kernel has it, else key by key. The programs add and
// delete entries meanwhile: one may be missed, or be newer than the walk.
Result<void> walkRev(
    int fd, const std::function<void(const svcr_sock_key&, const svcr_sock_rev&)>& onEntry) {
  uint32_t capacity = 1024;
  std::vector<svcr_sock_key> keys(capacity);
  std::vector<svcr_sock_rev> values(capacity);
  svcr_sock_key in{}, out{};  // the kernel's cursor (a bucket), in key-sized buffers
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    uint32_t count = capacity;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), values.data(),
                                   &count, &opts) == 0
                  ? 0
                  : errno;
    if (err == ENOSPC && count == 0) {  // one bucket holds more than the buffer
      capacity *= 2;
      keys.resize(capacity);
      values.resize(capacity);
      continue;
    }
    if (err != 0 && err != ENOENT) {
      if (first && maps::batchUnsupported(err)) break;
      return fail("read svcr_sock_rev (batch)", err);
    }
    for (uint32_t i = 0; i < count; ++i) onEntry(keys[i], values[i]);
    if (err == ENOENT) return {};  // the last buckets were in this chunk
    in = out;
    first = false;
  }
  svcr_sock_key cur{};
  for (bool more = bpf_map_get_next_key(fd, nullptr, &cur) == 0; more;
       more = bpf_map_get_next_key(fd, &cur, &cur) == 0) {
    svcr_sock_rev rev{};
    if (bpf_map_lookup_elem(fd, &cur, &rev) == 0) onEntry(cur, rev);
  }
  return {};
}

IpAddr ipOf(const svcr_addr& a) {
  std::array<uint8_t, 16> bytes{};
  std::memcpy(bytes.data(), a.w, sizeof(a.w));
  return IpAddr::fromBytes(bytes);
}

maps::TranslatedSocket translated(const svcr_sock_key& key, const svcr_sock_rev& rev) {
  return {.cookie = key.cookie,
          .backend = {ipOf(key.addr), ntohs(key.port), Protocol::kUdp},
          .vip = ipOf(rev.vip),
          .vipPort = ntohs(rev.port),
          .serviceId = rev.svc_id};
}

// A network namespace to look in.
struct Netns {
  Fd fd;
  bool own = false;  // the caller's: nothing to enter
};

// The caller's network namespace, then those of the processes in `cgroup`
// and below, each once. A process that exits meanwhile is skipped.
Result<std::vector<Netns>> namespacesToScan(const std::string& cgroup) {
  std::vector<Netns> out;
  std::set<std::pair<dev_t, ino_t>> seen;
  auto add = [&](Fd fd, bool own) {
    struct stat st {};
    if (fstat(fd.get(), &st) == 0 && seen.insert({st.st_dev, st.st_ino}).second)
      out.push_back({std::move(fd), own});
  };
  Fd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) return fail("open /proc/thread-self/ns/net", errno);
  add(std::move(self), true);
  if (cgroup.empty()) return out;
  auto visit = [&](const fs::path& dir) {
    std::ifstream procs(dir / "cgroup.procs");
    for (long pid; procs >> pid;) {
      Fd fd(::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.valid()) add(std::move(fd), false);
    }
  };
  visit(cgroup);
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(cgroup, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) visit(it->path());
  return out;
}

// What a pass did: the counts, and the keys of the sockets it closed (their
// svcr_sock_rev entries go too: a closed socket has no peer left by which
// sock_release could find them).
struct Tally {
  maps::SockTermReport report;
  std::vector<svcr_sock_key> closed;
  // The outcome of closing one socket: 0 closed, else an errno; ENOENT
  // (the socket went meanwhile) is neither.
  void outcome(const svcr_sock_key& key, int err) {
    if (err == 0) {
      ++report.closed;
      closed.push_back(key);
    } else if (err != ENOENT) {
      ++report.failed;
      if (report.firstError.empty()) report.firstError = std::strerror(err);
    }
  }
};

// Runs `inEach` in every namespace of `namespaces`, on a thread of its own
// (which may end in another namespace than ours), and counts them.
Result<void> inEveryNamespace(const std::vector<Netns>& namespaces, Tally& t,
                              const std::function<Result<void>()>& inEach) {
  Result<void> done;
  std::thread worker([&] {
    for (const auto& ns : namespaces) {
      if (!ns.own && setns(ns.fd.get(), CLONE_NEWNET) != 0) {
        if (errno != EPERM) {
          done = fail("enter a network namespace", errno);
          return;
        }
        ++t.report.skippedNetns;  // entering one needs CAP_SYS_ADMIN
        continue;
      }
      ++t.report.namespaces;
      auto start = std::chrono::steady_clock::now();
      done = inEach();
      if (!done) return;
      spdlog::debug("looked in a network namespace in {:.1f} ms", msSince(start));
    }
  });
  worker.join();
  return done;
}

// sock_diag, in the calling thread's namespace: every connected UDP socket
// whose (cookie, peer) is doomed is destroyed.
Result<void> closeWithDiag(const KeySet& doomed, Tally& t) {
  SVCR_ASSIGN_OR_RETURN(auto diag, SockDiag::open());
  for (int family : {AF_INET, AF_INET6}) {
    SVCR_ASSIGN_OR_RETURN(auto sockets, diag.connectedUdp(family));
    for (const auto& s : sockets) {
      svcr_sock_key key{};
      key.cookie = s.cookie();
      if (family == AF_INET) {
        key.addr.w[2] = htonl(0x0000ffff);
        key.addr.w[3] = s.id.idiag_dst[0];
      } else {
        std::memcpy(key.addr.w, s.id.idiag_dst, sizeof(key.addr.w));
      }
      key.port = s.id.idiag_dport;  // network order, as the socket path stores it
      key.proto = IPPROTO_UDP;
      if (!doomed.contains(key)) continue;
      SVCR_ASSIGN_OR_RETURN(int err, diag.destroyUdp(s));
      t.outcome(key, err);
    }
  }
  return {};
}

// Adds a pass to the pinned counters (missing under an older datapath,
// until the next apply pins them).
Result<void> count(const std::string& pinDir, const maps::SockTermReport& r) {
  SVCR_ASSIGN_OR_RETURN(auto stats,
                        maps::openPinnedMap(pinDir, "svcr_sock_term", BPF_MAP_TYPE_ARRAY,
                                            sizeof(uint32_t), sizeof(svcr_sock_term_stats)));
  if (!stats) return {};
  uint32_t zero = 0;
  svcr_sock_term_stats s{};
  if (bpf_map_lookup_elem(stats->fd.get(), &zero, &s) != 0)
    return fail("look up " + stats->path, errno);
  s.passes += 1;
  s.sockets += r.sockets;
  s.closed += r.closed;
  s.failed += r.failed;
  s.skipped_netns += r.skippedNetns;
  if (bpf_map_update_elem(stats->fd.get(), &zero, &s, BPF_ANY) != 0)
    return fail("update " + stats->path, errno);
  return {};
}

}  // namespace

// The socket iterator object (bpf/svcr_sockterm.bpf.c) and a link for its
// program, from which an iterator is made in each namespace.
class PinnedSockTerm::Iterators {
 public:
  static Result<std::unique_ptr<Iterators>> load() {
    std::unique_ptr<Iterators> it(new Iterators);
    it->skel_ = svcr_sockterm__open();
    if (!it->skel_) return fail("open the socket iterator object", errno);
    if (int err = svcr_sockterm__load(it->skel_); err != 0)
      return fail("load the socket iterator (bpf/svcr_sockterm.bpf.c; -v shows libbpf's log)", err);
    it->link_ = bpf_program__attach_iter(it->skel_->progs.svcr_udp_close, nullptr);
    if (!it->link_) return fail("make an iterator link of svcr_udp_close", errno);
    return it;
  }

  ~Iterators() {
    if (link_) bpf_link__destroy(link_);
    if (skel_) svcr_sockterm__destroy(skel_);
  }

  int doomedFd() const { return bpf_map__fd(skel_->maps.svcr_udp_doomed); }

  // Runs the iterator over the calling thread's namespace (an iterator's
  // file is bound to the namespace it is created in): it destroys the
  // connected UDP sockets whose key is in svcr_udp_doomed.
  Result<void> run() {
    Fd fd(bpf_iter_create(bpf_link__fd(link_)));
    if (!fd.valid()) return fail("create an iterator of svcr_udp_close", errno);
    std::array<char, 4096> buf;  // it writes nothing: read() returns once it has run
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("run the iterator svcr_udp_close", errno);
      if (n == 0) return {};
    }
  }

 private:
  Iterators() = default;
  svcr_sockterm* skel_ = nullptr;
  bpf_link* link_ = nullptr;
};

PinnedSockTerm::PinnedSockTerm(std::string pinDir, std::string cgroup, CloseWith how)
    : pinDir_(std::move(pinDir)), cgroup_(std::move(cgroup)), how_(how) {}

PinnedSockTerm::~PinnedSockTerm() = default;

Result<maps::SockTermReport> PinnedSockTerm::closeUdp(const Chooser& choose) {
  SVCR_ASSIGN_OR_RETURN(auto rev,
                        maps::openPinnedMap(pinDir_, "svcr_sock_rev", BPF_MAP_TYPE_LRU_HASH,
                                            sizeof(svcr_sock_key), sizeof(svcr_sock_rev)));
  if (!rev) return maps::SockTermReport{};  // the socket path is not loaded

  // Which translations lost their backend: the sockets to look for. Also
  // entries of unconnected sockets (sendmsg) and of sockets gone without a
  // sock_release, which no connected socket matches.
  Tally t;
  KeySet doomed;
  SVCR_RETURN_IF_ERROR(walkRev(rev->fd.get(), [&](const svcr_sock_key& k, const svcr_sock_rev& v) {
    if (k.proto != IPPROTO_UDP) return;
    ++t.report.sockets;
    if (choose(translated(k, v))) doomed.insert(k);
  }));

  if (!doomed.empty() && how_ == CloseWith::kSockDestroy && !iterators_) {
    auto start = std::chrono::steady_clock::now();
    auto loaded = Iterators::load();
    if (loaded) {
      iterators_ = std::move(*loaded);
      spdlog::debug("loaded the socket iterator in {:.1f} ms", msSince(start));
    } else {
      spdlog::warn("{}; closing sockets through sock_diag instead", loaded.error().message());
      how_ = CloseWith::kSockDiag;
    }
  }
  t.report.mechanism = mechanismName(how_);
  Result<void> done;
  if (!doomed.empty()) {
    SVCR_ASSIGN_OR_RETURN(auto namespaces, namespacesToScan(cgroup_));
    if (how_ == CloseWith::kSockDiag) {
      done = inEveryNamespace(namespaces, t, [&] { return closeWithDiag(doomed, t); });
    } else {
      // A batch of keys, run in every namespace, then its verdicts.
      std::vector<svcr_sock_key> keys(doomed.begin(), doomed.end());
      int fd = iterators_->doomedFd();
      for (size_t from = 0; done && from < keys.size(); from += SVCR_SOCK_TERM_BATCH) {
        std::span<const svcr_sock_key> batch(
            keys.data() + from, std::min<size_t>(SVCR_SOCK_TERM_BATCH, keys.size() - from));
        const svcr_sock_term_verdict pending{};
        for (const auto& key : batch)
          if (bpf_map_update_elem(fd, &key, &pending, BPF_ANY) != 0) {
            done = fail("fill svcr_udp_doomed", errno);
            break;
          }
        if (done) done = inEveryNamespace(namespaces, t, [&] { return iterators_->run(); });
        for (const auto& key : batch) {
          svcr_sock_term_verdict v{};
          if (done && bpf_map_lookup_elem(fd, &key, &v) == 0 && v.done) t.outcome(key, -v.result);
          bpf_map_delete_elem(fd, &key);
        }
      }
    }
  }
  for (const auto& key : t.closed) bpf_map_delete_elem(rev->fd.get(), &key);
  auto counted = count(pinDir_, t.report);
  if (!done) return std::unexpected(done.error());
  if (!counted) return std::unexpected(counted.error());
  return t.report;
}

}  // namespace svcrouter::loader
