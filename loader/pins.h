// What every part of the loader does with pinned links (cgroup links in
// loader.cpp, tcx links in tc.cpp).
#pragma once

#include <string>

#include "maps/error.h"

struct bpf_program;

namespace svcrouter::loader {

// Without throwing: a path we may not read simply does not exist for us.
bool exists(const std::string& path);

// Puts prog into the link pinned at path: an upgrade with no moment
// without a program.
[[nodiscard]] Result<void> swapPinnedLink(const std::string& path, bpf_program* prog);

// Detaches the link pinned at path, then unpins it (a pin already gone is
// fine). Explicitly: another process may hold the link open, which would
// keep it attached after the unpin.
[[nodiscard]] Result<void> detachPinnedLink(const std::string& path);

}  // namespace svcrouter::loader
