// Values of the command's options that CLI11 does not parse itself.
#include "userspace/cli/options.h"

#include <gtest/gtest.h>

#include <string>

namespace svcrouter {
namespace {

using std::chrono::milliseconds;

TEST(Options, DurationsAsGoWritesThem) {
  EXPECT_EQ(parseDuration("30s"), milliseconds(30'000));
  EXPECT_EQ(parseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(parseDuration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(parseDuration("2h"), milliseconds(7'200'000));
  EXPECT_EQ(parseDuration("1h2m3s4ms"), milliseconds(3'723'004));
  EXPECT_EQ(parseDuration("0"), milliseconds(0));
  EXPECT_EQ(parseDuration("0s"), milliseconds(0));
  for (const char* bad :
       {"", "s", "30", "30x", "1.5s", "-1s", " 30s", "30s ", "1m 30s", "0x10s", "1234567890s"})
    EXPECT_FALSE(parseDuration(bad)) << bad;
}

// A sum past 64 bits was undefined behaviour, and a long number overflowed
// the stack in std::regex's recursion (svcrouter crashed on the argument);
// the fuzz corpus keeps both (tests/fuzz/corpus/values/regress-duration-*).
TEST(Options, DurationsThatDoNotFitAreRefused) {
  std::string many;
  for (int i = 0; i < 2600; ++i) many += "999999999h";
  EXPECT_FALSE(parseDuration(many));
  EXPECT_FALSE(parseDuration(std::string(100000, '9') + "s"));
  EXPECT_EQ(parseDuration("999999999h"), milliseconds(int64_t{999'999'999} * 3'600'000));
}

}  // namespace
}  // namespace svcrouter
