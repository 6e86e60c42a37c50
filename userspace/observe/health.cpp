#include "userspace/observe/health.h"

#include <ctime>
#include <nlohmann/json.hpp>

namespace svcrouter::observe {

void Health::queued(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!oldestQueued_) oldestQueued_ = now;
}

void Health::updated(Clock::time_point now) {
  std::lock_guard lock(mu_);
  oldestQueued_.reset();
  failed_ = false;
  lastUpdated_ = now;
}

void Health::failed() {
  std::lock_guard lock(mu_);
  failed_ = true;
}

void Health::setNodeEligible(bool eligible) {
  std::lock_guard lock(mu_);
  nodeEligible_ = eligible;
}

bool Health::healthy(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (failed_) return false;
  // Healthy while starting up, or when nothing has waited too long.
  return !oldestQueued_ || now - *oldestQueued_ < timeout_;
}

std::string Health::body(Clock::time_point lastUpdated, Clock::time_point now, bool withNode,
                         bool healthy) const {
  nlohmann::ordered_json j;
  j["lastUpdated"] = rfc3339(lastUpdated);
  j["currentTime"] = rfc3339(now);
  if (withNode) {
    std::lock_guard lock(mu_);
    j["nodeEligible"] = nodeEligible_;
  }
  j["healthy"] = healthy;
  return j.dump();
}

Health::Answer Health::healthz(Clock::time_point now) const {
  bool eligible;
  std::optional<Clock::time_point> last;
  {
    std::lock_guard lock(mu_);
    eligible = nodeEligible_;
    last = lastUpdated_;
  }
  bool ok = healthy(now) && eligible;
  // As kube-proxy: a healthy answer's lastUpdated is now (older releases
  // reported the last sync loop, which ran even without changes).
  auto lastUpdated = ok ? now : last.value_or(Clock::time_point{});
  return {ok ? 200 : 503, body(lastUpdated, now, true, ok)};
}

Health::Answer Health::livez(Clock::time_point now) const {
  std::optional<Clock::time_point> last;
  {
    std::lock_guard lock(mu_);
    last = lastUpdated_;
  }
  bool ok = healthy(now);
  auto lastUpdated = ok ? now : last.value_or(Clock::time_point{});
  return {ok ? 200 : 503, body(lastUpdated, now, false, ok)};
}

std::string rfc3339(Health::Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", frac);
  return buf;
}

std::optional<Health::Clock::time_point> parseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return std::nullopt;
  long nanos = 0;
  if (*rest == '.') {
    long scale = 100000000;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10)
      if (scale > 0) nanos += (*rest - '0') * scale;
  }
  long offset = 0;  // seconds east of UTC
  if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset = (hh * 3600 + mm * 60) * (*rest == '-' ? -1 : 1);
  } else if (*rest != 'Z' && *rest != 'z') {
    return std::nullopt;
  }
  std::time_t secs = timegm(&tm) - offset;
  // The clock counts nanoseconds in 64 bits, from 1677 to 2262: a time
  // outside (strptime reads years 0 to 9999) is none it can hold.
  constexpr auto kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(Health::Clock::duration::max()).count() - 1;
  if (secs <= -kLimit || secs >= kLimit) return std::nullopt;
  return Health::Clock::time_point(std::chrono::seconds(secs)) + std::chrono::nanoseconds(nanos);
}

}  // namespace svcrouter::observe
