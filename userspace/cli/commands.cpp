#include "userspace/cli/commands.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>

#include "loader/cgroup.h"
#include "loader/loader.h"
#include "loader/pins.h"
#include "loader/privileges.h"
#include "userspace/agent/agent.h"
#include "userspace/agent/file_source.h"
#include "userspace/agent/kube_source.h"
#include "userspace/cli/report.h"
#include "userspace/core/conntrack_gc.h"
#include "userspace/core/reconciler.h"
#include "userspace/core/sock_term.h"
#include "userspace/dns/server.h"
#include "userspace/k8s/manifest.h"
#include "userspace/observe/http_server.h"

namespace svcrouter {
namespace {

int failed(const Error& e) {
  spdlog::error("{}", e.message());
  return 1;
}

// --node-ip, checked when the command line was read (main.cpp).
std::vector<IpAddr> nodeIps(const CommonOptions& common) {
  std::vector<IpAddr> ips;
  for (const auto& text : common.nodeIps)
    if (auto a = IpAddr::parse(text)) ips.push_back(*a);
  return ips;
}

// Where NodePorts are served: --node-ip, else the addresses of the
// --tc-dev devices (kube-proxy serves them on the node's addresses); with
// --nodeport-addresses, the node's addresses in those CIDRs ("primary": the
// former, as kube-proxy's primary node IPs). Read once, when the command
// starts.
Result<SelectOptions> selectOptions(const CommonOptions& common) {
  SelectOptions select;
  select.nodeName = common.nodeName;
  select.proxyName = common.proxyName;
  select.nodeIps = nodeIps(common);
  if (select.nodeIps.empty())
    for (const auto& dev : common.tcDevs)
      if (auto own = loader::deviceAddresses(dev))
        select.nodeIps.insert(select.nodeIps.end(), own->begin(), own->end());
  if (common.nodePortAddresses.empty()) return select;
  std::vector<IpCidr> cidrs;
  for (const auto& text : common.nodePortAddresses) {
    if (text == kNodePortAddressesPrimary) {
      cidrs = primaryCidrs(select.nodeIps);
    } else {
      auto cidr = parseCidr(text);
      if (!cidr) return fail("--nodeport-addresses: " + cidr.error().what);
      cidrs.push_back(*cidr);
    }
  }
  SVCR_ASSIGN_OR_RETURN(auto addresses, loader::nodeAddresses());
  select.nodeIps = nodePortAddresses(cidrs, addresses);
  return select;
}

// Where the health check node ports listen: as kube-proxy's service health
// server, on every address unless --nodeport-addresses names CIDRs, then on
// the node's addresses in them (select.nodeIps, from selectOptions) but for
// IPv6 link-local ones (no load balancer probes those). Where kube-proxy
// would listen on every address of a family no CIDR is of, this listens on
// none: narrowed is what the flag asks for.
std::vector<std::string> healthCheckHosts(const CommonOptions& common,
                                          const SelectOptions& select) {
  if (common.nodePortAddresses.empty()) return {"0.0.0.0"};
  std::vector<IpCidr> cidrs;
  for (const auto& text : common.nodePortAddresses) {
    if (text == kNodePortAddressesPrimary) {
      cidrs = primaryCidrs(select.nodeIps);
    } else if (auto cidr = parseCidr(text)) {
      cidrs.push_back(*cidr);
    }
  }
  const IpCidr linkLocal = *parseCidr("fe80::/10");
  std::vector<std::string> hosts;
  for (const auto& ip : select.nodeIps)
    if (!linkLocal.contains(ip) &&
        std::ranges::any_of(cidrs, [&](const IpCidr& c) { return c.contains(ip); }))
      hosts.push_back(ip.str());
  return hosts;
}

bool isLoopback(const std::string& host) {
  if (host == "localhost") return true;
  auto ip = IpAddr::parse(host);
  if (!ip) return false;
  const auto& b = ip->bytes();
  return ip->isV4() ? b[12] == 127 : *ip == *IpAddr::parse("::1");
}

// What `run` listens on with these options, and why where beyond loopback.
std::vector<ListenerView> listeners(const CommonOptions& common, const RunOptions& run,
                                    const SelectOptions& select) {
  std::vector<ListenerView> out;
  auto add = [&out](std::string name, std::string option, const std::string& address,
                    std::string why) {
    ListenerView l{std::move(name), std::move(option), "", false, ""};
    if (auto hp = observe::parseHostPort(address); hp && hp->second != 0) {
      l.address = address;
      l.exposed = !isLoopback(hp->first);
      if (l.exposed) l.why = std::move(why);
    }
    out.push_back(std::move(l));
  };
  const RunOptions defaults;
  add("metrics", "--metrics-bind-address", run.metricsAddress,
      "as --metrics-bind-address says (its default, " + defaults.metricsAddress +
          ", is loopback only)");
  add("healthz", "--healthz-bind-address", run.healthzAddress,
      run.healthzAddress == defaults.healthzAddress
          ? "kube-proxy's default, kept: the kubelet's probes and load balancers reach /healthz "
            "at the node's address"
          : "as --healthz-bind-address says");
  for (const auto& address : run.dnsListen) {
    ListenerView l{"dns", "--dns-listen", "", false, ""};
    if (auto a = dns::parseSocketAddress(address, std::nullopt)) {
      l.address = dns::describe(*a) + " (UDP, TCP)";
      l.exposed = !isLoopback(a->addr.str());
      if (l.exposed)
        l.why =
            "as --dns-listen says: the node's pods and processes ask there (the address "
            "their resolv.conf names)";
    }
    out.push_back(std::move(l));
  }
  const auto hosts = healthCheckHosts(common, select);
  ListenerView hc{"health check node ports", "--nodeport-addresses", "", false, ""};
  for (const auto& h : hosts) {
    hc.address += (hc.address.empty() ? "" : ",") +
                  (h.find(':') == std::string::npos ? h : "[" + h + "]") + ":<healthCheckNodePort>";
    hc.exposed |= !isLoopback(h);
  }
  if (hc.exposed)
    hc.why = std::string(
                 "a LoadBalancer Service's with externalTrafficPolicy: Local: its load "
                 "balancer probes the node there, as kube-proxy serves them, ") +
             (common.nodePortAddresses.empty()
                  ? "on every address (--nodeport-addresses narrows them to the node's "
                    "addresses in those CIDRs)"
                  : "on the node's addresses in --nodeport-addresses");
  out.push_back(std::move(hc));
  return out;
}

// The capabilities needed with these options.
loader::NeedsOptions needsOptions(const CommonOptions& common, const RunOptions& run) {
  loader::NeedsOptions options;
  for (const auto& address : {run.metricsAddress, run.healthzAddress})
    if (auto hp = observe::parseHostPort(address); hp && hp->second > 0 && hp->second < 1024)
      options.privilegedPort = true;
  for (const auto& address : run.dnsListen)
    if (auto a = dns::parseSocketAddress(address, std::nullopt); a && a->port > 0 && a->port < 1024)
      options.privilegedPort = true;
  options.mountBpffs = !loader::onBpffs(common.pinDir);
  return options;
}

loader::Options loaderOptions(const CommonOptions& common, loader::Programs programs) {
  return {.pinDir = common.pinDir,
          .cgroup = common.cgroup,
          .programs = programs,
          .without = common.without,
          .tc = {.devices = common.tcDevs, .nodeIps = nodeIps(common)},
          .sizes = common.sizes};
}

// Milliseconds since `start`, for the debug timings.
double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// -v lists every change of a large update.
bool listAllChanges() { return spdlog::should_log(spdlog::level::debug); }

// After an apply: closes the connected UDP sockets whose backend left its
// service (the table is updated already: a failure here is only logged).
void closeUdpSocketsOnce(loader::Datapath& dp, const DesiredState& want) {
  auto start = std::chrono::steady_clock::now();
  auto closed = closeStaleUdpSockets(dp.table(), want, *dp.sockTerm());
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!closed)
    spdlog::warn("closing UDP sockets whose backend left: {}", closed.error().message());
  else if (closed->closed || closed->failed || closed->skippedNetns)
    std::cout << describe(*closed, ms) << "\n";
  else
    spdlog::debug("{}", describe(*closed, ms));
}

enum class Report { kList, kStats };

// Reads the pinned table and prints it as text or JSON.
int showTable(const CommonOptions& common, OutputFormat format, Report report) {
  auto dp = loader::Datapath::open(common.pinDir);
  if (!dp) return failed(dp.error());
  auto lock = dp->table().lock(maps::LockMode::kShared);
  if (!lock) return failed(lock.error());
  auto views = collectViews(dp->table());
  if (!views) return failed(views.error());
  std::optional<PacketPathView> packetPath;
  std::optional<svcr_sock_term_stats> sockTerm;
  if (report == Report::kStats) {
    auto pp = collectPacketPath(common.pinDir);
    if (!pp) return failed(pp.error());
    packetPath = *pp;
    auto st = collectSockTerm(common.pinDir);
    if (!st) return failed(st.error());
    sockTerm = *st;
  }
  if (format == OutputFormat::kText) {
    std::cout << (report == Report::kStats ? statsText(*views, packetPath) + sockTermText(sockTerm)
                                           : listText(*views));
    return 0;
  }
  auto j = report == Report::kStats ? statsJson(*views, packetPath) : listJson(*views);
  if (report == Report::kStats) j["udp_socket_termination"] = sockTermJson(sockTerm);
  if (report == Report::kList) {
    j["pin_dir"] = common.pinDir;
    j["cgroup"] = dp->cgroupPath();
  }
  std::cout << j.dump(2) << "\n";
  return 0;
}

}  // namespace

