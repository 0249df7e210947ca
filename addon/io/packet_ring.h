// One AF_PACKET socket with a TPACKET_V3 RX ring and a (V3, fixed-slot) TX ring, bound to one
// interface, optionally opened inside a network namespace.
//
// Threading: a PacketRing is used by one data-plane thread at a time (RX and TX may be used from
// the same thread; RxDrain and TxPush/Flush touch disjoint state, so one RX thread plus one TX
// thread also works). Counters are single-writer, readable concurrently (see port_counters.h).
//
// Ownership of RX blocks follows libpcap's pcap-linux.c: a block belongs to user space while its
// block_status has TP_STATUS_USER (read with acquire), and is handed back with a release store of
// TP_STATUS_KERNEL. Blocks are consumed strictly in ring order.
#pragma once
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "io/port_counters.h"

#ifndef TP_STATUS_GSO_TCP
#define TP_STATUS_GSO_TCP (1 << 8)
#endif

struct RingOptions {
  std::string ifname, netns;
  uint32_t blockSize = 1 << 20, blockCount = 8, frameSize = 2048, retireTovMs = 2, txFrameSize = 2048,
           txFrameCount = 1024;
  bool rx = true, tx = true, promisc = false, qdiscBypass = false, ignoreOutgoing = true, vnetHdr = false,
       auxVlan = true;
  int fanoutGroup = -1, fanoutMode = 0;  // fanoutMode: PACKET_FANOUT_* value | PACKET_FANOUT_FLAG_* bits
  // Optional classic BPF program, attached before bind() so no frame passes unfiltered.
  std::vector<sock_filter> filter;
};

// An mmap'd ring region; shared so that zero-copy views handed to JavaScript keep it alive after
// the socket is closed (munmap happens when the last holder lets go).
struct RingMapping {
  uint8_t* base = nullptr;
  size_t length = 0;
  ~RingMapping();
  // Swap the ring pages for anonymous zero pages at the same address (MAP_FIXED): views stay
  // valid (they read zeros), and the mapping no longer holds the socket open, so closing the fd
  // really releases it (receive hook, promisc/fanout membership) instead of waiting for GC.
  void Orphan();
};

// A frame as found in an RX block. `frame` points at the Ethernet header (the kernel has removed
// any VLAN tag, see vlanTci); with vnetHdr the 10-byte virtio_net_hdr is at frame - 10.
struct RxFrameInfo {
  uint8_t* frame;
  uint32_t len;      // captured bytes (snaplen)
  uint32_t wireLen;  // original length (tp_len); > len when truncated
  uint32_t vlanTci;  // 0xffffffff = no tag; else TCI | (TPID << 16) when the TPID is known (0 -> 0x8100)
  uint32_t status;   // tp_status bits (TP_STATUS_VLAN_VALID, CSUMNOTREADY, GSO_TCP, ...)
  uint32_t offset;   // frame - mapping base (for zero-copy views)
  uint32_t headroom; // writable bytes before the frame (before the vnet header when present)
  const tpacket3_hdr* hdr;  // the kernel's per-frame header (timestamps tp_sec/tp_nsec, rxhash)
};

class PacketRing {
 public:
  static constexpr uint32_t kNoVlan = 0xffffffffu;
  static constexpr uint32_t kVnetHdrLen = 10;

  // rx and tx both false: a plain bound socket (protocol 0: receives nothing) for SendCopy.
  // 0 or -errno. When failedSyscall is given it receives the step that failed ("socket",
  // "if_nametoindex", "setsockopt(PACKET_RX_RING)", "bind", ...).
  static int Open(const RingOptions& o, std::unique_ptr<PacketRing>* out, const char** failedSyscall = nullptr);
  ~PacketRing();
  PacketRing(const PacketRing&) = delete;
  PacketRing& operator=(const PacketRing&) = delete;

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  const RingOptions& options() const { return opts_; }
  bool hasRx() const { return rxBlockCount_ > 0; }
  bool hasTx() const { return txSlots_ > 0; }

  // ---- RX ----
  // Visit every frame of every ready block (release each block after), at most maxBlocks blocks.
  // fn(const uint8_t* frame, uint32_t len, uint32_t vlanTci /*0xffffffff = none*/, uint32_t status).
  // Returns the number of frames visited.
  template <class F>
  int RxDrain(F&& fn, int maxBlocks);
  // Same, fn(const RxFrameInfo&) (lengths, VLAN, status, the vnet header before the frame).
  template <class F>
  int RxDrainFrames(F&& fn, int maxBlocks);

