// The readers' barrier is what makes the update protocol safe: the table
// clears a retired slot range, deletes a member or a backend only after
// maps::ReaderBarrier::wait() has returned, trusting that no BPF program
// that could still hold the old service entry is running. A barrier that
// does not really wait breaks nothing visible until a reader races an
// update, so it is tested on its own: a BPF program (barrier_test.bpf.c)
// spins inside one run while the barrier is called.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

#include "barrier_test.skel.h"
#include "maps/bpf_map.h"
#include "tests/bpf/bpf_test.h"

namespace svcrouter::bpftest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The barrier under test.
using Barrier = maps::ReaderBarrier;

// How long the spinning run should last: long enough that the runner sees
// it still running after it noticed its start, short enough for a test.
constexpr uint64_t kSpinNs = 150'000'000;
constexpr uint32_t kCalibrationLoops = 1 << 16;
constexpr uint32_t kMaxLoops = 1 << 23;  // bpf_loop's limit

// A .bss variable as the running program last wrote it.
uint32_t load(uint32_t& v) { return std::atomic_ref<uint32_t>(v).load(std::memory_order_acquire); }

template <class D>
long long ms(D d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

// The spin runs in another thread; once it has started, the barrier is
// called here. The control shows the test can tell waiting from not
// waiting: the run must still be going when the barrier is called.
TEST(ReaderBarrier, WaitsForAProgramThatIsRunning) {
  // The spinning run keeps its CPU (preemption is off inside it): the
  // barrier must be called from another one.
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 CPUs";
  SkeletonPtr<barrier_test, barrier_test__destroy> skel(barrier_test__open_and_load());
  ASSERT_TRUE(skel) << "load barrier_test: " << strerror(errno);
  auto* bss = skel->bss;
  const bpf_program* spin = skel->progs.test_spin;

  // Calibrate the spin on this machine.
  bss->test_spin_loops = kCalibrationLoops;
  uint64_t perLoop = std::max<uint64_t>(1, must(runOnce(spin)) / kCalibrationLoops);
  bss->test_spin_loops =
      static_cast<uint32_t>(std::clamp<uint64_t>(kSpinNs / perLoop, kCalibrationLoops, kMaxLoops));
  // On a busy machine this thread may not run again before the spin is
  // over; such a round cannot tell waiting from not waiting, and is tried
  // again (a few times).
  for (int attempt = 1;; ++attempt) {
    bss->test_started = bss->test_finished = 0;
    Result<uint32_t> ran = 0;
    std::thread runner([&] { ran = runOnce(spin); });
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!load(bss->test_started) && Clock::now() < deadline) std::this_thread::yield();
    bool started = load(bss->test_started);
    bool finishedBeforeBarrier = load(bss->test_finished);
    auto t0 = Clock::now();
    auto waited = Barrier{}.wait();
    auto barrierTook = Clock::now() - t0;
    bool finishedAfterBarrier = load(bss->test_finished);
    runner.join();

    ASSERT_TRUE(started) << "the program did not start within 10 s";
    ASSERT_TRUE(ran) << ran.error().message();
    ASSERT_TRUE(waited) << waited.error().message();
    auto runTook = std::chrono::nanoseconds(*ran);
    std::printf("attempt %d: spin: %u loops, %lld ms; the barrier waited %lld ms\n", attempt,
                bss->test_spin_loops, ms(runTook), ms(barrierTook));
    if (finishedBeforeBarrier && attempt < 5) continue;
    EXPECT_FALSE(finishedBeforeBarrier)
        << "control: in 5 attempts, the run was over before the barrier was called, so this "
           "test cannot tell waiting from not waiting (the last spin lasted "
        << ms(runTook) << " ms)";
    EXPECT_TRUE(finishedAfterBarrier)
        << "the barrier returned after " << ms(barrierTook)
        << " ms while a BPF program that started before it was still running";
    return;
  }
}

}  // namespace
}  // namespace svcrouter::bpftest
