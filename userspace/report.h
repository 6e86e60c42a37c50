// What `list` and `stats` show: the kernel's table with names and counters,
// as text for people or JSON for programs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
Result<std::vector<ServiceView>> collectViews(const maps::Table& table);

std::string listText(const std::vector<ServiceView>& views);
std::string statsText(const std::vector<ServiceView>& views);
nlohmann::json listJson(const std::vector<ServiceView>& views);
nlohmann::json statsJson(const std::vector<ServiceView>& views);

}  // namespace svcrouter
