// svcrouter: an eBPF Kubernetes service router. See README.md.
#include <bpf/libbpf.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <map>
#include <string>

#include "loader/loader.h"
#include "maps/addr.h"
#include "userspace/cli/commands.h"
#include "userspace/cli/options.h"
#include "userspace/core/desired.h"
#include "userspace/dns/config.h"

using namespace svcrouter;

namespace {

// libbpf's own messages go to the log, shown with -v. The loader's errors
// carry what matters (the verifier's log among them).
int libbpfToLog(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;  // every relocation: too much even for -v
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  spdlog::debug("libbpf{}: {}", level == LIBBPF_WARN ? " warning" : "", text);
  return n;
}

// -o/--output for a subcommand that prints text or JSON.
void addOutputOption(CLI::App* sub, std::string& format) {
  sub->add_option("-o,--output", format, "text or json")->check(CLI::IsMember({"text", "json"}));
}

// --conntrack-gc-interval: 0 (off), or from 100 ms (each sweep walks the
// whole map) to a day.
CLI::Validator gcIntervalCheck() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        auto d = parseDuration(text);
        if (!d)
          return "not a duration: '" + text + "' (like 30s, 500ms, 1m30s; 0 turns sweeping off)";
        if (d->count() != 0 && (*d < std::chrono::milliseconds(100) || *d > std::chrono::hours(24)))
          return "'" + text + "' is out of range: from 100ms to 24h, or 0 to turn sweeping off";
        return "";
      },
      "DURATION");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svcrouter: routes Kubernetes Services with eBPF, without kube-proxy"};
  app.require_subcommand(1);
  app.fallthrough();  // common options may follow the subcommand

  CommonOptions common;
  common.pinDir = loader::kDefaultPinDir;
  // As kubelet names its node: the host name, lowercased.
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  for (char* c = host; *c; ++c)
    *c = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  common.nodeName = host;
  // In a DaemonSet the downward API names the node.
  if (const char* env = std::getenv("NODE_NAME"); env && *env) common.nodeName = env;
  bool verbose = false;
  app.add_option(
      "--cgroup", common.cgroup,
      "cgroup v2 directory for the socket programs (default: the host's cgroup v2 root)");
  app.add_option("--pin-dir", common.pinDir, "bpffs directory for maps and links")
      ->capture_default_str();
  // Repeatable: one value per use, so a following subcommand is not taken as a value.
  app.add_option("--tc-dev", common.tcDevs, "interface for the packet path (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--node-ip", common.nodeIps, "this node's address for NodePorts (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(
          [](const std::string& text) {
            return IpAddr::parse(text) ? std::string() : "not an IP address: " + text;
          },
          "IP"));
  app.add_option("--nodeport-addresses", common.nodePortAddresses,
                 "serve NodePorts on the node's addresses in this CIDR (repeatable; IPv4 and IPv6 "
                 "may be mixed), or on the primary node IPs (--node-ip) with \"primary\"")
      ->allow_extra_args(false)
      ->check(CLI::Validator(
          [](const std::string& text) {
            if (text == kNodePortAddressesPrimary) return std::string();
            auto cidr = parseCidr(text);
            return cidr ? std::string() : cidr.error().what;
          },
          "CIDR"));
  // Map sizes: each fixed once loaded; left out, the loaded size stays.
  const std::map<std::string, std::string> sizeHelp = {
      {"--max-services", "service entries (a ClusterIP port is one; a NodePort adds two per node "
                         "address)"},
      {"--max-backends", "distinct backends (address, port, protocol) of all services"},
      {"--max-slots", "backend slots: the backends of every entry, counted per entry, with room "
                      "for the sets an update replaces"},
      {"--conntrack-max", "entries of the packet path's conntrack map (two per flow, four with "
                          "SNAT)"},
      {"--max-sockets", "sockets the socket path remembers a translation of (least recently "
                        "used ones are forgotten: getpeername() then shows the backend)"},
      {"--max-affinity", "ClientIP affinity records (client, service) kept (least recently used "
                         "ones are forgotten)"},
  };
  for (const auto& option : loader::sizeOptions()) {
    app.add_option(option.flag, common.sizes.*option.size,
                   sizeHelp.at(option.flag) + "; fixed once loaded (default " +
                       std::to_string(option.defaultSize) + ", or what is loaded)")
        ->check(CLI::Range(option.min, option.max));
  }
  app.add_option("--node-name", common.nodeName, "this node's name (internalTrafficPolicy: Local)")
      ->capture_default_str();
  app.add_option("--proxy-name", common.proxyName,
                 "serve Services labelled service.kubernetes.io/service-proxy-name=NAME");
  app.add_option("--without", common.without,
                 "treat a kernel feature as missing, to try its fallback (repeatable; see status)")
      ->allow_extra_args(false)
      ->check(CLI::IsMember(loader::optionalFeatureNames()));
  app.add_flag("-v,--verbose", verbose, "log every map operation");

  std::string file, format = "text";
  auto* apply = app.add_subcommand("apply", "make the node's service table equal to FILE");
  apply->add_option("-f,--filename", file, "file of Kubernetes manifests")->required();
  auto* list = app.add_subcommand("list", "show every service and its backends");
  auto* stats = app.add_subcommand(
      "stats", "show connection counters, and the packet path's when it is loaded");
  auto* unload = app.add_subcommand("unload", "detach, unpin, leave nothing behind");
  auto* status = app.add_subcommand("status", "the kernel's features and the datapath's state");
  auto* conntrack = app.add_subcommand(
      "conntrack",
      "show the packet path's tracked flows (--tc-dev); expired ones are left out: the next "
      "packet of such a flow starts a new one");
  bool conntrackGc = false;
  conntrack->add_flag("--gc", conntrackGc,
                      "delete the expired entries and clear the port marks nothing uses, once "
                      "(the agent does it every --conntrack-gc-interval; for apply without one)");
  for (auto* sub : {list, stats, status, conntrack}) addOutputOption(sub, format);
  RunOptions runOptions;
  auto* run = app.add_subcommand("run", "the long-running agent");
  auto* configOpt =
      run->add_option("--config", runOptions.configFile, "file of Kubernetes manifests to follow");
  auto* kubeOpt =
      run->add_flag("--kubernetes", runOptions.kubernetes,
                    "follow the Kubernetes API server (in-cluster unless --kubeconfig)");
  run->add_option("--kubeconfig", runOptions.kubeconfig, "kubeconfig file for --kubernetes")
      ->needs(kubeOpt);
  // status accepts them too, to report where run with the same options listens.
  for (auto* sub : {run, status}) {
    sub->add_option("--metrics-bind-address", runOptions.metricsAddress,
                    "ADDR:PORT for /metrics (port 0: off)")
        ->capture_default_str();
    sub->add_option("--healthz-bind-address", runOptions.healthzAddress,
                    "ADDR:PORT for /healthz and /livez (port 0: off)")
        ->capture_default_str();
  }
  std::string gcInterval = "30s";
  run->add_option("--conntrack-gc-interval", gcInterval,
                  "how often the packet path's expired conntrack entries are deleted (a full "
                  "map refuses new flows); 0: never")
      ->capture_default_str()
      ->check(gcIntervalCheck());
  configOpt->excludes(kubeOpt);
  // The node-local DNS responder; status takes --dns-listen to list it.
  auto dnsAddress = [](std::optional<uint16_t> defaultPort) {
    return CLI::Validator(
        [defaultPort](const std::string& text) {
          auto a = dns::parseSocketAddress(text, defaultPort);
          return a ? std::string() : a.error().what;
        },
        defaultPort ? "ADDR[:PORT]" : "ADDR:PORT");
  };
  for (auto* sub : {run, status})
    sub->add_option("--dns-listen", runOptions.dnsListen,
                    "answer DNS (UDP and TCP) on ADDR:PORT: the cluster's names, and others "
                    "through --dns-upstream (repeatable; default: no DNS)")
        ->allow_extra_args(false)
        ->check(dnsAddress(std::nullopt));
  run->add_option("--cluster-domain", runOptions.clusterDomain,
                  "the cluster's DNS domain: <service>.<namespace>.svc.DOMAIN")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& text) {
            auto d = dns::parseClusterDomain(text);
            return d ? std::string() : d.error().what;
          },
          "DOMAIN"));
  run->add_option("--dns-upstream", runOptions.dnsUpstreams,
                  "forward other names to this server, port 53 unless given (repeatable, tried "
                  "in order; default: the nameservers of /etc/resolv.conf but the responder's "
                  "own)")
      ->allow_extra_args(false)
      ->check(dnsAddress(53));
  std::string dnsTtl = "30s";
  run->add_option("--dns-ttl", dnsTtl,
                  "TTL of the cluster's DNS records (and of their absence), whole seconds: 30, "
                  "30s, 1m; at most 24h")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& text) {
            return parseDnsTtl(text)
                       ? std::string()
                       : "not a TTL: '" + text + "' (whole seconds up to 24h: 30, 30s, 1m)";
          },
          "TTL"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any misuse exits 2, as for `run` below.
    return app.exit(e) == 0 ? 0 : 2;
  }
  // kube-proxy's validation: "primary" is the only value, or CIDRs are.
  if (common.nodePortAddresses.size() > 1 &&
      std::ranges::count(common.nodePortAddresses, kNodePortAddressesPrimary) > 0) {
    std::cerr << "--nodeport-addresses: \"primary\" cannot be given with CIDRs\n";
    return 2;
  }
  if (run->parsed() && runOptions.configFile.empty() && !runOptions.kubernetes) {
    std::cerr << "run: give --config FILE or --kubernetes\n";
    return 2;
  }
  runOptions.conntrackGcInterval = *parseDuration(gcInterval);  // checked above
  runOptions.dnsTtlSeconds = *parseDnsTtl(dnsTtl);              // checked above
  runOptions.clusterDomain = *dns::parseClusterDomain(runOptions.clusterDomain);

  auto logger = spdlog::stderr_color_mt("svcrouter");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  libbpf_set_print(libbpfToLog);

  auto out = format == "json" ? OutputFormat::kJson : OutputFormat::kText;
  try {
    if (apply->parsed()) return cmdApply(common, file);
    if (list->parsed()) return cmdList(common, out);
    if (stats->parsed()) return cmdStats(common, out);
    if (unload->parsed()) return cmdUnload(common);
    if (status->parsed()) return cmdStatus(common, runOptions, out);
    if (conntrack->parsed())
      return conntrackGc ? cmdConntrackGc(common, out) : cmdConntrack(common, out);
    return cmdRun(common, runOptions);
  } catch (const std::exception& e) {
    // Errors are values everywhere; this is the net under what a library throws.
    spdlog::error("{}", e.what());
    return 1;
  }
}
