#include "userspace/commands.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
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

// Reads and validates a manifest file into the desired table. Nothing in the
// kernel is touched before this has fully succeeded.
Result<DesiredState> desiredFromFile(const CommonOptions& common, const std::string& file) {
  auto start = std::chrono::steady_clock::now();
  SVCR_ASSIGN_OR_RETURN(auto manifests, readManifestFile(file));
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
  for (const auto& c : plan.changes) std::cout << "  " << c << "\n";
  std::cout.flush();
}

// Applies FILE to an attached datapath; logs and keeps the old table on error.
bool applyFile(loader::Datapath& dp, const CommonOptions& common, const std::string& file) {
  auto want = desiredFromFile(common, file);
  if (!want) return failed(want.error()), false;
  auto plan = reconcile(dp, common.pinDir, *want);
  if (!plan) return failed(plan.error()), false;
  printSummary(file, *want, *plan);
  return true;
}

// Blocks until FILE may have changed (true) or a termination signal (false).
class FileWatch {
 public:
  explicit FileWatch(const std::string& file)
      : name_(std::filesystem::path(file).filename()), inotify_(inotify_init1(IN_CLOEXEC)) {
    auto dir = std::filesystem::path(file).parent_path();
    // Watch the directory: editors and ConfigMap updates replace the file.
    inotify_add_watch(inotify_, dir.empty() ? "." : dir.c_str(),
                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_ = signalfd(-1, &set, SFD_CLOEXEC);
  }
  ~FileWatch() {
    close(inotify_);
    close(signals_);
  }

  bool next() {
    for (;;) {
      pollfd fds[2] = {{inotify_, POLLIN, 0}, {signals_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      if (fds[1].revents) {
        signalfd_siginfo info{};
        if (read(signals_, &info, sizeof(info)) != sizeof(info)) return false;
        if (info.ssi_signo == SIGHUP) return true;  // re-read on request
        spdlog::info("signal {}: stopping; the datapath keeps serving", info.ssi_signo);
        return false;
      }
      alignas(inotify_event) char buf[4096];
      ssize_t n = read(inotify_, buf, sizeof(buf));
      bool ours = false;
      for (char* p = buf; n > 0 && p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->len && name_ == ev->name) ours = true;
        p += sizeof(inotify_event) + ev->len;
      }
      if (ours) return true;
    }
  }

 private:
  std::string name_;
  int inotify_, signals_ = -1;
};

}  // namespace

int cmdApply(const CommonOptions& common, const std::string& file) {
  warnUnimplemented(common);
  auto want = desiredFromFile(common, file);
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
  // Start from a valid file: an agent that cannot read its config at start
  // should fail visibly, not serve an empty table.
  auto want = desiredFromFile(common, configFile);
  if (!want) return failed(want.error());
  // A (re)started agent loads its own programs and swaps them into the
  // existing links: upgrades take effect without dropping a connection.
  auto dp = loader::Datapath::attach({common.pinDir, common.cgroup, true, common.without});
  if (!dp) return failed(dp.error());
  FileWatch watch(configFile);
  auto plan = reconcile(*dp, common.pinDir, *want);
  if (!plan) return failed(plan.error());
  printSummary(configFile, *want, *plan);
  spdlog::info("following {}", configFile);
  while (watch.next()) applyFile(*dp, common, configFile);
  return 0;
}

}  // namespace svcrouter
