// The adaptive receive controller (dataplane/rx_mode.h), fed synthetic worker passes.
#include "dataplane/rx_mode.h"

#include "test/harness.h"

using mdx::RxModeController;

namespace {
// Run passes every `stepUs` from *t for `us`, each taking v2/v3 frames (capped: V2 left frames).
RxModeController::Action Run(RxModeController& c, uint64_t* t, uint64_t us, uint64_t stepUs, int v2, int v3,
                             bool capped, int* switches = nullptr, int* remaps = nullptr) {
  RxModeController::Action last = RxModeController::kNone;
  for (uint64_t end = *t + us; *t < end; *t += stepUs) {
    const auto a = c.Pass(v2, v3, capped, *t);
    if (a != RxModeController::kNone) last = a;
    if (a == RxModeController::kSwitch && switches) ++*switches;
    if (a == RxModeController::kRemap && remaps) ++*remaps;
  }
  return last;
}
}  // namespace

TEST("rx mode: starts on V2 (member 0); light traffic keeps it there") {
  RxModeController c;
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
  CHECK_EQ(c.target(), 0u);
  uint64_t t = 1000000;
  int sw = 0, rm = 0;
  Run(c, &t, 500000, 100, 3, 0, false, &sw, &rm);
  CHECK_EQ(sw, 0);
  CHECK_EQ(rm, 0);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
}

TEST("rx mode: V2 behind without a break for kBehindUs switches to V3 (member 1)") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  // 128 frames every 100 us, always capped: 1.28 Mpps that V2 cannot take.
  Run(c, &t, RxModeController::kBehindUs - 200, 100, 128, 0, true, &sw);
  CHECK_EQ(sw, 0);
  Run(c, &t, 300, 100, 128, 0, true, &sw);
  CHECK_EQ(sw, 1);
  CHECK_EQ(int(c.mode()), int(RxModeController::kBlocks));
  CHECK_EQ(c.target(), 1u);
  CHECK(c.downRate() >= 760 && c.downRate() <= 780);  // 60% of the 1280 frames/ms V2 could not take
}

TEST("rx mode: a backlog after the worker was descheduled drains on V2 without switching") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  // 50% load on V2 (a few frames a pass); a 30 ms stall leaves ~15000 frames: ~8 ms of capped
  // passes at the worker's speed, then light passes again. The old count of 16 passes switched here.
  for (int stall = 0; stall < 20; stall++) {
    Run(c, &t, 100000, 20, 10, 0, false, &sw);
    t += 30000;
    Run(c, &t, 8000, 40, 128, 0, true, &sw);
    Run(c, &t, 2000, 20, 40, 3, false, &sw);  // rolled-over frames in V3 blocks retired late
  }
  CHECK_EQ(sw, 0);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
}

TEST("rx mode: behind for a while, a break, behind again: the timer starts over") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  for (int i = 0; i < 50; i++) {
    Run(c, &t, RxModeController::kBehindUs / 2, 100, 128, 0, true, &sw);
    Run(c, &t, 100, 100, 5, 0, false, &sw);  // the ring ran empty once
  }
  CHECK_EQ(sw, 0);
}

TEST("rx mode: V3 stays under load and returns to V2 only after kQuietUs below 60% (hysteresis)") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  Run(c, &t, RxModeController::kBehindUs + 1000, 100, 128, 0, true, &sw);  // 1280 frames/ms
  CHECK_EQ(sw, 1);
  // Blocks of 1000 frames every ms (above 768/ms): stays; so does 800/ms.
  Run(c, &t, 200000, 1000, 0, 1000, false, &sw);
  Run(c, &t, 200000, 1000, 0, 800, false, &sw);
  CHECK_EQ(sw, 1);
  // 700/ms (below 60%) for less than kQuietUs, interrupted by a busy ms: stays.
  for (int i = 0; i < 10; i++) {
    Run(c, &t, RxModeController::kQuietUs - 10000, 1000, 0, 700, false, &sw);
    Run(c, &t, 1000, 1000, 0, 1000, false, &sw);
  }
  CHECK_EQ(sw, 1);
  CHECK_EQ(int(c.mode()), int(RxModeController::kBlocks));
  Run(c, &t, RxModeController::kQuietUs + 2000, 1000, 0, 700, false, &sw);
  CHECK_EQ(sw, 2);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
  CHECK_EQ(c.target(), 0u);
}

TEST("rx mode: an idle worker on V3 (rare passes after epoll sleeps) goes back to V2") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  Run(c, &t, RxModeController::kBehindUs + 1000, 100, 128, 0, true, &sw);
  CHECK_EQ(sw, 1);
  Run(c, &t, 1000000, 100000, 0, 0, false, &sw);  // one pass per 100 ms epoll timeout
  CHECK_EQ(sw, 2);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
}

TEST("rx mode: frames only on the other ring for 5 grace periods remaps; leftovers after a switch do not") {
  RxModeController c;
  uint64_t t = 1000000;
  int rm = 0;
  // A stalled worker's leftovers: V3 frames once, V2 frames around them: no remap.
  Run(c, &t, 30000, 1000, 1, 0, false, nullptr, &rm);
  Run(c, &t, 1000, 1000, 0, 50, false, nullptr, &rm);
  Run(c, &t, 100000, 1000, 1, 0, false, nullptr, &rm);
  CHECK_EQ(rm, 0);
  // Rolled-over frames come with frames on the selected ring: no remap.
  Run(c, &t, 200000, 1000, 100, 20, false, nullptr, &rm);
  CHECK_EQ(rm, 0);
  // A starved worker on V3 (the V3 ring full, frames rolled over to V2, drained at the cap, no
  // V3 block retired within a check period): not a swapped order.
  {
    RxModeController d;
    uint64_t u = 1000000;
    int sw = 0, rm2 = 0;
    Run(d, &u, RxModeController::kBehindUs + 1000, 100, 128, 0, true, &sw);
    CHECK_EQ(int(d.mode()), int(RxModeController::kBlocks));
    Run(d, &u, 300000, 100, 128, 0, true, nullptr, &rm2);
    CHECK_EQ(rm2, 0);
    CHECK_EQ(d.target(), 1u);
  }
  // After a flap swapped the member order every frame lands on V3 while V2 is selected.
  Run(c, &t, 200000, 1000, 0, 5, false, nullptr, &rm);
  CHECK_EQ(rm, 1);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
  CHECK_EQ(c.target(), 1u);  // V2 is member 1 now
}
