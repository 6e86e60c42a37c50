#include "request_log.h"

namespace apiserver {

void RequestLog::add(Entry entry) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start_)
                .count();
  std::lock_guard lock(mutex_);
  entries_.emplace_back(std::move(entry), ms);
}

nlohmann::json RequestLog::toJson() const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [e, ms] : entries_) {
    out.push_back({{"method", e.method},
                   {"path", e.target},
                   {"status", e.status},
                   {"watch", e.watch},
                   {"auth", e.auth},
                   {"ms", ms}});
  }
  return out;
}

void RequestLog::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace apiserver
