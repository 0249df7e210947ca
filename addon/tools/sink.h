// Native traffic sink: drains an RX ring on its own thread, counts frames per destination MAC and
// checks the macdemux test payload (generator.h): per-stream loss, reordering, duplicates, and
// one-way latency from the CLOCK_MONOTONIC TX timestamp (same host) into log-linear histograms:
// - latency: TX timestamp -> the kernel's receive timestamp of the frame (SO_TIMESTAMPNS makes the
//   stack stamp skbs when they enter the receiving device; the ring reports it, CLOCK_REALTIME,
//   converted with the REALTIME-MONOTONIC offset). Excludes the ring's block-retire wait.
// - delivery latency: TX timestamp -> the sink thread walking the block (includes that wait).
// Frames without the payload magic are counted in `other` and otherwise ignored.
#pragma once
#include <stdint.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/packet_ring.h"
#include "io/stop_event.h"

struct SinkOptions {
  RingOptions ring;  // ifname, netns, promisc, block geometry (tx forced off)
  int cpu = -1;
};

// Latency histogram: exact below 32 ns, then 32 sub-buckets per power of two (~3% resolution).
class LatencyHistogram {
 public:
  static constexpr int kBuckets = 32 + 59 * 32 + 32;
  void Add(uint64_t ns) { counts_[Bucket(ns)]++; total_++; }
  uint64_t total() const { return total_; }
  uint64_t Percentile(double q) const;  // ns (bucket midpoint); 0 when empty
  void Reset() { *this = LatencyHistogram(); }
  static int Bucket(uint64_t v);
  static uint64_t LowerBound(int idx);

 private:
  uint64_t counts_[kBuckets] = {};
  uint64_t total_ = 0;
};

struct SinkStats {
  uint64_t packets = 0, bytes = 0, lost = 0, reordered = 0, duplicates = 0, malformed = 0, other = 0;
  uint64_t kernelDrops = 0, freezes = 0, truncated = 0;
  uint64_t latencyP50Ns = 0, latencyP99Ns = 0, latencyP999Ns = 0, latencyMaxNs = 0, latencySamples = 0;
  uint64_t deliveryP50Ns = 0, deliveryP99Ns = 0, deliveryP999Ns = 0, deliveryMaxNs = 0;
  std::map<uint64_t, uint64_t> perDst;  // MAC as 48-bit integer -> test frames
  uint32_t streams = 0;
  int error = 0;  // positive errno that stopped the sink thread (device gone), else 0
};

class Sink {
 public:
  static int Open(const SinkOptions& o, std::unique_ptr<Sink>* out, const char** failedSyscall);
  ~Sink();
  void StopAndJoin();  // idempotent
  SinkStats Stats();
  void Reset();
  std::shared_ptr<PortCounters> sharedCounters() const { return counters_; }
  // After StopAndJoin: close the socket now (promisc, receive hook) instead of at destruction.
  void CloseRing() { ring_.reset(); }

 private:
  struct Stream {
    uint64_t expected = 0;   // next sequence number expected
    bool started = false;
    std::vector<uint64_t> seen;  // bitmap window of recently seen sequence numbers (kWindow bits)
  };
  static constexpr uint64_t kWindow = 1 << 16;
  Sink() = default;
  void Run();
  // rxNs: kernel receive time converted to CLOCK_MONOTONIC, or 0 when the frame has no stamp.
  void OnFrame(const uint8_t* f, uint32_t len, uint32_t wireLen, uint64_t nowNs, uint64_t rxNs);
  void WalkBlock(int b);

  SinkOptions opts_;
  std::unique_ptr<PacketRing> ring_;
  std::shared_ptr<PortCounters> counters_;
  StopEvent stop_;
  std::thread thread_;
  std::mutex mu_;  // guards everything below (held by the thread once per drained batch)
  SinkStats st_;
  std::unordered_map<uint32_t, Stream> streams_;
  std::unordered_map<uint64_t, uint64_t> perDst_;
  LatencyHistogram hist_, delivery_;
  uint64_t maxLat_ = 0, maxDelivery_ = 0;
  PortCounters base_;  // ring counters at the last Reset()
};
