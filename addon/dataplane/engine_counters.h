// Layout of the engine's counter memory (keep in sync with src/dataplane/counters.ts): one uint64
// array shared with TypeScript (a BigUint64Array view): a header, then per worker a block of worker
// counters followed by per-slot counters. Each worker writes only its own block.
#pragma once
#include <cstdint>

namespace mdx {

constexpr uint32_t kHeaderWords = 8;  // magic, version, workers, maxSlots, workerWords, slotWords, 0, 0
constexpr uint64_t kCountersMagic = 0x4d44584345ull;  // "MDXCE"
constexpr uint32_t kWorkerWords = 40;
enum WorkerField : uint32_t {
  kWLoops = 0,
  kWRxFrames = 1,
  kWForwarded = 2,
  kWEgressCopies = 3,
  kWTxDropped = 4,
  kWTableSwaps = 5,
  kWFdbLearned = 6,
  kWDrops = 8,  // kDropCount words: drops by reason
  // Links that come and go (engine_links.cc)
  kWFdErrors = 24,    // EPOLLERR on a ring whose pending error was read and cleared (ENETDOWN: link down)
  kWFdDisarmed = 25,  // fds taken out of the poll set (a persistent error or EPOLLHUP: device gone)
  kWUplinkSwaps = 26, // uplink rings replaced (the uplink device was re-created)
  // Receive (engine_uplink.cc, rx_mode.h)
  kWRxModeSwitches = 27,  // adaptive receive: switches between the V2 and the V3 uplink ring
  kWRxMode = 28,          // the uplink ring the kernel fills now: 2 (V2) or 3 (V3)
  kWSleeps = 29,          // epoll waits that slept (no frame within spinUs)
  kWRxRemaps = 30,        // fanout member order found swapped (after a flap) and fixed
  // Software offloads for egresses without virtio_net_hdr (soft_offload.h)
  kWSoftCsums = 32,      // checksums completed
  kWSoftGsoFrames = 33,  // GSO super-frames segmented
  kWSoftSegments = 34,   // frames those produced
  kWSoftRefused = 35,    // frames that could not be completed (dropped, also in txDropped)
};
constexpr uint32_t kSlotWords = 8;
enum SlotField : uint32_t {
  kSRxPackets = 0,
  kSRxBytes = 1,
  kSTxPackets = 2,
  kSTxBytes = 3,
  kSTxDropped = 4,
  kSRxDropped = 5,
  kSForwarded = 6,
  kSRingDrops = 7,  // kernel ring drops (PACKET_STATISTICS tp_drops) of this slot's RX ring
};

}  // namespace mdx
