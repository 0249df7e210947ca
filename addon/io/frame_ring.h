// A TPACKET_V2 receive ring: one status word per frame, so every frame is user space's the moment
// the kernel has copied it (no TPACKET_V3 block retire timer, net/packet/af_packet.c
// prb_retire_rx_blk_timer_expired; measured on this project's VM: p50 10 us with poll, 1.6 us
// spinning, against ~0.5 ms for the best V3 setting).
//
// Slots have a fixed size (2 KiB by default: any frame of MTU 1500 plus headers). A larger frame
// (a jumbo or GSO super-frame) does not fit; with PACKET_COPY_THRESH the kernel then writes the
// truncated frame to the slot with TP_STATUS_COPY *and* queues the whole skb on the socket's
// receive queue (net/packet/af_packet.c, tpacket_rcv), where RxDrain reads it with recvmsg, in
// order. So the ring costs slot size x slots of memory, whatever the largest frame.
//
// Ownership as for V3 (packet_ring.h), per frame: a slot is user space's while tp_status has
// TP_STATUS_USER (acquire), handed back with a release store of TP_STATUS_KERNEL.
#pragma once
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "io/packet_ring.h"

struct FrameRingOptions {
  std::string ifname, netns;
  uint32_t slotSize = 2048, slots = 4096;
  uint32_t maxFrame = 65536 + 64;  // receive buffer for frames queued by PACKET_COPY_THRESH
  bool promisc = false, ignoreOutgoing = true, vnetHdr = false;
  int fanoutGroup = -1, fanoutMode = 0;  // as RingOptions
  bool fanoutUniqueId = false;           // let the kernel pick the group id (PACKET_FANOUT_FLAG_UNIQUEID)
  std::vector<sock_filter> filter;       // classic BPF socket filter, attached before bind()
};

// Point a PACKET_FANOUT_CBPF group at member k: its program becomes "return k" (fd: any member).
// The kernel swaps the program under RCU (af_packet.c, fanout_set_data_cbpf): no frame is lost.
int SetFanoutTarget(int fd, uint32_t k);

// Frames the kernel moved from this member to another one because this one's ring was (nearly)
// full (PACKET_FANOUT_FLAG_ROLLOVER; PACKET_ROLLOVER_STATS tp_all, cumulative), or -errno.
int64_t FanoutRollovers(int fd);

class FrameRing {
 public:
  static int Open(const FrameRingOptions& o, std::unique_ptr<FrameRing>* out, const char** failedStep = nullptr);
  ~FrameRing();
  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  // The fanout group id this socket joined (the kernel's choice with fanoutUniqueId), or -1.
  int fanoutId() const { return fanoutId_; }
  bool Ready() const;  // the next slot is user space's

  // Visit ready frames in order, at most maxFrames; fn(const RxFrameInfo&) as PacketRing's
  // RxWalkBlock (hdr is nullptr). Returns frames visited.
  template <class F>
  int RxDrain(F&& fn, int maxFrames);

  int UpdateKernelStats();
  int PendingError();
  PortCounters& counters() { return *counters_; }

 private:
  FrameRing() = default;
  tpacket2_hdr* slot(uint32_t i) const { return reinterpret_cast<tpacket2_hdr*>(base_ + size_t(i) * slotSize_); }
  bool ReadCopy(RxFrameInfo* fi);  // the whole frame of a TP_STATUS_COPY slot, from the socket queue

  FrameRingOptions opts_;
  int fd_ = -1, ifindex_ = 0, fanoutId_ = -1;
  uint8_t* base_ = nullptr;
  size_t length_ = 0;
  uint32_t slotSize_ = 0, slots_ = 0, idx_ = 0;
  std::vector<uint8_t> copyBuf_;
  std::shared_ptr<PortCounters> counters_ = std::make_shared<PortCounters>();
};

inline bool FrameRing::Ready() const {
  return __atomic_load_n(&slot(idx_)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER;
}

template <class F>
int FrameRing::RxDrain(F&& fn, int maxFrames) {
  const uint32_t vnet = opts_.vnetHdr ? PacketRing::kVnetHdrLen : 0;
  uint64_t pkts = 0, bytes = 0, bad = 0;
  int visited = 0;
  while (visited < maxFrames) {
    tpacket2_hdr* h = slot(idx_);
    const uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(st & TP_STATUS_USER)) break;
    RxFrameInfo fi{};
    bool queueFull = false;
    const uint32_t mac = h->tp_mac, snap = h->tp_snaplen;
    bool ok = mac >= vnet && mac <= slotSize_ && snap <= slotSize_ - mac && snap >= 14;
    if (ok) {
      fi.frame = reinterpret_cast<uint8_t*>(h) + mac;
      fi.len = snap;
      fi.wireLen = h->tp_len;
      fi.status = st;
      if (st & TP_STATUS_VLAN_VALID) {
        const uint32_t tpid = (st & TP_STATUS_VLAN_TPID_VALID) ? h->tp_vlan_tpid : 0x8100;
        fi.vlanTci = (h->tp_vlan_tci & 0xffff) | (tpid << 16);
      } else {
        fi.vlanTci = PacketRing::kNoVlan;
      }
      fi.offset = uint32_t(fi.frame - base_);
      fi.headroom = 0;
      fi.hdr = nullptr;
      if (st & TP_STATUS_COPY)
        ok = ReadCopy(&fi);  // the slot holds a truncated copy; the whole frame is queued
      else if (snap < h->tp_len) {
        // Too large and not queued (receive buffer full): a drop like a full ring (rxDrops, which
        // the engine reports as ring drops), never forwarded cut.
        ok = false;
        queueFull = true;
        __atomic_fetch_add(&counters_->rxDrops, 1, __ATOMIC_RELAXED);
      }
    }
    if (ok) {
      pkts++;
      bytes += fi.wireLen;
      visited++;
      fn(static_cast<const RxFrameInfo&>(fi));
    } else if (!queueFull) {
      bad++;
    }
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    idx_ = idx_ + 1 == slots_ ? 0 : idx_ + 1;
  }
  PortCounters& c = *counters_;
  if (pkts) {
    Bump(c.rxPackets, pkts);
    Bump(c.rxBytes, bytes);
  }
  if (bad) Bump(c.truncated, bad);
  return visited;
}
