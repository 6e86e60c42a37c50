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
#include <cstring>
#include <filesystem>
#include <fstream>
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

constexpr const char* kKfunc = "bpf_sock_destroy";
constexpr const char* kDiag = "sock_diag";

// A network namespace to look in.
struct Netns {
  Fd fd;
  bool own = false;  // the caller's: no need to enter it
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

// What a pass did in one namespace (or all of them): the counts, and the
// keys of the sockets it closed (their svcr_sock_rev entries go too: a
// closed socket has no peer left for sock_release to find them by).
struct Tally {
  maps::SockTermReport report;
  std::vector<svcr_sock_key> closed;
  void failed(const std::string& why) {
    ++report.failed;
    if (report.firstError.empty()) report.firstError = why;
  }
};

// Records the outcome of closing one socket: 0 closed, else an errno;
// ENOENT (the socket went meanwhile) is neither.
void outcome(Tally& t, const svcr_sock_key& key, int err) {
  if (err == 0) {
    ++t.report.closed;
    t.closed.push_back(key);
  } else if (err != ENOENT) {
    t.failed(std::strerror(err));
  }
}

}  // namespace

// The socket iterator object (bpf/svcr_sockterm.bpf.c), its svcr_sock_rev
// the pinned one, and a link for each of its two programs.
class PinnedSockTerm::Iterators {
 public:
  static Result<std::unique_ptr<Iterators>> load(const std::string& pinDir) {
    std::unique_ptr<Iterators> it(new Iterators);
    it->skel_ = svcr_sockterm__open();
    if (!it->skel_) return fail("open the socket iterator object", errno);
    for (bpf_map* map : {it->skel_->maps.svcr_sock_rev, it->skel_->maps.svcr_sock_fwd}) {
      std::string path = pinDir + "/maps/" + bpf_map__name(map);
      Fd fd(bpf_obj_get(path.c_str()));
      if (!fd.valid()) return fail("open pinned map " + path, errno);
      if (int err = bpf_map__reuse_fd(map, fd.get()); err != 0)
        return fail("reuse pinned map " + path, err);
    }
    if (int err = svcr_sockterm__load(it->skel_); err != 0)
      return fail("load the socket iterator (bpf/svcr_sockterm.bpf.c; -v shows libbpf's log)", err);
    it->list_ = bpf_program__attach_iter(it->skel_->progs.svcr_udp_list, nullptr);
    if (!it->list_) return fail("make an iterator link of svcr_udp_list", errno);
    it->close_ = bpf_program__attach_iter(it->skel_->progs.svcr_udp_close, nullptr);
    if (!it->close_) return fail("make an iterator link of svcr_udp_close", errno);
    return it;
  }

  ~Iterators() {
    if (close_) bpf_link__destroy(close_);
    if (list_) bpf_link__destroy(list_);
    if (skel_) svcr_sockterm__destroy(skel_);
  }

  // The translated connected UDP sockets of the calling thread's namespace.
  Result<std::vector<svcr_sock_term_rec>> list() {
    SVCR_ASSIGN_OR_RETURN(auto bytes, run(list_, "svcr_udp_list"));
    std::map<uint64_t, svcr_sock_term_rec> byCookie;  // a record may come twice
    for (size_t off = 0; off + sizeof(svcr_sock_term_rec) <= bytes.size();
         off += sizeof(svcr_sock_term_rec)) {
      svcr_sock_term_rec rec;
      std::memcpy(&rec, bytes.data() + off, sizeof(rec));
      byCookie[rec.key.cookie] = rec;
    }
    std::vector<svcr_sock_term_rec> out;
    for (const auto& [cookie, rec] : byCookie) out.push_back(rec);
    return out;
  }

  // Destroys the sockets of `keys` in the calling thread's namespace, a
  // batch at a time, and tallies each verdict.
  Result<void> close(std::span<const svcr_sock_key> keys, Tally& t) {
    int doomed = bpf_map__fd(skel_->maps.svcr_udp_doomed);
    for (size_t from = 0; from < keys.size(); from += SVCR_SOCK_TERM_BATCH) {
      auto batch = keys.subspan(from, std::min<size_t>(SVCR_SOCK_TERM_BATCH, keys.size() - from));
      const svcr_sock_term_verdict pending{};
      for (const auto& key : batch)
        if (bpf_map_update_elem(doomed, &key, &pending, BPF_ANY) != 0)
          return fail("fill svcr_udp_doomed", errno);
      auto ran = run(close_, "svcr_udp_close");
      for (const auto& key : batch) {
        svcr_sock_term_verdict v{};
        if (ran && bpf_map_lookup_elem(doomed, &key, &v) == 0)
          outcome(t, key, v.done ? -v.result : ENOENT);  // not met: gone meanwhile
        bpf_map_delete_elem(doomed, &key);
      }
      if (!ran) return std::unexpected(ran.error());
    }
    return {};
  }

