// The agent's health as kube-proxy's healthz server reports it
// (pkg/proxy/healthcheck/proxy_health.go): unhealthy while a change has
// waited longer than the timeout to be programmed, or while the last
// programming failed in the kernel; /healthz also while this node is being
// deleted. Pure state with a clock passed in: unit-tested.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

namespace svcrouter::observe {

class Health {
 public:
  using Clock = std::chrono::system_clock;
  struct Answer {
    int status;        // 200 or 503
    std::string body;  // JSON
  };

  // kube-proxy's default: twice its 30 s sync period.
  explicit Health(std::chrono::seconds timeout = std::chrono::seconds(60)) : timeout_(timeout) {}

  // A change arrived that is not programmed yet (the oldest one counts).
  void queued(Clock::time_point now);
  // Everything queued is programmed.
  void updated(Clock::time_point now);
  // Programming failed in the kernel: unhealthy until the next update.
  void failed();
  // False while the node is being deleted (or tainted for deletion).
  void setNodeEligible(bool eligible);

  Answer healthz(Clock::time_point now) const;
  Answer livez(Clock::time_point now) const;
  bool healthy(Clock::time_point now) const;

 private:
  std::string body(Clock::time_point lastUpdated, Clock::time_point now, bool withNode,
                   bool healthy) const;

  std::chrono::seconds timeout_;
  mutable std::mutex mu_;
  std::optional<Clock::time_point> lastUpdated_, oldestQueued_;
  bool failed_ = false, nodeEligible_ = true;
};

// RFC 3339 with nanoseconds, in UTC: "2026-12-01T16:00:00.123456789Z".
std::string rfc3339(Health::Clock::time_point t);
// The inverse, for timestamps from the API server; nullopt when malformed.
std::optional<Health::Clock::time_point> parseRfc3339(const std::string& text);

}  // namespace svcrouter::observe
