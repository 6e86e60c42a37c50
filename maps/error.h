// Errors as values: every fallible call in maps/, loader/ and the manifest
// reader returns Result<T>, an std::expected carrying an Error.
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace svcrouter {

// What was being done and, for kernel calls, the errno it failed with.
struct Error {
  std::string what;  // "attach connect4 to /sys/fs/cgroup/x"
  int err = 0;       // positive errno, 0 when not a system error

  std::string message() const {
    if (err == 0) return what;
    return what + ": " + std::strerror(err);
  }
};

template <typename T>
using Result = std::expected<T, Error>;

// The failure value: `return fail("open " + path, errno);`
inline std::unexpected<Error> fail(std::string what, int err = 0) {
  return std::unexpected<Error>(Error{std::move(what), err < 0 ? -err : err});
}

// Evaluates a Result-returning expression; returns its error from the
// enclosing function, or assigns the value to `lhs`.
#define SVCR_CONCAT_INNER(a, b) a##b
#define SVCR_CONCAT(a, b) SVCR_CONCAT_INNER(a, b)
#define SVCR_ASSIGN_OR_RETURN(lhs, expr) \
  SVCR_ASSIGN_OR_RETURN_IMPL(SVCR_CONCAT(svcr_res_, __COUNTER__), lhs, expr)
#define SVCR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)          \
  auto tmp = (expr);                                        \
  if (!tmp) return std::unexpected(std::move(tmp.error())); \
  lhs = std::move(*tmp)
#define SVCR_RETURN_IF_ERROR(expr)                                    \
  do {                                                                \
    auto svcr_r_ = (expr);                                            \
    if (!svcr_r_) return std::unexpected(std::move(svcr_r_.error())); \
  } while (0)

}  // namespace svcrouter
