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
// The group also has PACKET_FANOUT_FLAG_ROLLOVER (engine_uplink.cc): a frame for a nearly full
// ring goes to the other one. That, not this controller, is what keeps frames when the worker is
// not running (a busy host): a descheduled worker cannot switch anything. So the controller only
// answers "which ring suits the sustained rate":
// - V2 -> V3 when the V2 ring was drained at its per-pass cap (frames left behind) without a
//   break for kBehindUs: the worker cannot keep up on V2. A backlog
//   left by a worker that was descheduled for a while drains within a few milliseconds and does
//   not switch (it did with a count of passes: a 10 ms stall at 50% load was enough, and V3 then
//   added its retire timer to the latency).
// - V3 -> V2 when the rate stays below 60% of the rate V2 could not take (measured over the
//   behind period) for kQuietUs: the gap between the two thresholds is the hysteresis.
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
  static constexpr uint64_t kBehindUs = 20000;  // V2 behind without a break this long: switch to V3
  static constexpr uint64_t kWindowUs = 1000;   // rate windows in V3
  static constexpr uint64_t kQuietUs = 50000;   // V3 below the down rate this long: back to V2
  static constexpr uint64_t kGraceUs = 20000;   // after a switch, leftovers in the old ring are normal
  static constexpr int kMisroutedChecks = 5;    // grace periods in a row with frames only on the other ring

  Mode mode() const { return mode_; }
  uint32_t target() const { return mode_ == kFrames ? v2Index_ : v2Index_ ^ 1u; }
  uint64_t switches() const { return switches_; }
  // Frames per kWindowUs below which V3 goes back to V2 (0 until the first switch to V3).
  uint64_t downRate() const { return upRate_ * 6 / 10; }

  // One worker pass: frames taken from each ring, whether the V2 drain stopped at its cap.
  Action Pass(int v2Frames, int v3Frames, bool v2Capped, uint64_t nowUs) {
    const uint64_t frames = uint64_t(v2Frames + v3Frames);
    if (Misrouted(v2Frames, v3Frames, v2Capped, nowUs)) return kRemap;
    if (mode_ == kFrames) {
      // (Frames rolled over to V3 come with a V2 ring at least 3/4 full: capped drains.)
      if (!v2Capped) {
        behindSinceUs_ = 0;
        return kNone;
      }
      if (behindSinceUs_ == 0) {
        behindSinceUs_ = nowUs;
        behindFrames_ = 0;
      }
      behindFrames_ += frames;
      const uint64_t span = nowUs - behindSinceUs_;
      if (span < kBehindUs) return kNone;
      // The rate V2 could not take (what the worker drained while behind) sets the way back.
      upRate_ = behindFrames_ * kWindowUs / span;
      windowStartUs_ = nowUs;
      windowFrames_ = 0;
      quietSinceUs_ = 0;
      return Switch(kBlocks, nowUs);
    }
    windowFrames_ += frames;
    if (nowUs - windowStartUs_ < kWindowUs) return kNone;
    // An idle worker passes rarely (it sleeps in epoll): the rate is over the whole gap.
    const uint64_t rate = windowFrames_ * kWindowUs / (nowUs - windowStartUs_);
    windowFrames_ = 0;
    windowStartUs_ = nowUs;
    if (rate >= downRate()) {
      quietSinceUs_ = 0;
      return kNone;
    }
    if (quietSinceUs_ == 0) quietSinceUs_ = nowUs;
    if (nowUs - quietSinceUs_ >= kQuietUs) return Switch(kFrames, nowUs);
    return kNone;
  }

 private:
  // A wrong mapping sends every frame to the other ring: only then (over a whole grace period,
  // after leftovers of a switch) is it remapped. Rolled-over frames come with a full selected
  // ring: a check period with a capped V2 drain (a starved worker on a busy host sees V3 full and
  // its frames rolled over to V2) is never counted as misrouted.
  bool Misrouted(int v2Frames, int v3Frames, bool v2Capped, uint64_t nowUs) {
    if (nowUs - switchedUs_ <= kGraceUs) return false;
    if (v2Capped) behindInCheck_ = true;
    wrong_ += uint64_t(mode_ == kFrames ? v3Frames : v2Frames);
    right_ += uint64_t(mode_ == kFrames ? v2Frames : v3Frames);
    if (nowUs - checkedUs_ <= kGraceUs) return false;
    misrouted_ = wrong_ > 0 && right_ == 0 && !behindInCheck_ ? misrouted_ + 1 : 0;
    wrong_ = right_ = 0;
    behindInCheck_ = false;
    checkedUs_ = nowUs;
    if (misrouted_ < kMisroutedChecks) return false;  // persistent, not a late leftover of a stalled worker
    misrouted_ = 0;
    v2Index_ ^= 1u;
    switchedUs_ = nowUs;
    behindSinceUs_ = 0;
    return true;
  }
  Action Switch(Mode m, uint64_t nowUs) {
    mode_ = m;
    behindSinceUs_ = 0;
    switchedUs_ = nowUs;
    switches_++;
    return kSwitch;
  }
  Mode mode_ = kFrames;
  uint32_t v2Index_ = 0;  // the V2 ring joins the group first
  int misrouted_ = 0;
  bool behindInCheck_ = false;
  uint64_t behindSinceUs_ = 0, behindFrames_ = 0;
  uint64_t windowStartUs_ = 0, windowFrames_ = 0, upRate_ = 0, quietSinceUs_ = 0, switchedUs_ = 0;
  uint64_t switches_ = 0, wrong_ = 0, right_ = 0, checkedUs_ = 0;
};

}  // namespace mdx
