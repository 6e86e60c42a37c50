// What every part of the loader does with pins: links (cgroup links in
// loader.cpp, tcx links in tc.cpp), and the pin directory's modes.
#pragma once

#include <string>
#include <vector>

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

// The pin directory and its folders (maps, links) are root's alone: 0700,
// and every pin in them 0600. bpffs gives a new pin 0600 less the umask and
// a directory what mkdir asked less the umask; one made by hand, by another
// tool or by an older svcrouter may be looser.
inline constexpr unsigned kPinDirMode = 0700;
inline constexpr unsigned kPinMode = 0600;

// Creates PIN_DIR, PIN_DIR/maps and PIN_DIR/links with kPinDirMode (missing
// parents as mkdir -p would); directories that exist are left as they are.
[[nodiscard]] Result<void> makePinDirs(const std::string& pinDir);

// A directory or pin under the pin directory that others may read or write.
struct LoosePin {
  std::string path;
  unsigned mode = 0;  // its permission bits, as found
  bool directory = false;
};

// Every directory and pin under pinDir (itself included) with a group or
// other permission bit; none when pinDir does not exist.
[[nodiscard]] Result<std::vector<LoosePin>> loosePins(const std::string& pinDir);

// Sets what loosePins() finds to kPinDirMode or kPinMode and returns it
// (as it was), so that the caller can say what it changed.
[[nodiscard]] Result<std::vector<LoosePin>> restrictPins(const std::string& pinDir);

}  // namespace svcrouter::loader
