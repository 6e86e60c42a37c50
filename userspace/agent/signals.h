// SIGTERM, SIGINT and SIGHUP as a file descriptor (signalfd), for the
// sources' poll loops: the agent stops or reloads between syncs, never in
// the middle of one.
#pragma once

#include <optional>

namespace svcrouter {

class Signals {
 public:
  enum class Signal { kStop, kReload };

  // Blocks the three signals in the calling thread (and the threads it
  // starts later) so that they arrive only here.
  Signals();
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // The descriptor to poll for POLLIN.
  int fd() const { return fd_; }
  // Reads the pending signal once fd() is readable; nullopt if none.
  std::optional<Signal> take();

 private:
  int fd_ = -1;
};

}  // namespace svcrouter