int cmdApply(const CommonOptions& common, const std::string& file) {
  // Nothing in the kernel is touched before the file has fully validated.
  auto text = readTextFile(file);
  if (!text) return failed(text.error());
  auto select = selectOptions(common);
  if (!select) return failed(select.error());
  const auto options = loaderOptions(common, loader::Programs::kAdoptAttached);
  // A first load is much of a first apply: it is prepared (nothing pinned,
  // nothing attached) while the file is read.
  auto start = std::chrono::steady_clock::now();
  auto preloading = std::async(std::launch::async, [&] {
    auto preloaded = loader::Datapath::preload(options);
    spdlog::debug("preloaded in {:.1f} ms", msSince(start));
    return preloaded;
  });
  auto want = desiredFromManifests(*text, file, *select);
  text->clear();
  text->shrink_to_fit();
  auto preloaded = preloading.get();
  if (!want) return failed(want.error());
  start = std::chrono::steady_clock::now();
  auto dp = loader::Datapath::attach(options, std::move(preloaded));
  if (!dp) return failed(dp.error());
  spdlog::debug("loaded and attached in {:.1f} ms", msSince(start));
  // One change and out: no state kept in memory for a next plan.
  dp->table().keepState(false);
  auto plan = reconcile(dp->table(), *want);
  if (!plan) return failed(plan.error());
  std::cout << summarize(file, *want, *plan, listAllChanges()) << std::flush;
  closeUdpSocketsOnce(*dp, *want);
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

int cmdStatus(const CommonOptions& common, const RunOptions& run, OutputFormat format) {
  auto privileges = loader::checkPrivileges(needsOptions(common, run));
  if (!privileges) return failed(privileges.error());
  auto kernel = loader::probeKernel(common.without);
  if (!kernel) {
    // Probing takes privileges too: say which are missing.
    for (const auto& w : privileges->warnings) spdlog::warn("privileges: {}", w);
    return failed(kernel.error());
  }
  auto loose = loader::loosePins(common.pinDir);
  if (!loose) return failed(loose.error());
  auto select = selectOptions(common);
  if (!select) return failed(select.error());
  auto listening = listeners(common, run, *select);
  std::vector<loader::AttachedProgram> programs;
  std::string cgroup;
  std::optional<MapsStatus> maps;
  std::error_code ec;
  if (std::filesystem::exists(common.pinDir + "/maps", ec)) {
    auto dp = loader::Datapath::open(common.pinDir);
    if (!dp) return failed(dp.error());
    auto progs = dp->programs();
    if (!progs) return failed(progs.error());
    programs = *progs;
    cgroup = dp->cgroupPath();
    auto lock = dp->table().lock(maps::LockMode::kShared);
    if (!lock) return failed(lock.error());
    auto m = collectMapsStatus(common.pinDir, dp->table());
    if (!m) return failed(m.error());
    maps = std::move(*m);
  }
  if (format == OutputFormat::kJson) {
    auto j = statusJson(*kernel, common.pinDir, cgroup, programs, maps);
    j["privileges"] = privilegesJson(*privileges, common.pinDir, *loose);
    j["listeners"] = listenersJson(listening);
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << statusText(*kernel, common.pinDir, cgroup, programs, maps)
              << privilegesText(*privileges, *loose, listening);
  }
  return 0;
}

namespace {

std::string notLoaded(const CommonOptions& common) {
  return "the packet path is not loaded (no --tc-dev: nothing pinned at " + common.pinDir +
         "/maps/svcr_ct)";
}

}  // namespace

int cmdConntrack(const CommonOptions& common, OutputFormat format) {
  auto ct = maps::ConntrackMap::pinned(common.pinDir);
  if (!ct) return failed(ct.error());
  std::vector<FlowView> flows;
  if (*ct) {
    auto entries = (*ct)->entries();
    if (!entries) return failed(entries.error());
    // Read after the entries, so that few are newer than now.
    flows = flowsOf(*entries, maps::monotonicNowNs());
  } else {
    std::string note = notLoaded(common) + "; no flows";
    if (format == OutputFormat::kText) {
      std::cout << note << "\n";
      return 0;
    }
    spdlog::info("{}", note);
  }
  if (format == OutputFormat::kJson)
    std::cout << conntrackJson(flows).dump(2) << "\n";
  else
    std::cout << conntrackText(flows);
  return 0;
}

int cmdConntrackGc(const CommonOptions& common, OutputFormat format) {
  auto dp = loader::Datapath::open(common.pinDir);
  if (!dp) return failed(dp.error());
  auto start = std::chrono::steady_clock::now();
  auto swept = sweepConntrack(dp->table(), *dp->conntrackGc());
  if (!swept) return failed(swept.error());
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!*swept) {
    std::string note = notLoaded(common) + "; nothing to sweep";
    if (format == OutputFormat::kJson) {
      spdlog::info("{}", note);
      std::cout << nlohmann::json{{"swept", nullptr}}.dump(2) << "\n";
    } else {
      std::cout << note << "\n";
    }
    return 0;
  }
  const auto& r = **swept;
  if (format == OutputFormat::kJson) {
    std::cout << nlohmann::json{{"swept",
                                 {{"scanned", r.scanned},
                                  {"deleted", r.deleted},
                                  {"entries", r.entries},
                                  {"ports_unmarked", r.portsCleared},
                                  {"milliseconds", ms}}}}
                     .dump(2)
              << "\n";
  } else {
    char line[200];
    snprintf(line, sizeof(line),
             "conntrack: %llu entries scanned, %llu expired deleted, %llu left, %llu ports "
             "unmarked, in %.1f ms\n",
             static_cast<unsigned long long>(r.scanned), static_cast<unsigned long long>(r.deleted),
             static_cast<unsigned long long>(r.entries),
             static_cast<unsigned long long>(r.portsCleared), ms);
    std::cout << line;
  }
  return 0;
}

