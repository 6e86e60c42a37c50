#include "loader/loader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "loader/cgroup.h"
#include "loader/pins.h"
#include "loader/sock_term.h"
#include "maps/conntrack.h"
#include "svcr_sock.skel.h"

namespace svcrouter::loader {
namespace fs = std::filesystem;
namespace {

// Keeps libbpf's warnings while it lives, so that a failed open, load or
// attach can say what libbpf said: which pinned map did not match, or the
// verifier's log of a program it refused (libbpf grows its own log buffer
// for that and prints it as a warning). libbpf's print callback takes no
// context, so the one capture in progress is reached through a pointer that
// only this class sets and clears. Messages still reach the callback that
// was installed before (the log, with -v).
class LibbpfWarnings {
 public:
  LibbpfWarnings() : outer_(active_) {
    active_ = this;
    previous_ = libbpf_set_print(&LibbpfWarnings::print);
  }
  ~LibbpfWarnings() {
    libbpf_set_print(previous_);
    active_ = outer_;
  }
  LibbpfWarnings(const LibbpfWarnings&) = delete;
  LibbpfWarnings& operator=(const LibbpfWarnings&) = delete;

  // "what" followed by the last of what libbpf said, if it said anything.
  std::string explain(std::string what) const {
    if (!text_.empty()) what += "\nlibbpf said:\n" + text_;
    return what;
  }

 private:
  // The end of a verifier log is where its reason is.
  static constexpr size_t kKept = 8192;

  static int print(enum libbpf_print_level level, const char* format, va_list args) {
    LibbpfWarnings* self = active_;
    int n = 0;
    if (self && self->previous_) {
      va_list copy;
      va_copy(copy, args);
      n = self->previous_(level, format, copy);
      va_end(copy);
    }
    if (!self || level == LIBBPF_DEBUG) return n;
    char line[2048];
    n = vsnprintf(line, sizeof(line), format, args);
    self->text_ += line;
    if (self->text_.size() > kKept) self->text_.erase(0, self->text_.size() - kKept);
    return n;
  }

  static thread_local LibbpfWarnings* active_;
  LibbpfWarnings* outer_;
  libbpf_print_fn_t previous_ = nullptr;
  std::string text_;
};

thread_local LibbpfWarnings* LibbpfWarnings::active_ = nullptr;

std::string mapPin(const std::string& dir, const bpf_map* map) {
  return dir + "/maps/" + bpf_map__name(map);
}

std::string linkPin(const std::string& dir, const bpf_program* prog) {
  return dir + "/links/" + bpf_program__name(prog);
}

Result<svcr_sock*> openSkeleton(const LibbpfWarnings& libbpf) {
  svcr_sock* skel = svcr_sock__open();
  if (!skel) {
    int err = errno;
    return fail(libbpf.explain("open BPF object"), err);
  }
  return skel;
}

// Unpins the links pinned by an attach that did not complete (which detaches
// them: the pin held the last reference).
class NewLinkPins {
 public:
  NewLinkPins() = default;
  NewLinkPins(const NewLinkPins&) = delete;
  NewLinkPins& operator=(const NewLinkPins&) = delete;
  ~NewLinkPins() {
    for (const auto& path : paths_) unlink(path.c_str());
  }
  void add(std::string path) { paths_.push_back(std::move(path)); }
  // The attach completed: they stay.
  void keep() { paths_.clear(); }

