// The manifest reader, on the path `apply -f` and `run --config` take: a
// file of YAML (or JSON) documents -> Services and EndpointSlices (bare or
// in Lists) -> the desired table -> a plan. Checks that an error names the
// file, that every object read re-validates (objects_json.h), that the
// strict and lenient readings of valid input agree, and that a plan built
// from nothing installs exactly the desired entries.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/objects_json.h"
#include "userspace/core/desired.h"
#include "userspace/core/planner.h"
#include "userspace/k8s/manifest.h"

using namespace svcrouter;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Documents of at most 256 KiB, aliases expanded: the default 64 MiB lets
  // an 8 KB input stand for millions of endpoints, which the checks below
  // would build and plan several times over (seconds an input under ASan).
  YamlLimits limits;
  limits.documentSize = size_t{256} << 10;
  auto objects = parseManifests(text, "fuzz.yaml", limits);
  if (!objects) {
    FUZZ_CHECK(objects.error().what.starts_with("fuzz.yaml: "), objects.error().what);
    return 0;
  }
  fuzz::checkRereads(*objects);

  SelectOptions opts;
  opts.nodeName = "node-a";
  opts.nodeZone = "zone-a";
  opts.nodeIps = {*IpAddr::parse("10.0.0.1"), *IpAddr::parse("fd00::1")};
  auto strict = buildDesiredState(*objects, opts, InputCheck::kStrict);
  auto lenient = buildDesiredState(*objects, opts, InputCheck::kLenient);
  FUZZ_CHECK(lenient, lenient.error().what);  // lenient skips what it cannot serve
  (void)localServices(*objects, opts);
  if (!strict) return 0;
  FUZZ_CHECK(strict->services == lenient->services, "strict and lenient readings differ");

  auto plan = planUpdate(CurrentState{}, *strict);
  if (!plan) return 0;  // more than the maps hold
  size_t added = 0;
  for (const auto& [key, entry] : plan->delta.services) added += entry.has_value();
  FUZZ_CHECK(added == strict->services.size() && plan->delta.services.size() == added,
             "a plan from nothing adds " + std::to_string(added) + " entries for " +
                 std::to_string(strict->services.size()));
  return 0;
}
