// What `list` and `stats` show: the kernel's table with names and counters,
// as text for people or JSON for programs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loader/features.h"
#include "loader/loader.h"
#include "maps/plan.h"
#include "maps/table.h"

namespace svcrouter {

struct BackendView {
  uint32_t id = 0;
  BackendAddr addr;
  uint8_t reason = 0;  // SVCR_REASON_* bits
  uint64_t connections = 0;
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

std::string listText(const std::vector<ServiceView>& views);
std::string statsText(const std::vector<ServiceView>& views);
nlohmann::json listJson(const std::vector<ServiceView>& views);
nlohmann::json statsJson(const std::vector<ServiceView>& views);

// `status`: the kernel's features, then the datapath under pinDir.
std::string statusText(const loader::KernelFeatures& kernel, const std::string& pinDir,
                       const std::string& cgroup,
                       const std::vector<loader::AttachedProgram>& programs);
nlohmann::json statusJson(const loader::KernelFeatures& kernel, const std::string& pinDir,
                          const std::string& cgroup,
                          const std::vector<loader::AttachedProgram>& programs);

}  // namespace svcrouter