  // Lower-level block API (used for zero-copy JS batches): index of the next ready block without
  // taking it (-1 if none), take it (advances the cursor), walk it, and give it back.
  int RxPeekBlock() const;
  int RxTakeBlock();
  template <class F>
  int RxWalkBlock(int block, F&& fn);  // fn(const RxFrameInfo&) ; returns frames visited
  void RxReleaseBlock(int block);
  uint32_t rxBlockSize() const { return rxBlockSize_; }
  uint32_t rxBlockCount() const { return rxBlockCount_; }
  uint8_t* rxBlock(int block) const { return map_->base + static_cast<size_t>(block) * rxBlockSize_; }

  // Fold PACKET_STATISTICS (clear-on-read) into counters: rxDrops += tp_drops, freezes += tp_freeze_q_cnt.
  int UpdateKernelStats();
  // SO_ERROR of the socket (positive errno, e.g. ENETDOWN after the device went away), or 0.
  int PendingError();
  // Attach a classic BPF program (SO_ATTACH_FILTER); n == 0 detaches. 0 or -errno.
  int AttachFilter(const sock_filter* insns, uint16_t n);

  // ---- TX ----
  // Copy a frame into the next free TX slot: 0, -EAGAIN when the ring is full, -EMSGSIZE when the
  // frame does not fit a slot or exceeds the interface MTU (+14, +4 more with an inline VLAN tag;
  // counted in txDropped). With vnetHdr a zeroed virtio_net_hdr is written before the frame.
  // The socket has PACKET_LOSS set, so a frame the kernel still refuses is skipped, never a stall.
  int TxPush(const uint8_t* frame, uint32_t len);
  // Same, with an explicit 10-byte virtio_net_hdr (vnetHdr ports only; -EINVAL otherwise).
  int TxPushVnet(const uint8_t* vnetHdr, const uint8_t* frame, uint32_t len);
  // Zero-copy TX: a pointer to the next free slot's frame area (nullptr when full), capacity in *cap.
  // Write the frame (after the vnet header room when vnetHdr) and commit its length.
  uint8_t* TxAcquire(uint32_t* cap);
  void TxCommit(uint32_t len);
  // Send one frame now with sendmsg (a copy; sockets without a TX ring only), after its
  // virtio_net_hdr when the socket has PACKET_VNET_HDR (vnetHdr must then be given). 0 or -errno.
  int SendCopy(const uint8_t* vnetHdr, const uint8_t* frame, uint32_t len);
  // Kick the kernel once (sendto MSG_DONTWAIT) if frames are pending. 0 on success or
  // back-pressure (EAGAIN/ENOBUFS counted in txBackpressure), -errno on a hard error.
  int Flush();
  // Slots the kernel has not finished with (SEND_REQUEST or SENDING).
  uint32_t TxInFlight() const;
  uint32_t txSlots() const { return txSlots_; }
  uint32_t mtu() const { return mtu_; }
  uint32_t txSlotCapacity() const { return txFrameSize_ - kTxDataOffset - (opts_.vnetHdr ? kVnetHdrLen : 0); }

  PortCounters& counters() { return *counters_; }
  std::shared_ptr<PortCounters> sharedCounters() const { return counters_; }
  std::shared_ptr<RingMapping> mapping() const { return map_; }

 private:
  PacketRing() = default;
  static constexpr uint32_t kTxDataOffset = TPACKET3_HDRLEN - sizeof(struct sockaddr_ll);  // 48
  uint8_t* txSlot(uint32_t i) const {
    return txBase_ + static_cast<size_t>(i / txFramesPerBlock_) * txBlockSize_ +
           static_cast<size_t>(i % txFramesPerBlock_) * txFrameSize_;
  }
  bool TxSlotFree(uint8_t* slot);
  bool TxOverMtu(const uint8_t* frame, uint32_t len) const;

  RingOptions opts_;
  int fd_ = -1;
  int ifindex_ = 0;
  std::shared_ptr<RingMapping> map_;
  std::shared_ptr<PortCounters> counters_ = std::make_shared<PortCounters>();
  // RX
  uint32_t rxBlockSize_ = 0, rxBlockCount_ = 0, rxIdx_ = 0;
  // TX
  uint8_t* txBase_ = nullptr;
  uint32_t txBlockSize_ = 0, txFrameSize_ = 0, txFramesPerBlock_ = 1, txSlots_ = 0, txIdx_ = 0;
  int64_t txPendingBytes_ = 0;  // bytes pushed but not yet accepted by a kick
  uint32_t mtu_ = 0;            // interface MTU at open (0 = unknown: no check)
};

// ---------------------------------------------------------------------------------------------
// Inline RX walk (templates).

inline int PacketRing::RxPeekBlock() const {
  if (rxBlockCount_ == 0) return -1;
  auto* bd = reinterpret_cast<tpacket_block_desc*>(rxBlock(rxIdx_));
  uint32_t st = __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
  return (st & TP_STATUS_USER) ? static_cast<int>(rxIdx_) : -1;
}

