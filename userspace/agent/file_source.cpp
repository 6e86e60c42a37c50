#include "userspace/agent/file_source.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string_view>

#include "userspace/k8s/manifest.h"

namespace svcrouter {

FileSource::FileSource(std::string path)
    : path_(std::move(path)), inotify_(inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
  auto dir = std::filesystem::path(path_).parent_path();
  if (inotify_ < 0 ||
      inotify_add_watch(inotify_, dir.empty() ? "." : dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
    spdlog::warn("cannot watch {} ({}): checking it every {} s instead", dir.string(),
                 std::strerror(errno), kPollSec);
    polling_ = true;
  }
}

FileSource::~FileSource() {
  if (inotify_ >= 0) close(inotify_);
}

bool FileSource::reread() {
  auto now = readTextFile(path_);
  size_t digest = now ? std::hash<std::string_view>{}(*now) : 0, size = now ? now->size() : 0;
  bool same = read_ && now.has_value() == text_.has_value() &&
              (!now || (digest == digest_ && size == size_));
  text_ = std::move(now);
  released_ = false;
  digest_ = digest;
  size_ = size;
  read_ = true;
  return !same;
}

Result<Objects> FileSource::objects() {
  if (!read_) reread();
  if (!text_) return std::unexpected(text_.error());
  // Asked again (a retry after a failed kernel update): read it again.
  if (released_) {
    text_ = readTextFile(path_);
    if (!text_) return std::unexpected(text_.error());
  }
  auto objects = parseManifests(*text_, path_);
  text_->clear();
  text_->shrink_to_fit();
  released_ = true;
  return objects;
}

Source::Event FileSource::next(int timeoutMs) {
  using Clock = std::chrono::steady_clock;
  auto deadline = timeoutMs < 0 ? Clock::time_point::max()
                                : Clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    int wait = -1;
    if (deadline != Clock::time_point::max())
      wait = static_cast<int>(std::max<long>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    bool pollTick = polling_ && (wait < 0 || wait > kPollSec * 1000);
    if (pollTick) wait = kPollSec * 1000;
    pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {inotify_, POLLIN, 0}};
    int n = poll(fds, polling_ ? 1 : 2, wait);
    if (n < 0 && errno != EINTR) return Event::kStop;
    if (n > 0 && fds[0].revents) {
      auto sig = signals_.take();
      if (sig == Signals::Signal::kStop) return Event::kStop;
      if (sig == Signals::Signal::kReload) {
        reread();
        return Event::kReload;
      }
      continue;
    }
    if (n > 0 && fds[1].revents) {
      alignas(inotify_event) char buf[4096];
      while (read(inotify_, buf, sizeof(buf)) > 0) {
      }
      if (reread()) return Event::kChanged;
      continue;
    }
    if (n == 0 && pollTick && reread()) return Event::kChanged;
    if (Clock::now() >= deadline) return Event::kTimeout;
  }
}

}  // namespace svcrouter