namespace {

// The agent's operational surface: health, metrics and the health check
// node ports, served while it runs.
struct Surface {
  // healthCheckHosts: where the health check node ports listen.
  explicit Surface(std::vector<std::string> healthCheckHosts)
      : serviceHealth(std::move(healthCheckHosts),
                      [this] { return health.healthy(std::chrono::system_clock::now()); }) {}

  observe::Health health;
  observe::Metrics metrics;
  observe::ServiceHealthServers serviceHealth;
  std::vector<std::unique_ptr<observe::HttpServer>> servers;

  // Starts the servers; port 0 turns one off.
  Result<void> start(const RunOptions& run, const maps::Table& table) {
    metrics.collectFrom(table);
    SVCR_ASSIGN_OR_RETURN(auto m, observe::parseHostPort(run.metricsAddress));
    if (m.second != 0) {
      auto server = std::make_unique<observe::HttpServer>("metrics", m.first, m.second);
      server->route("/metrics", [this] {
        return observe::HttpAnswer{.status = 200,
                                   .contentType = "text/plain; version=0.0.4; charset=utf-8",
                                   .body = metrics.exposition(),
                                   .headers = {}};
      });
      servers.push_back(std::move(server));
    }
    SVCR_ASSIGN_OR_RETURN(auto h, observe::parseHostPort(run.healthzAddress));
    if (h.second != 0) {
      auto server = std::make_unique<observe::HttpServer>("healthz", h.first, h.second);
      auto answer = [](observe::Health::Answer a) {
        return observe::HttpAnswer{
            .status = a.status, .contentType = "application/json", .body = a.body, .headers = {}};
      };
      server->route("/healthz", [this, answer] {
        return answer(health.healthz(std::chrono::system_clock::now()));
      });
      server->route("/livez", [this, answer] {
        return answer(health.livez(std::chrono::system_clock::now()));
      });
      servers.push_back(std::move(server));
    }
    for (auto& server : servers) server->start();
    return {};
  }

