// What `list`, `stats` and `conntrack` show: the kernel's table with names
// and counters, and the packet path's flows, as text for people or JSON for
// programs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "loader/features.h"
#include "loader/loader.h"
#include "loader/pins.h"
#include "loader/privileges.h"
#include "maps/conntrack.h"
#include "maps/layout/nat.h"
#include "maps/layout/sock_term.h"
#include "maps/plan.h"
#include "maps/table.h"

namespace svcrouter {

struct BackendView {
  uint32_t id = 0;
  BackendAddr addr;
  uint8_t reason = 0;  // SVCR_REASON_* bits
  uint64_t connections = 0;
  uint64_t packets = 0, bytes = 0;  // the packet path's, as maps::BackendCounters
};

struct ServiceView {
  ServiceKey key;
  ServiceMeta meta;
  ServiceEntry entry;
  maps::ServiceCounters counters;
  std::vector<BackendView> backends;  // in round-robin order
};

// Reads the table and its counters, services sorted by namespace/name/port.
[[nodiscard]] Result<std::vector<ServiceView>> collectViews(const maps::Table& table);

// The packet path's counters (svcr_tc_stats summed over CPUs) and how many
// entries its conntrack map holds.
struct PacketPathView {
  svcr_tc_stats counters{};
  uint64_t conntrackEntries = 0;
  uint64_t conntrackMax = 0;  // the map's size (--conntrack-max)
};

// Reads the packet path's maps pinned under pinDir/maps; nullopt when it is
// not loaded (no --tc-dev was given).
[[nodiscard]] Result<std::optional<PacketPathView>> collectPacketPath(const std::string& pinDir);

// The passes that closed connected UDP sockets whose backend left
// (svcr_sock_term); nullopt when its map is not pinned (a datapath loaded
// by an older svcrouter, until the next apply).
[[nodiscard]] Result<std::optional<svcr_sock_term_stats>> collectSockTerm(
    const std::string& pinDir);
std::string sockTermText(const std::optional<svcr_sock_term_stats>& stats);
nlohmann::json sockTermJson(const std::optional<svcr_sock_term_stats>& stats);

std::string listText(const std::vector<ServiceView>& views);
std::string statsText(const std::vector<ServiceView>& views,
                      const std::optional<PacketPathView>& packetPath);
nlohmann::json listJson(const std::vector<ServiceView>& views);
nlohmann::json statsJson(const std::vector<ServiceView>& views,
                         const std::optional<PacketPathView>& packetPath);

// One flow of the packet path (maps/layout/nat.h: two entries, four with SNAT).
struct FlowView {
  BackendAddr client;               // the protocol is the flow's
  BackendAddr frontend;             // the NodePort, external or load balancer IP
  BackendAddr backend;              // where the flow was balanced to
  std::optional<BackendAddr> snat;  // this node's address and port toward a remote backend
  std::string state;                // TCP: "syn", "established", "closing"; UDP: "udp"
  uint64_t ageSeconds = 0;          // since the flow's first packet
  uint64_t idleSeconds = 0;         // since its last packet, either way
};

// The live flows of the entries at time nowNs (CLOCK_MONOTONIC, the clock of
// bpf_ktime_get_ns), sorted by frontend, then client. A flow whose entry for
// the client's packets is past its timeout is left out: the packet path
// would start a new flow for the next one.
std::vector<FlowView> flowsOf(const maps::ConntrackEntries& entries, uint64_t nowNs);

std::string conntrackText(const std::vector<FlowView>& flows);
nlohmann::json conntrackJson(const std::vector<FlowView>& flows);

// The maps of a loaded datapath for `status`: each one's fill and memory,
// and the service table's memory per service entry and per backend.
struct MapsStatus {
  std::vector<loader::MapUsage> maps;  // entries filled in for arrays the table knows
  uint64_t serviceEntries = 0, backends = 0;
  // By what sizes them: the service entries' maps (--max-services), the
  // backends' (--max-backends, --max-slots), per-connection state (the
  // socket path's translations, affinity, conntrack), and the rest.
  uint64_t serviceBytes = 0, backendBytes = 0, connectionBytes = 0, otherBytes = 0;
};
// From the maps pinned under pinDir and the table they hold.
[[nodiscard]] Result<MapsStatus> collectMapsStatus(const std::string& pinDir,
                                                   const maps::Table& table);

// `status`: the kernel's features, then the datapath under pinDir (its maps
// when it is loaded).
std::string statusText(const loader::KernelFeatures& kernel, const std::string& pinDir,
                       const std::string& cgroup,
                       const std::vector<loader::AttachedProgram>& programs,
                       const std::optional<MapsStatus>& maps);
nlohmann::json statusJson(const loader::KernelFeatures& kernel, const std::string& pinDir,
                          const std::string& cgroup,
                          const std::vector<loader::AttachedProgram>& programs,
                          const std::optional<MapsStatus>& maps);

// A socket the agent (`run`) listens on, with these options.
struct ListenerView {
  std::string name;      // "metrics", "healthz", "health check node ports"
  std::string option;    // the option that sets where: "--metrics-bind-address"
  std::string address;   // "127.0.0.1:10249"; "" when turned off (port 0) or nowhere
  bool exposed = false;  // listens beyond loopback
  // For an exposed one: why (the contract's default, what the option said).
  std::string why;
};

// `status`: what the process needs and holds, the pins' modes, and the
// agent's listeners (appended to statusText / statusJson's keys
// "privileges" and "listeners").
std::string privilegesText(const loader::Privileges& privileges,
                           const std::vector<loader::LoosePin>& loosePins,
                           const std::vector<ListenerView>& listeners);
nlohmann::json privilegesJson(const loader::Privileges& privileges, const std::string& pinDir,
                              const std::vector<loader::LoosePin>& loosePins);
nlohmann::json listenersJson(const std::vector<ListenerView>& listeners);

}  // namespace svcrouter
