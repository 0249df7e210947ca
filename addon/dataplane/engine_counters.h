// Layout of the engine's counter memory (keep in sync with src/dataplane/counters.ts): one uint64
// array shared with TypeScript (a BigUint64Array view): a header, then per worker a block of worker
// counters followed by per-slot counters. Each worker writes only its own block.
#pragma once
#include <cstdint>

#include "dataplane/frame_parse.h"  // kDropCount

namespace mdx {

constexpr uint32_t kHeaderWords = 8;  // magic, version, workers, maxSlots, workerWords, slotWords, 0, 0
constexpr uint64_t kCountersMagic = 0x4d44584345ull;  // "MDXCE"
constexpr uint32_t kWorkerWords = 48;
enum WorkerField : uint32_t {
  kWLoops = 0,
  kWRxFrames = 1,
  kWForwarded = 2,
  kWEgressCopies = 3,
  kWTxDropped = 4,
  kWTableSwaps = 5,
  kWFdbLearned = 6,
  kWDrops = 8,  // kDropCount words: drops by reason
  // Software offloads for egresses without virtio_net_hdr (soft_offload.h)
  kWSoftCsums = 24,      // checksums completed
  kWSoftGsoFrames = 25,  // GSO super-frames segmented
  kWSoftSegments = 26,   // frames those produced
  kWSoftRefused = 27,    // frames that could not be completed (dropped, also in txDropped)
  // Links that come and go (engine_links.cc)
  kWFdErrors = 32,    // EPOLLERR on a ring whose pending error was read and cleared (ENETDOWN: link down)
  kWFdDisarmed = 33,  // fds taken out of the poll set (a persistent error or EPOLLHUP: device gone)
  kWUplinkSwaps = 34, // uplink rings replaced (the uplink device was re-created)
  // Receive (engine_uplink.cc, rx_mode.h)
  kWRxModeSwitches = 35,  // adaptive receive: switches between the V2 and the V3 uplink ring
  kWRxMode = 36,          // the uplink ring the kernel fills now: 2 (V2) or 3 (V3)
  kWSleeps = 37,          // epoll waits that slept (no frame within spinUs)
  kWRxRemaps = 38,        // fanout member order found swapped (after a flap) and fixed
  kWRxV2Drops = 39,       // kernel drops (tp_drops) of the uplink's V2 ring: it was full
  kWRxV3Drops = 40,       // kernel drops of the uplink's V3 ring
  kWRxRollovers = 41,     // frames the kernel put on the other uplink ring because the selected one was full
  kWSpins = 42,           // loop passes that polled without sleeping and found nothing
};
// One layout: the groups must not overlap and must fit the block (TS reads the indices from
// engineLayout().workerFields, so only this file defines them).
static_assert(kWFdbLearned < kWDrops && kWDrops + kDropCount <= kWSoftCsums, "drop counters overlap");
static_assert(kWSoftRefused < kWFdErrors, "soft-offload counters overlap the link counters");
static_assert(kWSpins < kWorkerWords, "worker counters exceed the worker block");
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
