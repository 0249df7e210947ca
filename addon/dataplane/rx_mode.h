// Adaptive receive on the uplink: which of two rings the kernel fills (io/frame_ring.h SetFanoutTarget).
//
// A TPACKET_V2 ring (frame_ring.h) hands over each frame at once (microseconds) but costs ~28% of
// a TPACKET_V3 ring's throughput (per-frame status words bounce between the kernel's and the
// worker's cache); a V3 ring batches whole blocks but a block waits for its retire timer (>= 1 ms)
// unless it fills. So the worker keeps both on the uplink, in one PACKET_FANOUT group of type
// PACKET_FANOUT_CBPF whose program is a single "return k": k selects the member that receives
// every frame. Switching is one setsockopt(PACKET_FANOUT_DATA) (net/packet/af_packet.c,
// fanout_set_data_cbpf: the program is swapped under RCU), so no frame is lost or duplicated; the
// worker drains both rings always, so frames already in the previous ring are still forwarded.
//
// Member indices follow join order, but a device flap unlinks and re-links every member in the
// namespace's socket-list order (packet_notifier -> __fanout_unlink / __fanout_link), which may
// swap them: when frames keep arriving on the ring not selected, the controller flips k.
#pragma once
#include <stdint.h>

namespace mdx {

class RxModeController {
 public:
  enum Mode : uint8_t { kFrames = 2, kBlocks = 3 };
  enum Action : uint8_t { kNone, kSwitch, kRemap };
  // Passes in a row that left frames in the V2 ring after a full batch (kMaxRxFramesPerPoll): the
  // worker is behind; switch to blocks.
  static constexpr int kBehindPasses = 16;
  static constexpr uint64_t kWindowUs = 1000;
  static constexpr int kQuietWindows = 50;  // windows below the down rate before going back to V2
  static constexpr uint64_t kGraceUs = 20000;  // after a switch, leftovers in the old ring are normal
  static constexpr int kMisroutedChecks = 5;   // grace periods in a row with frames only on the other ring

  Mode mode() const { return mode_; }
  uint32_t target() const { return mode_ == kFrames ? v2Index_ : v2Index_ ^ 1u; }
  uint64_t switches() const { return switches_; }

  // One worker pass: frames taken from each ring, whether the V2 drain stopped at its cap.
  Action Pass(int v2Frames, int v3Frames, bool v2Capped, uint64_t nowUs) {
    windowFrames_ += uint64_t(v2Frames + v3Frames);
    // A wrong mapping sends every frame to the other ring: only then (over a whole grace period,
    // after leftovers of a switch) is it remapped.
    if (nowUs - switchedUs_ > kGraceUs) {
      wrong_ += uint64_t(mode_ == kFrames ? v3Frames : v2Frames);
      right_ += uint64_t(mode_ == kFrames ? v2Frames : v3Frames);
      if (nowUs - checkedUs_ > kGraceUs) {
        misrouted_ = wrong_ > 0 && right_ == 0 ? misrouted_ + 1 : 0;
        wrong_ = right_ = 0;
        checkedUs_ = nowUs;
        if (misrouted_ >= kMisroutedChecks) {  // persistent, not a late leftover of a stalled worker
          misrouted_ = 0;
          v2Index_ ^= 1u;
          switchedUs_ = nowUs;
          return kRemap;
        }
      }
    }
    if (mode_ == kFrames) {
      behind_ = v2Capped ? behind_ + 1 : 0;
      if (nowUs - windowStartUs_ >= kWindowUs) EndWindow(nowUs);
      if (behind_ >= kBehindPasses) {
        // The rate at which V2 fell behind (the best recent window) sets the way back.
        upRate_ = lastRate_ > windowFrames_ ? lastRate_ : windowFrames_;
        return Switch(kBlocks, nowUs);
      }
      return kNone;
    }
    if (nowUs - windowStartUs_ >= kWindowUs) {
      const uint64_t windows = (nowUs - windowStartUs_) / kWindowUs;  // an idle worker passes rarely
      EndWindow(nowUs);
      quiet_ = lastRate_ * 10 < upRate_ * 6 ? quiet_ + int(windows) : 0;  // below 60% of the rate V2 could not take
      if (quiet_ >= kQuietWindows) return Switch(kFrames, nowUs);
    }
    return kNone;
  }

 private:
  void EndWindow(uint64_t nowUs) {
    lastRate_ = windowFrames_ * kWindowUs / (nowUs - windowStartUs_ ? nowUs - windowStartUs_ : 1);
    windowFrames_ = 0;
    windowStartUs_ = nowUs;
  }
  Action Switch(Mode m, uint64_t nowUs) {
    mode_ = m;
    behind_ = 0;
    quiet_ = 0;
    switchedUs_ = nowUs;
    switches_++;
    return kSwitch;
  }
  Mode mode_ = kFrames;
  uint32_t v2Index_ = 0;  // the V2 ring joins the group first
  int behind_ = 0, quiet_ = 0, misrouted_ = 0;
  uint64_t windowStartUs_ = 0, windowFrames_ = 0, lastRate_ = 0, upRate_ = 0, switchedUs_ = 0;
  uint64_t switches_ = 0, wrong_ = 0, right_ = 0, checkedUs_ = 0;
};

}  // namespace mdx
