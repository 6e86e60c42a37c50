// /healthz and /livez as kube-proxy answers them, with a clock in hand.
#include "userspace/observe/health.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace svcrouter::observe {
namespace {

using namespace std::chrono_literals;
const Health::Clock::time_point t0 = *parseRfc3339("2026-12-01T10:00:00Z");

nlohmann::json body(const Health::Answer& a) { return nlohmann::json::parse(a.body); }

TEST(Health, HealthyWhileStartingAndWhenNothingWaits) {
  Health h(60s);
  EXPECT_EQ(h.healthz(t0).status, 200);
  h.updated(t0);
  auto a = h.healthz(t0 + 10s);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(body(a)["nodeEligible"], true);
  EXPECT_EQ(body(a)["healthy"], true);
  EXPECT_EQ(body(a)["currentTime"], "2026-12-01T10:00:10.000000000Z");
  EXPECT_EQ(body(a)["lastUpdated"], body(a)["currentTime"]);  // as kube-proxy
}

TEST(Health, AChangeWaitingLongerThanTheTimeoutIsUnhealthy) {
  Health h(60s);
  h.updated(t0);
  h.queued(t0 + 1s);
  h.queued(t0 + 30s);  // the oldest counts
  EXPECT_EQ(h.healthz(t0 + 60s).status, 200);
  auto late = h.livez(t0 + 61s);
  EXPECT_EQ(late.status, 503);
  EXPECT_EQ(body(late)["lastUpdated"], "2026-12-01T10:00:00.000000000Z");
  EXPECT_FALSE(body(late).contains("nodeEligible"));  // livez ignores the node
  h.updated(t0 + 62s);
  EXPECT_EQ(h.livez(t0 + 62s).status, 200);
}

TEST(Health, AFailedSyncIsUnhealthyUntilTheNextSucceeds) {
  Health h;
  h.updated(t0);
  h.failed();
  EXPECT_EQ(h.healthz(t0 + 1s).status, 503);
  EXPECT_EQ(h.livez(t0 + 1s).status, 503);
  h.updated(t0 + 2s);
  EXPECT_EQ(h.healthz(t0 + 2s).status, 200);
}

TEST(Health, ANodeBeingDeletedFailsHealthzNotLivez) {
  Health h;
  h.updated(t0);
  h.setNodeEligible(false);
  auto a = h.healthz(t0);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(body(a)["nodeEligible"], false);
  EXPECT_EQ(h.livez(t0).status, 200);
}

TEST(Health, Rfc3339) {
  auto t = parseRfc3339("2026-11-30T10:00:01.5+01:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(rfc3339(*t), "2026-11-30T09:00:01.500000000Z");
  EXPECT_FALSE(parseRfc3339("yesterday"));
  EXPECT_FALSE(parseRfc3339(""));
  // Years the clock cannot hold: its nanoseconds overflowed (found by the
  // values fuzz target).
  EXPECT_FALSE(parseRfc3339("0985-01-01T00:00:00Z"));
  EXPECT_FALSE(parseRfc3339("9999-12-31T23:59:59Z"));
  EXPECT_TRUE(parseRfc3339("2262-01-01T00:00:00Z"));
}

}  // namespace
}  // namespace svcrouter::observe
