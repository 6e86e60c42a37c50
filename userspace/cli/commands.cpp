#include "userspace/cli/commands.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "loader/loader.h"
#include "userspace/agent/agent.h"
#include "userspace/agent/file_source.h"
#include "userspace/agent/kube_source.h"
#include "userspace/cli/report.h"
#include "userspace/core/reconciler.h"
#include "userspace/k8s/manifest.h"

namespace svcrouter {
namespace {

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

SelectOptions selectOptions(const CommonOptions& common) {
  return {.nodeName = common.nodeName, .proxyName = common.proxyName, .nodeZone = ""};
}

loader::Options loaderOptions(const CommonOptions& common, loader::Programs programs) {
  return {.pinDir = common.pinDir,
          .cgroup = common.cgroup,
          .programs = programs,
          .without = common.without};
}

// -v lists every change of a large update.
bool listAllChanges() { return spdlog::should_log(spdlog::level::debug); }

enum class Report { kList, kStats };

// Reads the pinned table and prints it as text or JSON.
int showTable(const CommonOptions& common, OutputFormat format, Report report) {
  auto dp = loader::Datapath::open(common.pinDir);
  if (!dp) return failed(dp.error());
  auto lock = dp->table().lock(maps::LockMode::kShared);
  if (!lock) return failed(lock.error());
  auto views = collectViews(dp->table());
  if (!views) return failed(views.error());
  if (format == OutputFormat::kText) {
    std::cout << (report == Report::kStats ? statsText(*views) : listText(*views));
    return 0;
  }
  auto j = report == Report::kStats ? statsJson(*views) : listJson(*views);
  if (report == Report::kList) {
    j["pin_dir"] = common.pinDir;
    j["cgroup"] = dp->cgroupPath();
  }
  std::cout << j.dump(2) << "\n";
  return 0;
}

}  // namespace

int cmdApply(const CommonOptions& common, const std::string& file) {
  warnUnimplemented(common);
  // Nothing in the kernel is touched before the file has fully validated.
  auto text = readTextFile(file);
  if (!text) return failed(text.error());
  auto want = desiredFromManifests(*text, file, selectOptions(common));
  if (!want) return failed(want.error());
  auto dp = loader::Datapath::attach(loaderOptions(common, loader::Programs::kAdoptAttached));
  if (!dp) return failed(dp.error());
  auto plan = reconcile(dp->table(), *want);
  if (!plan) return failed(plan.error());
  std::cout << summarize(file, *want, *plan, listAllChanges()) << std::flush;
  return 0;
}

int cmdList(const CommonOptions& common, OutputFormat format) {
  return showTable(common, format, Report::kList);
}

int cmdStats(const CommonOptions& common, OutputFormat format) {
  return showTable(common, format, Report::kStats);
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

namespace {

// run --kubernetes: the datapath is attached (or adopted) at once and keeps
// serving the pinned table until the first lists have arrived.
int runKubernetes(const CommonOptions& common, const RunOptions& run) {
  auto config = run.kubeconfig.empty() ? inClusterConfig() : loadKubeconfig(run.kubeconfig);
  if (!config) return failed(config.error());
  spdlog::info("API server {} ({}), node {}", config->server, config->source, common.nodeName);
  KubeSource source(*config, {.nodeName = common.nodeName,
                              .proxyName = common.proxyName,
                              .reflector = {}});
  auto dp = loader::Datapath::attach(loaderOptions(common, loader::Programs::kSwapIn));
  if (!dp) return failed(dp.error());
  Agent agent(dp->table(),
              {.select = selectOptions(common), .listAllChanges = listAllChanges()}, std::cout);
  source.start();
  agent.follow(source);
  return 0;
}

}  // namespace

int cmdRun(const CommonOptions& common, const RunOptions& run) {
  warnUnimplemented(common);
  if (run.kubernetes) return runKubernetes(common, run);
  const std::string& configFile = run.configFile;
  FileSource source(configFile);  // watching from here on
  // Start from a valid file: an agent that cannot read its config at start
  // should fail visibly, not serve an empty table.
  auto objects = source.objects();
  if (!objects) return failed(objects.error());
  auto want = desiredState(*objects, selectOptions(common), source.inputCheck());
  if (!want) return failed(want.error());
  // A (re)started agent loads its own programs and swaps them into the
  // existing links: upgrades take effect without dropping a connection.
  auto dp = loader::Datapath::attach(loaderOptions(common, loader::Programs::kSwapIn));
  if (!dp) return failed(dp.error());
  Agent agent(dp->table(),
              {.select = selectOptions(common), .listAllChanges = listAllChanges()}, std::cout);
  if (auto applied = agent.apply(configFile, *want); !applied) return failed(applied.error());
  agent.follow(source);
  return 0;
}

}  // namespace svcrouter