inline int PacketRing::RxTakeBlock() {
  int b = RxPeekBlock();
  if (b < 0) return -1;
  rxIdx_ = (rxIdx_ + 1) % rxBlockCount_;
  return b;
}

inline void PacketRing::RxReleaseBlock(int block) {
  auto* bd = reinterpret_cast<tpacket_block_desc*>(rxBlock(block));
  __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}

// Per-block tallies of WalkV3Block.
struct RxBlockTally {
  uint64_t pkts = 0, bytes = 0, truncated = 0, malformed = 0, runts = 0;
};

// Visit the frames of one TPACKET_V3 block at base (bsize bytes), trusting nothing in it: every
// offset the kernel (or a corrupted block) wrote is checked against the block before use, and the
// walk stops at the first header that does not fit. vnet: bytes of virtio_net_hdr before each
// frame (0 or 10). mapBase: start of the mapping (RxFrameInfo::offset is relative to it).
template <class F>
int WalkV3Block(uint8_t* base, uint32_t bsize, uint32_t vnet, const uint8_t* mapBase, RxBlockTally* t, F&& fn) {
  auto* bd = reinterpret_cast<tpacket_block_desc*>(base);
  const uint32_t n = bd->hdr.bh1.num_pkts;
  uint32_t off = bd->hdr.bh1.offset_to_first_pkt;
  int visited = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (off < sizeof(tpacket_block_desc) || off > bsize || bsize - off < sizeof(tpacket3_hdr)) {
      t->malformed++;
      break;
    }
    auto* h = reinterpret_cast<tpacket3_hdr*>(base + off);
    const uint32_t snap = h->tp_snaplen, mac = h->tp_mac;
    if (mac < vnet || mac > bsize - off || snap > bsize - off - mac) {
      t->malformed++;
      break;
    }
    if (snap < 14) {
      t->malformed++;
    } else {
      if (snap < h->tp_len) t->truncated++;
      if (h->tp_len < 60) t->runts++;
      RxFrameInfo fi;
      fi.frame = base + off + mac;
      fi.len = snap;
      fi.wireLen = h->tp_len;
      fi.status = h->tp_status;
      if (h->tp_status & TP_STATUS_VLAN_VALID) {
        uint32_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
        fi.vlanTci = (h->hv1.tp_vlan_tci & 0xffff) | (tpid << 16);
      } else {
        fi.vlanTci = PacketRing::kNoVlan;
      }
      fi.offset = static_cast<uint32_t>(fi.frame - mapBase);
      fi.headroom = mac >= TPACKET3_HDRLEN + vnet ? mac - TPACKET3_HDRLEN - vnet : 0;
      fi.hdr = h;
      t->pkts++;
      t->bytes += h->tp_len;
      visited++;
      fn(static_cast<const RxFrameInfo&>(fi));
    }
    if (h->tp_next_offset == 0) break;
    if (h->tp_next_offset > bsize - off) {  // would leave the block (checked again above, without overflow)
      t->malformed++;
      break;
    }
    off += h->tp_next_offset;
  }
  return visited;
}

template <class F>
int PacketRing::RxWalkBlock(int block, F&& fn) {
  uint8_t* base = rxBlock(block);
  auto* bd = reinterpret_cast<tpacket_block_desc*>(base);
  const uint32_t blockStatus = bd->hdr.bh1.block_status;
  RxBlockTally t;
  const int visited = WalkV3Block(base, rxBlockSize_, opts_.vnetHdr ? kVnetHdrLen : 0, map_->base, &t, fn);
  PortCounters& c = *counters_;
  Bump(c.rxPackets, t.pkts);
  Bump(c.rxBytes, t.bytes);
  Bump(c.rxBlocks);
  if (t.truncated) Bump(c.truncated, t.truncated);
  if (t.malformed) Bump(c.malformed, t.malformed);
  if (t.runts) Bump(c.runts, t.runts);
  if (blockStatus & TP_STATUS_LOSING) UpdateKernelStats();
  return visited;
}

template <class F>
int PacketRing::RxDrainFrames(F&& fn, int maxBlocks) {
  int total = 0;
  for (int i = 0; i < maxBlocks; i++) {
    int b = RxTakeBlock();
    if (b < 0) break;
    total += RxWalkBlock(b, fn);
    RxReleaseBlock(b);
  }
  return total;
}

template <class F>
int PacketRing::RxDrain(F&& fn, int maxBlocks) {
  int total = 0;
  for (int i = 0; i < maxBlocks; i++) {
    int b = RxTakeBlock();
    if (b < 0) break;
    total += RxWalkBlock(b, [&](const RxFrameInfo& fi) { fn(static_cast<const uint8_t*>(fi.frame), fi.len, fi.vlanTci, fi.status); });
    RxReleaseBlock(b);
  }
  return total;
}
