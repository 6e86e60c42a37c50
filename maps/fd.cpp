#include "maps/fd.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace svcrouter::maps {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

Result<Fd> lockDirectory(const std::string& dir, LockMode mode) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return fail("open " + dir, errno);
  if (flock(fd.get(), mode == LockMode::kShared ? LOCK_SH : LOCK_EX) != 0)
    return fail("lock " + dir, errno);
  return fd;
}

}  // namespace svcrouter::maps
