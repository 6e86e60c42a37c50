#include "userspace/agent/signals.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace svcrouter {

Signals::Signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

Signals::~Signals() {
  if (fd_ >= 0) close(fd_);
}

std::optional<Signals::Signal> Signals::take() {
  signalfd_siginfo info{};
  if (read(fd_, &info, sizeof(info)) != sizeof(info)) return std::nullopt;
  if (info.ssi_signo == SIGHUP) return Signal::kReload;
  spdlog::info("signal {}: stopping; the datapath keeps serving", info.ssi_signo);
  return Signal::kStop;
}

}  // namespace svcrouter
