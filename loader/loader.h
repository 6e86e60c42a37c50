// Loading, adopting, attaching and removing the datapath. The programs'
// maps and cgroup links are pinned under a bpffs directory:
//   PIN_DIR/maps/<map>    PIN_DIR/links/<program>
// so the datapath outlives the agent and a new agent adopts it as it is.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "loader/features.h"
#include "maps/bpf_map.h"
#include "maps/error.h"
#include "maps/table.h"

struct svcr_sock;

namespace svcrouter::loader {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/svcrouter";

struct Options {
  std::string pinDir = kDefaultPinDir;
  // The cgroup v2 directory to attach to. Unset: where the pinned links are
  // attached already, else the host's cgroup v2 root.
  std::optional<std::string> cgroup;
  // Load the programs again and swap them into the existing links (an agent
  // upgrade), even when everything is attached already.
  bool reloadPrograms = false;
  // Features to treat as missing (--without), to exercise the fallbacks.
  std::set<std::string> without;
};

// One attached program, as the kernel reports it.
struct AttachedProgram {
  std::string name;  // svcr_connect4, ...
  uint32_t progId = 0;
  uint64_t cgroupId = 0;
};

// A lock on the pin directory: whoever changes the table holds it exclusive,
// readers (list, stats) shared, so nobody sees half of an update.
Result<maps::Fd> lockPinDir(const std::string& pinDir, bool shared = false);

// The loaded (or adopted) programs and their maps.
class Datapath {
 public:
  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  ~Datapath();

  // Loads and attaches what is missing, adopts what is pinned.
  static Result<Datapath> attach(const Options& options);
  // Opens the pinned maps of an attached datapath; loads and attaches nothing.
  static Result<Datapath> open(const std::string& pinDir);

  maps::Table& table() { return *table_; }
  // Each program's link as pinned (empty when opened without links).
  Result<std::vector<AttachedProgram>> programs() const;
  // The cgroup the programs are attached to ("" when unknown).
  std::string cgroupPath() const;

 private:
  Datapath() = default;
  // attach() once the pin directory exists.
  // wanted: the id of options.cgroup, when given.
  static Result<Datapath> attachIn(const Options& options, const KernelFeatures& features,
                                   std::optional<uint64_t> wanted);
  svcr_sock* skel_ = nullptr;
  std::string pinDir_;
  std::optional<maps::Table> table_;
};

// Detaches every program, unpins every map and link, removes the directory.
// Returns false when there was nothing to unload.
Result<bool> unload(const std::string& pinDir);

}  // namespace svcrouter::loader
