#include "userspace/agent/file_source.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "userspace/k8s/manifest.h"

namespace svcrouter {

FileSource::FileSource(std::string path)
    : path_(std::move(path)), inotify_(inotify_init1(IN_CLOEXEC)) {
  auto dir = std::filesystem::path(path_).parent_path();
  if (inotify_ < 0 ||
      inotify_add_watch(inotify_, dir.empty() ? "." : dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
    spdlog::warn("cannot watch {} ({}): checking it every {} s instead", dir.string(),
                 std::strerror(errno), kPollSec);
    polling_ = true;
  }
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signals_ = signalfd(-1, &set, SFD_CLOEXEC);
}

FileSource::~FileSource() {
  if (inotify_ >= 0) close(inotify_);
  if (signals_ >= 0) close(signals_);
}

Result<std::string> FileSource::read() { return readTextFile(path_); }

ManifestSource::Event FileSource::next(int timeoutMs) {
  if (polling_ && (timeoutMs < 0 || timeoutMs > kPollSec * 1000)) timeoutMs = kPollSec * 1000;
  pollfd fds[2] = {{signals_, POLLIN, 0}, {inotify_, POLLIN, 0}};
  int n = poll(fds, polling_ ? 1 : 2, timeoutMs);
  if (n < 0) return errno == EINTR ? Event::kTimeout : Event::kStop;
  if (n == 0) return polling_ ? Event::kMaybeChanged : Event::kTimeout;
  if (fds[0].revents) {
    signalfd_siginfo info{};
    if (::read(signals_, &info, sizeof(info)) != sizeof(info)) return Event::kStop;
    if (info.ssi_signo == SIGHUP) return Event::kReload;
    spdlog::info("signal {}: stopping; the datapath keeps serving", info.ssi_signo);
    return Event::kStop;
  }
  alignas(inotify_event) char buf[4096];
  (void)!::read(inotify_, buf, sizeof(buf));
  return Event::kMaybeChanged;
}

}  // namespace svcrouter