 private:
  Iterators() = default;

  // Runs an iterator in the calling thread's namespace (its file is bound
  // to the namespace it is created in) and returns what it wrote.
  static Result<std::string> run(bpf_link* link, const char* name) {
    Fd fd(bpf_iter_create(bpf_link__fd(link)));
    if (!fd.valid()) return fail(std::string("create an iterator of ") + name, errno);
    std::string out;
    std::array<char, 16384> buf;
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(std::string("run the iterator ") + name, errno);
      if (n == 0) return out;
      out.append(buf.data(), static_cast<size_t>(n));
    }
  }

  svcr_sockterm* skel_ = nullptr;
  bpf_link* list_ = nullptr;
  bpf_link* close_ = nullptr;
};

namespace {

// One namespace with the iterators: list, choose, close.
Result<void> passWithIterators(PinnedSockTerm::Iterators& it, const maps::SockTerm::Chooser& choose,
                               Tally& t) {
  SVCR_ASSIGN_OR_RETURN(auto found, it.list());
  std::vector<svcr_sock_key> doomed;
  for (const auto& rec : found) {
    ++t.report.sockets;
    if (choose(translated(rec.key, rec.rev))) doomed.push_back(rec.key);
  }
  if (doomed.empty()) return {};
  return it.close(doomed, t);
}

// One namespace with sock_diag: list, look each up in svcr_sock_rev, choose, close.
Result<void> passWithDiag(int revFd, const maps::SockTerm::Chooser& choose, Tally& t) {
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
      svcr_sock_rev rev{};
      if (bpf_map_lookup_elem(revFd, &key, &rev) != 0) continue;  // not translated by us
      ++t.report.sockets;
      if (!choose(translated(key, rev))) continue;
      SVCR_ASSIGN_OR_RETURN(int err, diag.destroyUdp(s));
      outcome(t, key, err);
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

PinnedSockTerm::PinnedSockTerm(std::string pinDir, std::string cgroup, CloseWith how)
    : pinDir_(std::move(pinDir)), cgroup_(std::move(cgroup)), how_(how) {}

PinnedSockTerm::~PinnedSockTerm() = default;

Result<maps::SockTermReport> PinnedSockTerm::closeUdp(const Chooser& choose) {
  SVCR_ASSIGN_OR_RETURN(auto rev,
                        maps::openPinnedMap(pinDir_, "svcr_sock_rev", BPF_MAP_TYPE_LRU_HASH,
                                            sizeof(svcr_sock_key), sizeof(svcr_sock_rev)));
  if (!rev) return maps::SockTermReport{};  // the socket path is not loaded
  if (how_ == CloseWith::kSockDestroy && !iterators_) {
    auto loaded = Iterators::load(pinDir_);
    if (loaded) {
      iterators_ = std::move(*loaded);
    } else {
      spdlog::warn("{}; closing sockets through sock_diag instead", loaded.error().message());
      how_ = CloseWith::kSockDiag;
    }
  }
  SVCR_ASSIGN_OR_RETURN(auto namespaces, namespacesToScan(cgroup_));

  // On a thread of its own, which may end in another namespace than ours.
  Tally t;
  t.report.mechanism = how_ == CloseWith::kSockDestroy ? kKfunc : kDiag;
  Result<void> done;
  std::thread worker([&] {
    for (const auto& ns : namespaces) {
      if (!ns.own && setns(ns.fd.get(), CLONE_NEWNET) != 0) {
        if (errno != EPERM) {
          done = fail("enter a network namespace", errno);
          return;
        }
        ++t.report.skippedNetns;
        continue;
      }
      ++t.report.namespaces;
      done = how_ == CloseWith::kSockDestroy ? passWithIterators(*iterators_, choose, t)
                                             : passWithDiag(rev->fd.get(), choose, t);
      if (!done) return;
    }
  });
  worker.join();
  for (const auto& key : t.closed) bpf_map_delete_elem(rev->fd.get(), &key);
  auto counted = count(pinDir_, t.report);
  if (!done) return std::unexpected(done.error());
  if (!counted) return std::unexpected(counted.error());
  return t.report;
}

}  // namespace svcrouter::loader
