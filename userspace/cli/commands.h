// The svcrouter subcommands: the thin shell over the agent, the reconciler
// and the loader. Each returns the process exit code and prints one clear
// message on failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "loader/sizes.h"

namespace svcrouter {

struct CommonOptions {
  std::optional<std::string> cgroup;  // --cgroup
  std::string pinDir;                 // --pin-dir
  std::vector<std::string> tcDevs;    // --tc-dev
  std::vector<std::string> nodeIps;   // --node-ip
  // --max-services, --max-backends, --max-slots, --conntrack-max: unset,
  // the loaded maps' sizes (or the defaults when nothing is loaded).
  loader::MapSizes sizes;
  std::string nodeName;               // --node-name (default: $NODE_NAME, then the host name)
  std::string proxyName;              // --proxy-name
  std::set<std::string> without;      // --without: kernel features to treat as missing
  // --nodeport-addresses: CIDRs, or "primary" alone (checked in main.cpp).
  std::vector<std::string> nodePortAddresses;
};

enum class OutputFormat { kText, kJson };

int cmdApply(const CommonOptions& common, const std::string& file);
int cmdList(const CommonOptions& common, OutputFormat format);
int cmdStats(const CommonOptions& common, OutputFormat format);
int cmdUnload(const CommonOptions& common);
// The packet path's live flows; none, and said, when it is not loaded.
int cmdConntrack(const CommonOptions& common, OutputFormat format);
// conntrack --gc: one sweep of the packet path's conntrack, as the agent
// runs every --conntrack-gc-interval (for `apply` without an agent).
int cmdConntrackGc(const CommonOptions& common, OutputFormat format);
// The agent's own options (run).
struct RunOptions {
  std::string configFile;                          // --config
  bool kubernetes = false;                         // --kubernetes
  std::string kubeconfig;                          // --kubeconfig; empty: in-cluster configuration
  std::string metricsAddress = "127.0.0.1:10249";  // --metrics-bind-address; port 0: off
  std::string healthzAddress = "0.0.0.0:10256";    // --healthz-bind-address; port 0: off
  // --conntrack-gc-interval: how often the packet path's conntrack is swept; 0: never.
  std::chrono::milliseconds conntrackGcInterval{30000};
  // The DNS responder: off without --dns-listen (ADDR:PORT, each UDP and TCP).
  std::vector<std::string> dnsListen;
  std::string clusterDomain = "cluster.local";  // --cluster-domain
  // --dns-upstream ADDR[:PORT]; none: the nameservers of /etc/resolv.conf
  // other than the responder itself.
  std::vector<std::string> dnsUpstreams;
  uint32_t dnsTtlSeconds = 30;  // --dns-ttl
};

int cmdRun(const CommonOptions& common, const RunOptions& run);
// The kernel's features and the datapath's state; what the process needs and
// holds; and where `run` with the same options listens.
int cmdStatus(const CommonOptions& common, const RunOptions& run, OutputFormat format);

}  // namespace svcrouter
