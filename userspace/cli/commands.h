// The svcrouter subcommands: the thin shell over the agent, the reconciler
// and the loader. Each returns the process exit code and prints one clear
// message on failure.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace svcrouter {

struct CommonOptions {
  std::optional<std::string> cgroup;  // --cgroup
  std::string pinDir;                 // --pin-dir
  std::vector<std::string> tcDevs;    // --tc-dev
  std::vector<std::string> nodeIps;   // --node-ip
  std::string nodeName;               // --node-name (default: host name)
  std::string proxyName;              // --proxy-name
  std::set<std::string> without;      // --without: kernel features to treat as missing
};

enum class OutputFormat { kText, kJson };

int cmdApply(const CommonOptions& common, const std::string& file);
int cmdList(const CommonOptions& common, OutputFormat format);
int cmdStats(const CommonOptions& common, OutputFormat format);
int cmdUnload(const CommonOptions& common);
int cmdStatus(const CommonOptions& common, OutputFormat format);
int cmdRun(const CommonOptions& common, const std::string& configFile, bool kubernetes);

}  // namespace svcrouter