 private:
  std::vector<std::string> paths_;
};

// Points every map of an opened (not loaded) skeleton at its pinned map.
Result<void> reusePinnedMaps(svcr_sock* skel, const std::string& pinDir) {
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    if (bpf_map__is_internal(map)) continue;  // .rodata belongs to the programs
    std::string path = mapPin(pinDir, map);
    maps::Fd fd(bpf_obj_get(path.c_str()));
    if (!fd.valid()) return fail("open pinned map " + path, errno);
    if (int err = bpf_map__reuse_fd(map, fd.get()); err != 0)
      return fail("reuse pinned map " + path, err);
  }
  return {};
}

// Fits the programs to the kernel: settings the verifier folds into dead
// code, and hooks the kernel does not have left unloaded.
void fitToKernel(svcr_sock* skel, const KernelFeatures& k) {
  skel->rodata->svcr_have_set_retval = k.on(FeatureId::kSetRetval);
  skel->rodata->svcr_have_netns_cookie = k.on(FeatureId::kNetnsCookie);
  auto& p = skel->progs;
  for (bpf_program* prog : {p.svcr_recvmsg4, p.svcr_recvmsg6})
    bpf_program__set_autoload(prog, k.on(FeatureId::kRecvmsgHook));
  for (bpf_program* prog : {p.svcr_getpeer4, p.svcr_getpeer6})
    bpf_program__set_autoload(prog, k.on(FeatureId::kGetpeerHook));
  bpf_program__set_autoload(p.svcr_release, k.on(FeatureId::kReleaseHook));
}

Result<AttachedProgram> linkInfo(const std::string& path, const std::string& name) {
  maps::Fd fd(bpf_obj_get(path.c_str()));
  if (!fd.valid()) return fail("open pinned link " + path, errno);
  bpf_link_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail("inspect " + path, errno);
  return AttachedProgram{name, info.prog_id,
                         info.type == BPF_LINK_TYPE_CGROUP ? info.cgroup.cgroup_id : 0};
}

// Detaches and unpins everything svcrouter pinned under pinDir (held
// locked), then removes the directories. Anything else found there is left
// alone, and said.
Result<void> removePins(const std::string& pinDir) {
  std::error_code ec;
  for (const char* sub : {"/links", "/maps"}) {
    for (const auto& entry : fs::directory_iterator(pinDir + sub, ec)) {
      std::string name = entry.path().filename();
      if (!name.starts_with(SVCR_PREFIX))
        return fail("not removing " + entry.path().string() + ": not svcrouter's");
      if (std::string(sub) == "/links") {
        SVCR_RETURN_IF_ERROR(detachPinnedLink(entry.path()));
      } else if (unlink(entry.path().c_str()) != 0) {
        return fail("unpin " + entry.path().string(), errno);
      }
    }
  }
  for (const auto& dir : {pinDir + "/links", pinDir + "/maps", pinDir})
    if (rmdir(dir.c_str()) != 0 && errno != ENOENT)
      return fail("remove " + dir + " (is something else pinned there?)", errno);
  return {};
}

// Pins are root's alone (pins.h): what is looser, found in a pin directory
// made by someone else or by an older svcrouter, is tightened, and said.
Result<void> keepPinsPrivate(const std::string& pinDir) {
  SVCR_ASSIGN_OR_RETURN(auto tightened, restrictPins(pinDir));
  if (tightened.empty()) return {};
  std::string list;
  for (const auto& p : tightened) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", p.mode);
    list += (list.empty() ? "" : ", ") + p.path + " (was " + mode + ")";
  }
  spdlog::warn(
      "pins under {} were readable by others: {} of them made root's alone (0700 "
      "directories, 0600 pins): {}",
      pinDir, tightened.size(), list);
  return {};
}

}  // namespace

Datapath::Datapath(Datapath&& o) noexcept
    : skel_(std::exchange(o.skel_, nullptr)),
      pinDir_(std::move(o.pinDir_)),
      features_(std::move(o.features_)),
      maps_(std::move(o.maps_)),
      table_(std::move(o.table_)) {}

Datapath& Datapath::operator=(Datapath&& o) noexcept {
  if (this != &o) {
    if (skel_) svcr_sock__destroy(skel_);
    skel_ = std::exchange(o.skel_, nullptr);
    pinDir_ = std::move(o.pinDir_);
    features_ = std::move(o.features_);
    maps_ = std::move(o.maps_);
    table_ = std::move(o.table_);
  }
  return *this;
}