  // gc: the packet path's conntrack sweep (Datapath::conntrackGc), and
  // term: the closing of UDP sockets (Datapath::sockTerm), which must
  // outlive the agent.
  Agent::Options agentOptions(const SelectOptions& select, const RunOptions& run,
                              maps::ConntrackGc* gc, maps::SockTerm* term, dns::ZoneBuilder* zone) {
    return {.select = select,
            .retryMs = 5000,
            .listAllChanges = listAllChanges(),
            .health = &health,
            .metrics = &metrics,
            .serviceHealth = &serviceHealth,
            .conntrackGc = gc,
            .conntrackGcInterval = run.conntrackGcInterval,
            .sockTerm = term,
            .dnsZone = zone};
  }
};

// The node-local DNS responder (--dns-listen): its zone, rebuilt by the
// agent at each sync, and its server. Declared before the Surface that
// reads its counters, so that it outlives the metrics server.
struct Dns {
  dns::ZoneHolder zones;
  std::unique_ptr<dns::ZoneBuilder> builder;
  std::unique_ptr<dns::Server> server;

  // Starts serving (cluster names get SERVFAIL until the first sync);
  // nothing without --dns-listen.
  Result<void> start(const RunOptions& run) {
    if (run.dnsListen.empty()) return {};
    dns::ServerOptions options;
    for (const auto& text : run.dnsListen) {
      SVCR_ASSIGN_OR_RETURN(auto a, dns::parseSocketAddress(text, std::nullopt));
      options.listen.push_back(a);
    }
    for (const auto& text : run.dnsUpstreams) {
      SVCR_ASSIGN_OR_RETURN(auto a, dns::parseSocketAddress(text, 53));
      options.upstreams.push_back(a);
    }
    if (run.dnsUpstreams.empty()) {
      auto found = dns::defaultUpstreams("/etc/resolv.conf", options.listen);
      if (found)
        options.upstreams = *found;
      else
        spdlog::warn("DNS: {}", found.error().message());
    }
    options.domain = run.clusterDomain;
    builder = std::make_unique<dns::ZoneBuilder>(
        dns::ZoneOptions{.domain = run.clusterDomain, .ttl = run.dnsTtlSeconds}, zones);
    SVCR_ASSIGN_OR_RETURN(server, dns::Server::start(options, zones));
    std::string listen, upstreams;
    for (const auto& a : server->listening())
      listen += (listen.empty() ? "" : ", ") + dns::describe(a);
    for (const auto& a : options.upstreams)
      upstreams += (upstreams.empty() ? "" : ", ") + dns::describe(a);
    spdlog::info("DNS: answering on {} (UDP and TCP) for {}; other names {}", listen,
                 run.clusterDomain,
                 upstreams.empty() ? "refused (no upstream)" : "forwarded to " + upstreams);
    return {};
  }

