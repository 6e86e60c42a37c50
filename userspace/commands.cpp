#include "userspace/commands.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "loader/loader.h"
#include "userspace/desired.h"
#include "userspace/manifest.h"
#include "userspace/reconcile.h"
#include "userspace/report.h"

namespace svcrouter {
namespace {

// Milliseconds since `start`, for the -v timings.
double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

int failed(const Error& e) {
  spdlog::error("{}", e.message());
  return 1;
}

void warnUnimplemented(const CommonOptions& common) {
  if (!common.tcDevs.empty() || !common.nodeIps.empty())
    spdlog::warn(
        "the packet path (NodePort/ExternalIP/LoadBalancer via --tc-dev, --node-ip) is not "
        "implemented yet; those options are ignored");
}

// Validates the manifests in `text` (FILE's content) into the desired table.
// Nothing in the kernel is touched before this has fully succeeded.
Result<DesiredState> desiredFromText(const CommonOptions& common, const std::string& text,
                                     const std::string& file) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto manifests, parseManifests(text, file));
  spdlog::debug("read {} in {:.1f} ms", file, msSince(start));
  for (const auto& w : manifests.warnings) spdlog::warn("{}", w);
  SVCR_ASSIGN_OR_RETURN(
      auto want, buildDesiredState(manifests, SelectOptions{common.nodeName, common.proxyName}));
  for (const auto& w : want.warnings) spdlog::warn("{}", w);
  return want;
}

// Makes the kernel's table equal to `want`.
Result<Plan> reconcile(loader::Datapath& dp, const std::string& pinDir, const DesiredState& want) {
  SVCR_ASSIGN_OR_RETURN(auto lock, loader::lockPinDir(pinDir));
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto current, dp.table().read());
  double readMs = msSince(start);
  SVCR_ASSIGN_OR_RETURN(auto plan, planUpdate(current, want));
  // Guarded: the arguments would be formatted even with debug output off.
  if (spdlog::should_log(spdlog::level::debug))
    for (const auto& op : plan.ops) spdlog::debug("{}", describe(op));
  start = std::chrono::steady_clock::now();
  SVCR_RETURN_IF_ERROR(dp.table().apply(plan));
  spdlog::debug("read the kernel's table in {:.1f} ms; applied {} map operations in {:.1f} ms",
                readMs, plan.ops.size(), msSince(start));
  return plan;
}

void printSummary(const std::string& source, const DesiredState& want, const Plan& plan) {
  size_t backends = 0;
  for (const auto& [key, svc] : want.services) backends += svc.backends.size();
  std::cout << "applied " << source << ": " << want.services.size() << " service entries, "
            << backends << " backends";
  if (plan.changes.empty()) std::cout << " (no change)";
  std::cout << "\n";
  // A large update is summed up; -v lists every change.
  constexpr size_t kShown = 20;
  bool all = spdlog::should_log(spdlog::level::debug) || plan.changes.size() <= kShown;
  size_t shown = all ? plan.changes.size() : kShown;
  for (size_t i = 0; i < shown; ++i) std::cout << "  " << plan.changes[i] << "\n";
  if (shown < plan.changes.size())
    std::cout << "  ... and " << plan.changes.size() - shown << " more (-v lists them)\n";
  std::cout.flush();
}

enum class Outcome { kApplied, kBadInput, kKernelError };

// Applies FILE's content to an attached datapath; logs and keeps the old
// table on error.
Outcome applyText(loader::Datapath& dp, const CommonOptions& common, const std::string& file,
                  const Result<std::string>& text) {
  if (!text) return failed(text.error()), Outcome::kBadInput;
  auto want = desiredFromText(common, *text, file);
  if (!want) return failed(want.error()), Outcome::kBadInput;
  auto plan = reconcile(dp, common.pinDir, *want);
  if (!plan) return failed(plan.error()), Outcome::kKernelError;
  printSummary(file, *want, *plan);
  return Outcome::kApplied;
}

// Wakes the agent when FILE may have changed, on a retry timeout, or on a
// signal. It watches the whole directory: editors replace the file, and a
// Kubernetes ConfigMap volume swaps a `..data` symlink without touching the
// file's own name; whether the content really changed is for the caller.
class FileWatch {
 public:
  enum class Event { kMaybeChanged, kTimeout, kReload, kStop };

  explicit FileWatch(const std::string& file) : inotify_(inotify_init1(IN_CLOEXEC)) {
    auto dir = std::filesystem::path(file).parent_path();
    if (inotify_ < 0 ||
        inotify_add_watch(inotify_, dir.empty() ? "." : dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
      spdlog::warn("cannot watch {} ({}): checking it every {} s instead", dir.string(),
                   std::strerror(errno), kPollSec);
      polling_ = true;
    }
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_ = signalfd(-1, &set, SFD_CLOEXEC);
  }
  ~FileWatch() {
    if (inotify_ >= 0) close(inotify_);
    close(signals_);
  }

  // Waits up to timeoutMs (-1: no limit, unless polling).
  Event next(int timeoutMs) {
    if (polling_ && (timeoutMs < 0 || timeoutMs > kPollSec * 1000)) timeoutMs = kPollSec * 1000;
    pollfd fds[2] = {{signals_, POLLIN, 0}, {inotify_, POLLIN, 0}};
    int n = poll(fds, polling_ ? 1 : 2, timeoutMs);
    if (n < 0) return errno == EINTR ? Event::kTimeout : Event::kStop;
    if (n == 0) return polling_ ? Event::kMaybeChanged : Event::kTimeout;
    if (fds[0].revents) {
      signalfd_siginfo info{};
      if (read(signals_, &info, sizeof(info)) != sizeof(info)) return Event::kStop;
      if (info.ssi_signo == SIGHUP) return Event::kReload;
      spdlog::info("signal {}: stopping; the datapath keeps serving", info.ssi_signo);
      return Event::kStop;
    }
    alignas(inotify_event) char buf[4096];
    (void)!read(inotify_, buf, sizeof(buf));
    return Event::kMaybeChanged;
  }

 private:
  static constexpr int kPollSec = 2;
  int inotify_, signals_ = -1;
  bool polling_ = false;
};

}  // namespace

