#include "tests/bpf/bpf_test.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>

#include "maps/fd.h"
#include "maps/layout/service.h"

namespace svcrouter::bpftest {

Result<uint32_t> runOnce(const bpf_program* prog) {
  std::array<uint8_t, 64> packet{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(),
              .data_size_in = static_cast<uint32_t>(packet.size()), .repeat = 1);
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
    return fail(std::string("test run of ") + bpf_program__name(prog), errno);
  return opts.duration;
}

namespace {

// Why these tests cannot run here, or nothing: they need root, and the
// kernel must let us load a program (a trivial tc one: r0 = 0; exit).
std::optional<std::string> missingPrivilege() {
  if (geteuid() != 0) return "needs root (BPF_PROG_TEST_RUN)";
  const bpf_insn prog[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  maps::Fd fd(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "svcr_probe", "GPL", prog, 2, nullptr));
  if (!fd.valid() && (errno == EPERM || errno == EACCES)) return "needs root (BPF_PROG_TEST_RUN)";
  return std::nullopt;
}

}  // namespace
}  // namespace svcrouter::bpftest

// Listing (gtest_discover_tests at build time) needs no privilege; running
// does: without it every test is skipped at once, with the reason, and the
// exit code ctest counts as skipped.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!GTEST_FLAG_GET(list_tests)) {
    if (auto why = svcrouter::bpftest::missingPrivilege()) {
      std::printf("SKIP: %s\n", why->c_str());
      return 77;
    }
  }
  return RUN_ALL_TESTS();
}
