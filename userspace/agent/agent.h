// The agent: follows a source of manifests and keeps the kernel's table
// equal to it. sources -> desired state -> reconciler -> table: this is the
// loop that joins them. It knows the kernel only through maps::Table, so it
// is unit-tested against a fake kernel (tests/unit/agent_test.cpp).
#pragma once

#include <ostream>
#include <string>

#include "maps/error.h"
#include "maps/table.h"
#include "userspace/agent/source.h"
#include "userspace/core/desired.h"

namespace svcrouter {

// Validates a manifest file's content (read from `file`) into the desired
// table, logging what it skips. Nothing in the kernel is touched.
[[nodiscard]] Result<DesiredState> desiredFromManifests(const std::string& text,
                                                        const std::string& file,
                                                        const SelectOptions& select);

class Agent {
 public:
  // What one apply came to.
  enum class Outcome { kApplied, kBadInput, kKernelError };

  struct Options {
    SelectOptions select;
    // A kernel update that failed is tried again after this long: the node
    // must not stay half-updated. A bad input waits for the next change.
    int retryMs = 5000;
    // Print every change of a large update, not the first 20.
    bool listAllChanges = false;
  };

  // Summaries of what was applied go to `out`; problems to the log.
  Agent(maps::Table& table, Options options, std::ostream& out);

  // Makes the table equal to `want` and prints what changed.
  [[nodiscard]] Result<void> apply(const std::string& source, const DesiredState& want);

  // Applies one version of the source's content (an error in reading it is
  // bad input); logs what went wrong and keeps the table as it was.
  Outcome applyText(const std::string& source, const Result<std::string>& text);

  // Follows `source` from `seen`, the content applied last, until it says
  // stop. Applies what it reads once per change; re-applies on reload.
  void follow(ManifestSource& source, Result<std::string> seen);

 private:
  maps::Table& table_;
  Options options_;
  std::ostream& out_;
};

}  // namespace svcrouter