  // Its counters on /metrics.
  void report(observe::Metrics& metrics) {
    if (!server) return;
    metrics.collectDnsFrom([s = server.get()] {
      observe::DnsCounts c;
      const auto& stats = s->stats();
      for (size_t t = 0; t < dns::Stats::kTypeSlots; ++t)
        for (size_t r = 0; r < dns::Stats::kRcodeSlots; ++r)
          if (auto n = stats.answeredCount(t, r))
            c.queries.push_back(
                {std::string(dns::Stats::typeLabel(t)), std::string(dns::Stats::rcodeLabel(r)), n});
      c.forwarded = stats.forwardedCount();
      c.cacheHits = stats.cacheHits();
      c.dropped = stats.droppedCount();
      c.truncated = stats.truncatedCount();
      c.cacheEntries = s->cacheEntries();
      for (const auto& u : s->upstreams()) c.upstreams.push_back({u.upstream, u.failures});
      return c;
    });
  }
};

// The agent says at start what it lacks or holds beyond its needs (the
// same as `status`).
void warnOfPrivileges(const CommonOptions& common, const RunOptions& run) {
  auto privileges = loader::checkPrivileges(needsOptions(common, run));
  if (!privileges) {
    spdlog::warn("{}", privileges.error().message());
    return;
  }
  for (const auto& w : privileges->warnings) spdlog::warn("privileges: {}", w);
}

// run --kubernetes: the datapath is attached (or adopted) at once and keeps
// serving the pinned table until the first lists have arrived.
int runKubernetes(const CommonOptions& common, const RunOptions& run) {
  auto select = selectOptions(common);
  if (!select) return failed(select.error());
  auto config = run.kubeconfig.empty() ? inClusterConfig() : loadKubeconfig(run.kubeconfig);
  if (!config) return failed(config.error());
  spdlog::info("API server {} ({}), node {}", config->server, config->source, common.nodeName);
  warnOfPrivileges(common, run);
  Dns dns;
  if (auto started = dns.start(run); !started) return failed(started.error());
  Surface surface(healthCheckHosts(common, *select));
  dns.report(surface.metrics);
  ReflectorOptions reflector;
  reflector.observe = [&surface](const std::string& resource, const std::string& what,
                                 const std::string& cause) {
    if (what == "relist")
      surface.metrics.relist(resource, cause);
    else
      surface.metrics.watchRestart(resource, cause);
  };
  KubeSource source(*config, {.nodeName = common.nodeName,
                              .proxyName = common.proxyName,
                              .reflector = reflector,
                              .metrics = &surface.metrics,
                              .allObjects = dns.server != nullptr});
  auto dp = loader::Datapath::attach(loaderOptions(common, loader::Programs::kSwapIn));
  if (!dp) return failed(dp.error());
  if (auto started = surface.start(run, dp->table()); !started) return failed(started.error());
  auto gc = dp->conntrackGc();
  auto term = dp->sockTerm();
  Agent agent(dp->table(),
              surface.agentOptions(*select, run, gc.get(), term.get(), dns.builder.get()),
              std::cout);
  source.start();
  agent.follow(source);
  return 0;
}

}  // namespace