// Destroying the skeleton closes our descriptors only: pinned maps and links,
// and the programs they hold, stay in the kernel.
Datapath::~Datapath() {
  if (skel_) svcr_sock__destroy(skel_);
}

Result<Datapath> Datapath::open(const std::string& pinDir) {
  std::error_code ec;
  if (!fs::exists(pinDir + "/maps", ec)) {
    if (ec) return fail("read " + pinDir + " (svcrouter's commands need root)", ec.value());
    return fail("svcrouter is not loaded: nothing is pinned under " + pinDir);
  }
  Datapath dp;
  dp.pinDir_ = pinDir;
  LibbpfWarnings libbpf;
  SVCR_ASSIGN_OR_RETURN(dp.skel_, openSkeleton(libbpf));
  SVCR_RETURN_IF_ERROR(reusePinnedMaps(dp.skel_, pinDir));
  SVCR_RETURN_IF_ERROR(dp.openTable());
  return dp;
}

Preloaded::Preloaded(Preloaded&& o) noexcept
    : features_(std::move(o.features_)), skel_(std::exchange(o.skel_, nullptr)) {}

Preloaded& Preloaded::operator=(Preloaded&& o) noexcept {
  if (this != &o) {
    if (skel_) svcr_sock__destroy(skel_);
    features_ = std::move(o.features_);
    skel_ = std::exchange(o.skel_, nullptr);
  }
  return *this;
}

Preloaded::~Preloaded() {
  if (skel_) svcr_sock__destroy(skel_);
}

Preloaded Datapath::preload(const Options& options) {
  Preloaded out;
  auto features = probeKernel(options.without);
  if (!features) return out;
  out.features_ = *features;
  if (!checkRequired(*features)) return out;
  // Only a first load: pinned maps are adopted, not created.
  std::error_code ec;
  if (!fs::is_empty(options.pinDir + "/maps", ec) && !ec) return out;
  LibbpfWarnings libbpf;
  auto skel = openSkeleton(libbpf);
  if (!skel) return out;
  fitToKernel(*skel, *features);
  if (!sizeMaps((*skel)->obj, options.pinDir, options.sizes) || svcr_sock__load(*skel) != 0) {
    svcr_sock__destroy(*skel);
    return out;
  }
  out.skel_ = *skel;
  return out;
}

Result<Datapath> Datapath::attach(const Options& options, Preloaded preloaded) {
  const std::string& pinDir = options.pinDir;
  // Refuse what cannot work before anything is created.
  std::optional<uint64_t> wanted;
  if (options.cgroup) {
    SVCR_ASSIGN_OR_RETURN(wanted, cgroupId(*options.cgroup));
  }
  KernelFeatures features;
  if (preloaded.features_) {
    features = *preloaded.features_;
  } else {
    SVCR_ASSIGN_OR_RETURN(features, probeKernel(options.without));
  }
  SVCR_RETURN_IF_ERROR(checkRequired(features));
  SVCR_RETURN_IF_ERROR(checkSizes(pinDir, options.sizes));
  SVCR_RETURN_IF_ERROR(ensureBpffs(pinDir));
  SVCR_RETURN_IF_ERROR(makePinDirs(pinDir));
  SVCR_ASSIGN_OR_RETURN(auto lock, maps::lockDirectory(pinDir, maps::LockMode::kExclusive));
  // Decided under the lock: another first apply may be racing this one.
  std::error_code ec;
  bool fresh = fs::is_empty(pinDir + "/maps", ec) && fs::is_empty(pinDir + "/links", ec);
  auto dp = attachIn(options, features, wanted, std::exchange(preloaded.skel_, nullptr));
  if (dp && !options.tc.devices.empty()) {
    if (auto tc = attachTc(pinDir, options.tc, options.sizes, features); !tc)
      dp = std::unexpected(tc.error());
  }
  if (dp) dp->features_ = features;
  // A first load that fails leaves nothing behind: no directory, no pin.
  if (!dp && fresh) {
    (void)detachTc(pinDir);
    (void)removePins(pinDir);
  }
  if (dp) SVCR_RETURN_IF_ERROR(keepPinsPrivate(pinDir));
  return dp;
}

