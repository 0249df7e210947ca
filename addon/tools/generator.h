// Native traffic generator: fills a TX ring from its own thread with frames built from templates.
// Every frame carries the macdemux test payload (see TestPayload) so a Sink can check order,
// loss and latency.
#pragma once
#include <stdint.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/packet_ring.h"

// Test payload, right after the Ethernet header (and after an inline 802.1Q tag when present).
// All fields big-endian. EtherType of generated frames: 0x88b5 (IEEE local experimental).
struct TestPayload {
  static constexpr uint32_t kMagic = 0x4d445831;  // "MDX1"
  static constexpr uint16_t kEtherType = 0x88b5;
  static constexpr uint32_t kSize = 24;           // magic u32, stream u32, seq u64, tx ns u64
  static constexpr uint32_t kOffMagic = 0, kOffStream = 4, kOffSeq = 8, kOffTs = 16;
};

struct GeneratorTemplate {
  uint8_t dst[6];
  uint8_t src[6];
  int vlan = -1;      // VLAN id 0..4095 (tag inserted inline, TPID 0x8100), -1 = untagged
  uint32_t size = 60; // frame size without the VLAN tag and FCS, 60..1514 (or up to the slot size)
};

struct GeneratorOptions {
  RingOptions ring;                    // ifname, netns, qdiscBypass, txFrameSize/Count (rx forced off)
  std::vector<GeneratorTemplate> templates;
  uint64_t ratePps = 0;                // 0 = as fast as possible
  uint64_t count = 0;                  // 0 = unlimited
  uint64_t durationNs = 0;             // 0 = unlimited
  int cpu = -1;
  uint32_t streamBase = 0;             // stream id of template i = streamBase + i
  uint32_t burst = 64;                 // frames per TX kick
};

struct GeneratorStats {
  uint64_t sent = 0, bytes = 0, backpressure = 0, elapsedNs = 0;
  int error = 0;  // positive errno of a hard send error that stopped the generator, else 0
};

class Generator {
 public:
  // Opens the TX ring (in the caller's thread) and starts the sending thread. 0 or -errno.
  // onDone runs on the generator thread once it has finished (after the last frame left the ring).
  static int Start(const GeneratorOptions& o, std::function<void()> onDone, std::unique_ptr<Generator>* out,
                   const char** failedSyscall);
  ~Generator();
  void RequestStop() { stop_.store(true, std::memory_order_release); }
  void Join();
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  GeneratorStats Stats() const;
  std::shared_ptr<PortCounters> sharedCounters() const { return counters_; }
  // After Join: close the TX socket now instead of at destruction.
  void CloseRing() { ring_.reset(); }

 private:
  Generator() = default;
  void Run();

  GeneratorOptions opts_;
  std::unique_ptr<PacketRing> ring_;
  std::shared_ptr<PortCounters> counters_;
  std::vector<std::vector<uint8_t>> frames_;  // built templates
  std::vector<uint32_t> payloadOff_;          // payload offset per template
  std::vector<uint64_t> seq_;                 // next sequence per template
  std::function<void()> onDone_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, finished_{false};
  std::atomic<uint64_t> startNs_{0}, endNs_{0};
  std::atomic<int> error_{0};
};

// Build one template frame (without payload sequence/timestamp). Exposed for tests.
std::vector<uint8_t> BuildTemplateFrame(const GeneratorTemplate& t, uint32_t streamId, uint32_t* payloadOff);
