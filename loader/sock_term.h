// The real maps::SockTerm: closes connected UDP sockets that the socket path
// translated, over the maps pinned under a pin directory. Where the kernel
// has the bpf_sock_destroy() kfunc (6.5), a UDP socket iterator
// (bpf/svcr_sockterm.bpf.c) lists them and destroys the chosen ones; where
// not, sock_diag does both (SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY). Both
// see one network namespace at a time: a pass runs on a thread of its own,
// which enters each namespace that has a process in the programs' cgroup
// (setns: CAP_SYS_ADMIN; without it only the caller's own namespace is
// looked at) and ends there, so the caller's thread never moves.
#pragma once

#include <memory>
#include <string>

#include "maps/error.h"
#include "maps/sock_term.h"

namespace svcrouter::loader {

enum class CloseWith {
  kSockDestroy,  // the kfunc, through a socket iterator (6.5+)
  kSockDiag,     // sock_diag's SOCK_DESTROY
};

class PinnedSockTerm final : public maps::SockTerm {
 public:
  // cgroup: where the socket programs are attached ("": unknown, only our
  // own network namespace is looked at).
  PinnedSockTerm(std::string pinDir, std::string cgroup, CloseWith how);
  ~PinnedSockTerm() override;

  Result<maps::SockTermReport> closeUdp(const Chooser& choose) override;

 private:
  // The iterator object, loaded at the first pass that closes a socket and
  // kept; a load that fails falls back to sock_diag for the life of this
  // object.
  class Iterators;
  std::string pinDir_, cgroup_;
  CloseWith how_;
  std::unique_ptr<Iterators> iterators_;
};

}  // namespace svcrouter::loader
