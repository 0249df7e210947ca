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

TEST("rx mode: V2 falling behind switches to V3 blocks (member 1), quiet traffic brings V2 back") {
  RxModeController c;
  uint64_t t = 1000000;
  int sw = 0;
  Run(c, &t, 15 * 20, 20, 128, 0, true, &sw);  // 15 capped passes: not yet
  CHECK_EQ(sw, 0);
  Run(c, &t, 40, 20, 128, 0, true, &sw);
  CHECK_EQ(sw, 1);
  CHECK_EQ(int(c.mode()), int(RxModeController::kBlocks));
  CHECK_EQ(c.target(), 1u);
  // Under load on V3 (blocks of thousands of frames every ms): stays.
  Run(c, &t, 200000, 1000, 0, 4000, false, &sw);
  CHECK_EQ(sw, 1);
  // Traffic falls to a trickle: back to V2 after the quiet windows.
  Run(c, &t, 100000, 1000, 0, 10, false, &sw);
  CHECK_EQ(sw, 2);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
  CHECK_EQ(c.target(), 0u);
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
  // After a flap swapped the member order every frame lands on V3 while V2 is selected.
  Run(c, &t, 200000, 1000, 0, 5, false, nullptr, &rm);
  CHECK_EQ(rm, 1);
  CHECK_EQ(int(c.mode()), int(RxModeController::kFrames));
  CHECK_EQ(c.target(), 1u);  // V2 is member 1 now
}
