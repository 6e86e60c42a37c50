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
#include "loader/sizes.h"
#include "loader/tc.h"
#include "maps/conntrack_gc.h"
#include "maps/error.h"
#include "maps/fd.h"
#include "maps/kernel_maps.h"
#include "maps/sock_term.h"
#include "maps/table.h"

struct svcr_sock;

namespace svcrouter::loader {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/svcrouter";

// What to do with programs that are attached already.
enum class Programs {
  kAdoptAttached,  // keep them when they are the ones this kernel calls for (apply)
  kSwapIn,         // load ours and swap them into the existing links (an agent upgrade)
};

struct Options {
  std::string pinDir = kDefaultPinDir;
  // The cgroup v2 directory to attach to. Unset: where the pinned links are
  // attached already, else the host's cgroup v2 root.
  std::optional<std::string> cgroup;
  Programs programs = Programs::kAdoptAttached;
  // Features to treat as missing (--without), to exercise the fallbacks.
  std::set<std::string> without;
  // The packet path: none when no device is given (what is attached stays).
  TcOptions tc;
  // The maps' sizes when they are created; pinned maps keep theirs.
  MapSizes sizes;
};

// One attached program, as the kernel reports it.
struct AttachedProgram {
  std::string name;  // svcr_connect4, ...
  uint32_t progId = 0;
  uint64_t cgroupId = 0;
};

// What attach() can do before the input it serves has been validated,
// done by Datapath::preload(): the kernel's features probed and, where
// nothing is pinned yet, the programs loaded with their maps created but
// nothing pinned or attached, so that nobody sees them and dropping them
// leaves nothing behind. A first load is much of a first apply's time: it
// goes on while the manifest is read.
class Preloaded {
 public:
  Preloaded() = default;
  Preloaded(Preloaded&& o) noexcept;
  Preloaded& operator=(Preloaded&& o) noexcept;
  Preloaded(const Preloaded&) = delete;
  Preloaded& operator=(const Preloaded&) = delete;
  ~Preloaded();  // destroys what attach() did not take

 private:
  friend class Datapath;
  std::optional<KernelFeatures> features_;  // unset when probing failed (attach says why)
  svcr_sock* skel_ = nullptr;               // loaded, unpinned; null when something was pinned
};

// The loaded (or adopted) programs and their maps.
class Datapath {
 public:
  Datapath(Datapath&&) noexcept;
  Datapath& operator=(Datapath&&) noexcept;
  ~Datapath();

  // The part of attach(options) that changes nothing anyone sees; any
  // thread. Failures are left for attach() to meet (and report) itself.
  static Preloaded preload(const Options& options);
  // Loads and attaches what is missing, adopts what is pinned. What
  // `preloaded` holds is used when the pin directory is still as
  // preload() found it.
  static Result<Datapath> attach(const Options& options, Preloaded preloaded = {});
  // Opens the pinned maps of an attached datapath; loads and attaches nothing.
  static Result<Datapath> open(const std::string& pinDir);

  // The service table in the pinned maps; its lock is the pin directory's.
  maps::Table& table() { return *table_; }
  // The packet path's conntrack sweep over the maps pinned here; it finds
  // nothing to sweep while the packet path is not loaded.
  std::unique_ptr<maps::ConntrackGc> conntrackGc() const;
  // Closes connected UDP sockets of the socket path (loader/sock_term.h):
  // with bpf_sock_destroy() where the kernel has it and --without did not
  // turn it off, else through sock_diag.
  std::unique_ptr<maps::SockTerm> sockTerm() const;
  // Each program's link as pinned (empty when opened without links).
  Result<std::vector<AttachedProgram>> programs() const;
  // The cgroup the programs are attached to ("" when unknown).
  std::string cgroupPath() const;

 private:
  Datapath() = default;
  // attach() once the pin directory exists.
  // wanted: the id of options.cgroup, when given.
  // preloaded: a skeleton loaded unpinned by preload(), or null.
  static Result<Datapath> attachIn(const Options& options, const KernelFeatures& features,
                                   std::optional<uint64_t> wanted, svcr_sock* preloaded);
  // table_ from the skeleton's maps, once they are open.
  Result<void> openTable();

  svcr_sock* skel_ = nullptr;
  std::string pinDir_;
  std::optional<KernelFeatures> features_;  // as attach() probed them
  std::unique_ptr<maps::KernelMaps> maps_;  // on the heap: table_ points at it
  std::optional<maps::Table> table_;
};

// Detaches every program, unpins every map and link, removes the directory.
// Returns false when there was nothing to unload.
Result<bool> unload(const std::string& pinDir);

}  // namespace svcrouter::loader
