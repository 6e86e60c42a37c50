// The kernel's per-service counters in /metrics: read from the table at
// each scrape, one sample per service entry.
#include "userspace/observe/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "maps/table.h"
#include "tests/support/builders.h"
#include "tests/unit/fake_kernel.h"
#include "userspace/core/planner.h"

namespace svcrouter {
namespace {

using builders::desired;
using builders::key;
using builders::service;
using ::testing::HasSubstr;

TEST(Metrics, ServiceCountersPerEntry) {
  fakes::FakeKernel fake;
  maps::Table table(fake);
  auto plan = planUpdate({}, desired({service("web", key("10.96.0.10", 80), {"10.0.0.1"})}));
  ASSERT_TRUE(plan && table.apply(*plan));
  fake.count(1, {.connections = 3, .refused = 1, .packets = 42, .bytes = 4242});
  observe::Metrics metrics;
  metrics.collectFrom(table);
  auto text = metrics.exposition();
  const std::string labels =
      R"({namespace="default",service="web",port_name="",address="10.96.0.10:80/TCP"})";
  EXPECT_THAT(text, HasSubstr("# TYPE svcrouter_service_packets_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE svcrouter_service_bytes_total counter"));
  EXPECT_THAT(text, HasSubstr("svcrouter_service_connections_total" + labels + " 3"));
  EXPECT_THAT(text, HasSubstr("svcrouter_service_packets_total" + labels + " 42"));
  EXPECT_THAT(text, HasSubstr("svcrouter_service_bytes_total" + labels + " 4242"));
}

}  // namespace
}  // namespace svcrouter