Result<Datapath> Datapath::attachIn(const Options& options, const KernelFeatures& features,
                                    std::optional<uint64_t> wanted, svcr_sock* preloaded) {
  const std::string& pinDir = options.pinDir;
  Datapath dp;
  dp.pinDir_ = pinDir;
  LibbpfWarnings libbpf;
  if (preloaded) {
    dp.skel_ = preloaded;  // opened, fitted, sized and loaded already
  } else {
    SVCR_ASSIGN_OR_RETURN(dp.skel_, openSkeleton(libbpf));
    fitToKernel(dp.skel_, features);
    SVCR_RETURN_IF_ERROR(sizeMaps(dp.skel_->obj, pinDir, options.sizes));
  }
  svcr_sock* skel = dp.skel_;

  // Where is it attached already, and is that where we are asked to attach?
  std::optional<uint64_t> attachedTo;
  // Adopt as is only when exactly the programs this kernel (and --without)
  // calls for are linked.
  bool linksFit = true, allMapsPinned = true, anyMapPinned = false;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string path = linkPin(pinDir, prog);
    bool linked = exists(path);
    linksFit &= linked == bpf_program__autoload(prog);
    if (!linked) continue;
    SVCR_ASSIGN_OR_RETURN(auto info, linkInfo(path, bpf_program__name(prog)));
    attachedTo = info.cgroupId;
  }
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    if (bpf_map__is_internal(map)) continue;
    bool pinned = exists(mapPin(pinDir, map));
    allMapsPinned &= pinned;
    anyMapPinned |= pinned;
  }
  if (preloaded && (anyMapPinned || attachedTo)) {
    // Someone loaded it meanwhile: adopt theirs, as if nothing was preloaded.
    svcr_sock__destroy(std::exchange(dp.skel_, nullptr));
    return attachIn(options, features, wanted, nullptr);
  }
  if (wanted && attachedTo && *wanted != *attachedTo)
    return fail("svcrouter under " + pinDir + " is attached to cgroup " +
                cgroupPathById(*attachedTo).value_or("id " + std::to_string(*attachedTo)) +
                ", not " + *options.cgroup + "; run `svcrouter unload` first to move it");

  if (linksFit && allMapsPinned && options.programs == Programs::kAdoptAttached) {
    SVCR_RETURN_IF_ERROR(reusePinnedMaps(skel, pinDir));
    SVCR_RETURN_IF_ERROR(dp.openTable());
    return dp;
  }

  std::string cgroup;
  if (options.cgroup) {
    cgroup = *options.cgroup;
  } else if (attachedTo) {
    auto found = cgroupPathById(*attachedTo);
    if (!found) return fail("cannot find the cgroup svcrouter is attached to; pass --cgroup");
    cgroup = *found;
  } else {
    SVCR_ASSIGN_OR_RETURN(cgroup, cgroup2Root());
    // In a container the cgroup v2 mount usually shows the container's own
    // cgroup (a cgroup namespace): that default would route nothing else.
    SVCR_ASSIGN_OR_RETURN(uint64_t id, cgroupId(cgroup));
    if (id != 1)
      return fail("the cgroup v2 mount at " + cgroup +
                  " is not the host's root cgroup (a cgroup namespace, as in a container?): "
                  "pass --cgroup with the directory to attach to");
  }

  if (preloaded) {
    // Created by the load: pinned now, as the load would have.
    bpf_object__for_each_map(map, skel->obj) {
      if (bpf_map__is_internal(map)) continue;
      std::string path = mapPin(pinDir, map);
      if (int err = bpf_map__pin(map, path.c_str()); err != 0) return fail("pin map " + path, -err);
    }
  } else {
    // Maps with a pin path are reused when pinned, created and pinned if not.
    bpf_object__for_each_map(map, skel->obj) {
      if (bpf_map__is_internal(map)) continue;
      if (int err = bpf_map__set_pin_path(map, mapPin(pinDir, map).c_str()); err != 0)
        return fail("set pin path of " + std::string(bpf_map__name(map)), err);
    }
    if (int err = svcr_sock__load(skel); err != 0)
      return fail(libbpf.explain("load BPF programs (a map pinned under " + pinDir +
                                 " by another svcrouter version may not match; `svcrouter "
                                 "unload` clears it)"),
                  err);
  }

  maps::Fd cgroupFd(::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroupFd.valid()) return fail("open cgroup " + cgroup, errno);
  NewLinkPins created;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string name = bpf_program__name(prog), path = linkPin(pinDir, prog);
    if (!bpf_program__autoload(prog)) {
      // A hook turned off (--without) since it was attached: detach it.
      if (exists(path)) SVCR_RETURN_IF_ERROR(detachPinnedLink(path));
      continue;
    }
    if (exists(path)) {
      SVCR_RETURN_IF_ERROR(swapPinnedLink(path, prog));
      continue;
    }
    bpf_link* link = bpf_program__attach_cgroup(prog, cgroupFd.get());
    if (!link) {
      int err = errno;
      return fail(libbpf.explain("attach " + name + " to " + cgroup), err);
    }
    int err = bpf_link__pin(link, path.c_str());
    bpf_link__destroy(link);
    if (err != 0) return fail("pin link " + path, err);
    created.add(path);
  }
  SVCR_RETURN_IF_ERROR(dp.openTable());
  // Under the pin directory's lock: nobody else can have written them.
  if (!anyMapPinned) dp.maps_->createdEmpty();
  created.keep();
  return dp;
}

