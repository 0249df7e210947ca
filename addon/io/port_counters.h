// Per-port counters shared between a data-plane thread (single writer) and TypeScript (reader).
// The struct is plain uint64_t fields so TypeScript can view it as a BigUint64Array over native
// memory without a call; the writer bumps fields with relaxed atomic stores (no lock prefix).
#pragma once
#include <cstddef>
#include <cstdint>

struct PortCounters {
  uint64_t rxPackets = 0;       // frames handed to the consumer
  uint64_t rxBytes = 0;         // their wire length (tp_len), VLAN tag not included
  uint64_t txPackets = 0;       // frames queued to the kernel (TX ring slot filled / tap write ok)
  uint64_t txBytes = 0;
  uint64_t rxDrops = 0;         // kernel tp_drops (ring full), from PACKET_STATISTICS
  uint64_t freezes = 0;         // kernel tp_freeze_q_cnt (V3 queue frozen: a block was held too long)
  uint64_t truncated = 0;       // frames whose snaplen < tp_len (bigger than a ring frame / block)
  uint64_t malformed = 0;       // frames dropped by the port: header out of bounds, shorter than 14 bytes
  uint64_t txBackpressure = 0;  // TX attempts refused for lack of room: ring full, EAGAIN/ENOBUFS on kick
  uint64_t errors = 0;          // other failures (bad TX format, hard send errors, poll errors)
  uint64_t runts = 0;           // frames shorter than 60 bytes (delivered, Ethernet minimum w/o FCS)
  uint64_t kicks = 0;           // sendto() kicks of the TX ring / batched write loops
  uint64_t rxBlocks = 0;        // V3 blocks consumed (rxPackets / rxBlocks = average batch)
  uint64_t txDropped = 0;       // frames the kernel marked TP_STATUS_WRONG_FORMAT or tap writes refused
  uint64_t reserved0 = 0;
  uint64_t reserved1 = 0;
};

// Names in field order, for the TypeScript view (keep in sync with src/io/counters.ts).
static constexpr const char* kPortCounterNames[] = {
    "rxPackets", "rxBytes",        "txPackets", "txBytes", "rxDrops",  "freezes",  "truncated", "malformed",
    "txBackpressure", "errors",    "runts",     "kicks",   "rxBlocks", "txDropped", "reserved0", "reserved1"};
static constexpr size_t kPortCounterCount = sizeof(PortCounters) / sizeof(uint64_t);
static_assert(kPortCounterCount == sizeof(kPortCounterNames) / sizeof(kPortCounterNames[0]), "names");

// Single-writer increment visible to concurrent readers without tearing (x86-64/arm64: plain mov).
inline void Bump(uint64_t& c, uint64_t v = 1) {
  __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
inline uint64_t Read(const uint64_t& c) { return __atomic_load_n(&c, __ATOMIC_RELAXED); }
