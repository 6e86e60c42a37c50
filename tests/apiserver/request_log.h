// The API requests seen so far, for tests to assert on (that lists used
// limit and continue, that watches asked for bookmarks, how long a client
// waited after a 429). Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace apiserver {

class RequestLog {
 public:
  struct Entry {
    std::string method;
    std::string target;  // path and query, as sent
    int status;
    bool watch;
    std::string auth;  // how it authenticated ("token", "cert:CN"), or empty
  };

  void add(Entry entry);
  // [{"method","path","status","watch","auth","ms"}...], ms since the start.
  nlohmann::json toJson() const;
  void clear();

 private:
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::vector<std::pair<Entry, int64_t>> entries_;  // with the time it was seen, in ms
};

}  // namespace apiserver
