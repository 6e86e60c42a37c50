// What the in-kernel tests share (README.md): running a program once with
// BPF_PROG_TEST_RUN, a skeleton that destroys itself, infrastructure errors
// as test failures, desired states in a line, and the main() that skips
// without privileges.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "maps/addr.h"
#include "maps/error.h"
#include "tests/support/builders.h"
#include "userspace/core/desired.h"

namespace svcrouter::bpftest {

// A libbpf skeleton, destroyed (programs and maps closed) with its owner.
template <class Skel, void (*Destroy)(Skel*)>
struct SkeletonDeleter {
  void operator()(Skel* s) const { Destroy(s); }
};
template <class Skel, void (*Destroy)(Skel*)>
using SkeletonPtr = std::unique_ptr<Skel, SkeletonDeleter<Skel, Destroy>>;

// The value of a Result, or an exception that fails the running test with
// the error's message: for the harness's own kernel calls, which are not
// what a test checks but must not fail silently.
template <class T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message());
  return std::move(*r);
}
inline void must(Result<void> r) {
  if (!r) throw std::runtime_error(r.error().message());
}

// Runs a program once (repeat = 1) over a 64-byte zeroed packet; returns
// how long the run took, in ns.
Result<uint32_t> runOnce(const bpf_program* prog);

// Desired states in a line, as every test that plans builds them.
using builders::desired;
using builders::ip;
using builders::key;
using builders::service;

}  // namespace svcrouter::bpftest
