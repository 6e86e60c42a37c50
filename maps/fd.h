// Owned file descriptors and directory locks: what maps/ and loader/ hold
// open. No libbpf here, so the table's logic builds without it.
#pragma once

#include <string>
#include <utility>

#include "maps/error.h"

namespace svcrouter::maps {

// An owned file descriptor, closed on destruction. Default: none (-1).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Readers (list, stats) share a lock; a writer (apply, the agent, unload)
// holds it alone, so nobody sees half of an update.
enum class LockMode { kShared, kExclusive };

// flock(2) on a directory; released when the returned Fd is closed.
[[nodiscard]] Result<Fd> lockDirectory(const std::string& dir, LockMode mode);

}  // namespace svcrouter::maps