int cmdApply(const CommonOptions& common, const std::string& file) {
  warnUnimplemented(common);
  auto text = readTextFile(file);
  if (!text) return failed(text.error());
  auto want = desiredFromText(common, *text, file);
  if (!want) return failed(want.error());
  auto dp = loader::Datapath::attach({common.pinDir, common.cgroup, false, common.without});
  if (!dp) return failed(dp.error());
  auto plan = reconcile(*dp, common.pinDir, *want);
  if (!plan) return failed(plan.error());
  printSummary(file, *want, *plan);
  return 0;
}

// Reads the pinned table and prints it as text or JSON.
static int showTable(const CommonOptions& common, OutputFormat format, bool withStats) {
  auto dp = loader::Datapath::open(common.pinDir);
  if (!dp) return failed(dp.error());
  auto lock = loader::lockPinDir(common.pinDir, /*shared=*/true);
  if (!lock) return failed(lock.error());
  auto views = collectViews(dp->table());
  if (!views) return failed(views.error());
  if (format == OutputFormat::kText) {
    std::cout << (withStats ? statsText(*views) : listText(*views));
    return 0;
  }
  auto j = withStats ? statsJson(*views) : listJson(*views);
  if (!withStats) {
    j["pin_dir"] = common.pinDir;
    j["cgroup"] = dp->cgroupPath();
  }
  std::cout << j.dump(2) << "\n";
  return 0;
}

int cmdList(const CommonOptions& common, OutputFormat format) {
  return showTable(common, format, false);
}

int cmdStats(const CommonOptions& common, OutputFormat format) {
  return showTable(common, format, true);
}

int cmdUnload(const CommonOptions& common) {
  auto removed = loader::unload(common.pinDir);
  if (!removed) return failed(removed.error());
  std::cout << (*removed ? "unloaded: programs detached, " + common.pinDir + " removed"
                         : "nothing to unload under " + common.pinDir)
            << "\n";
  return 0;
}

int cmdStatus(const CommonOptions& common, OutputFormat format) {
  auto kernel = loader::probeKernel(common.without);
  if (!kernel) return failed(kernel.error());
  std::vector<loader::AttachedProgram> programs;
  std::string cgroup;
  std::error_code ec;
  if (std::filesystem::exists(common.pinDir + "/maps", ec)) {
    auto dp = loader::Datapath::open(common.pinDir);
    if (!dp) return failed(dp.error());
    auto progs = dp->programs();
    if (!progs) return failed(progs.error());
    programs = *progs;
    cgroup = dp->cgroupPath();
  }
  if (format == OutputFormat::kJson) {
    std::cout << statusJson(*kernel, common.pinDir, cgroup, programs).dump(2) << "\n";
  } else {
    std::cout << statusText(*kernel, common.pinDir, cgroup, programs);
  }
  return 0;
}

int cmdRun(const CommonOptions& common, const std::string& configFile, bool kubernetes) {
  if (kubernetes) {
    spdlog::error("--kubernetes is not implemented yet; use --config FILE");
    return 1;
  }
  warnUnimplemented(common);
  // Watching first: a change made while the agent starts is not missed.
  FileWatch watch(configFile);
  // Start from a valid file: an agent that cannot read its config at start
  // should fail visibly, not serve an empty table.
  auto text = readTextFile(configFile);
  if (!text) return failed(text.error());
  auto want = desiredFromText(common, *text, configFile);
  if (!want) return failed(want.error());
  // A (re)started agent loads its own programs and swaps them into the
  // existing links: upgrades take effect without dropping a connection.
  auto dp = loader::Datapath::attach({common.pinDir, common.cgroup, true, common.without});
  if (!dp) return failed(dp.error());
  auto plan = reconcile(*dp, common.pinDir, *want);
  if (!plan) return failed(plan.error());
  printSummary(configFile, *want, *plan);
  spdlog::info("following {}", configFile);
  // What is applied is what was compared: the file is read once per change.
  // A failed kernel update is retried (the node must not stay half-updated);
  // a bad file is reported once and waits for the next change.
  Result<std::string> seen = std::move(text);
  bool retry = false;
  for (;;) {
    auto event = watch.next(retry ? 5000 : -1);
    if (event == FileWatch::Event::kStop) break;
    auto now = readTextFile(configFile);
    bool same = now.has_value() == seen.has_value() && (!now || *now == *seen);
    if (event != FileWatch::Event::kReload && !retry && same) continue;
    retry = applyText(*dp, common, configFile, now) == Outcome::kKernelError;
    seen = std::move(now);
  }
  return 0;
}

}  // namespace svcrouter