int cmdRun(const CommonOptions& common, const RunOptions& run) {
  if (run.kubernetes) return runKubernetes(common, run);
  const std::string& configFile = run.configFile;
  FileSource source(configFile);  // watching from here on
  // Start from a valid file: an agent that cannot read its config at start
  // should fail visibly, not serve an empty table.
  auto objects = source.objects();
  if (!objects) return failed(objects.error());
  auto select = selectOptions(common);
  if (!select) return failed(select.error());
  auto want = desiredState(*objects, *select, source.inputCheck());
  if (!want) return failed(want.error());
  // A (re)started agent loads its own programs and swaps them into the
  // existing links: upgrades take effect without dropping a connection.
  warnOfPrivileges(common, run);
  auto dp = loader::Datapath::attach(loaderOptions(common, loader::Programs::kSwapIn));
  if (!dp) return failed(dp.error());
  Dns dns;
  if (auto started = dns.start(run); !started) return failed(started.error());
  Surface surface(healthCheckHosts(common, *select));
  dns.report(surface.metrics);
  if (auto started = surface.start(run, dp->table()); !started) return failed(started.error());
  auto gc = dp->conntrackGc();
  auto term = dp->sockTerm();
  Agent agent(dp->table(),
              surface.agentOptions(*select, run, gc.get(), term.get(), dns.builder.get()),
              std::cout);
  // The objects and table checked above are the first sync's, which lets
  // them go: the agent keeps only its own state while it follows the file.
  if (agent.sync(source, std::move(*objects), std::move(*want)) != Agent::Outcome::kApplied)
    return 1;
  agent.follow(source);
  return 0;
}

}  // namespace svcrouter