Result<void> Datapath::openTable() {
  SVCR_ASSIGN_OR_RETURN(maps_, maps::KernelMaps::fromSkeleton(*skel_, pinDir_));
  table_.emplace(*maps_);
  return {};
}

std::unique_ptr<maps::ConntrackGc> Datapath::conntrackGc() const {
  return std::make_unique<maps::PinnedConntrackGc>(pinDir_);
}

std::unique_ptr<maps::SockTerm> Datapath::sockTerm() const {
  // Opened without a probe (Datapath::open): probe now.
  auto features = features_ ? Result<KernelFeatures>(*features_) : probeKernel();
  bool kfunc = features && features->on(FeatureId::kSockDestroy);
  return std::make_unique<PinnedSockTerm>(pinDir_, cgroupPath(),
                                          kfunc ? CloseWith::kSockDestroy : CloseWith::kSockDiag);
}

Result<std::vector<AttachedProgram>> Datapath::programs() const {
  std::vector<AttachedProgram> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    std::string path = linkPin(pinDir_, prog);
    if (!exists(path)) continue;
    SVCR_ASSIGN_OR_RETURN(auto info, linkInfo(path, bpf_program__name(prog)));
    out.push_back(info);
  }
  return out;
}

std::string Datapath::cgroupPath() const {
  auto progs = programs();
  if (!progs || progs->empty()) return "";
  return cgroupPathById(progs->front().cgroupId).value_or("");
}

Result<bool> unload(const std::string& pinDir) {
  if (!exists(pinDir)) return false;
  SVCR_ASSIGN_OR_RETURN(auto lock, maps::lockDirectory(pinDir, maps::LockMode::kExclusive));
  SVCR_RETURN_IF_ERROR(detachTc(pinDir));
  SVCR_RETURN_IF_ERROR(removePins(pinDir));
  return true;
}

}  // namespace svcrouter::loader
