// An AF_XDP socket bound to one RX queue of a device, receive side: a UMEM of fixed-size chunks,
// its fill and completion rings, and the RX ring, set up with plain syscalls and mmap (no libbpf or
// libxdp). The uplink's XDP program redirects what userspace must see into it through its xskmap
// (xdp/demux.bpf.c mdx_xsks, key = RX queue); the engine's worker polls fd() with EPOLLIN like its
// other rings and hands each frame to the decision path (engine_xdp.cc).
//
// Kernel facts (net/xdp/xsk.c, include/uapi/linux/if_xdp.h):
// - bind() needs the fill and completion rings (xsk_validate_queues) and the RX or the TX ring;
//   the socket must be created in the device's network namespace (dev_get_by_index(sock_net(sk))).
// - XDP_ZEROCOPY fails with EOPNOTSUPP when the driver has no ndo_xsk_wakeup/XSK pool support
//   (xp_assign_dev; veth has none): Open then binds with XDP_COPY, where the kernel copies each
//   frame into a chunk taken from the fill ring (__xsk_rcv) and drops it when the fill ring is
//   empty (rx_fill_ring_empty_descs) or the RX ring full (rx_ring_full).
// - A queue id at or above the device's real_num_rx_queues gives EINVAL.
// - poll() reports EPOLLIN while the RX ring is not empty (xsk_poll).
#pragma once
#include <linux/if_xdp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "io/xsk_ring.h"

namespace mdx {

struct XskOptions {
  std::string ifname, netns;
  uint32_t queue = 0;
  uint32_t frames = 4096;     // UMEM chunks; also the fill and RX ring sizes (powers of two)
  uint32_t frameSize = 2048;  // chunk bytes: a frame up to frameSize - XDP_PACKET_HEADROOM fits
  bool tryZeroCopy = true;    // XDP_ZEROCOPY first, XDP_COPY when the driver refuses it
};

struct XskFrame {
  uint8_t* data;
  uint32_t len;
};

class XskSocket {
 public:
  // 0 or -errno; *step names the failing step.
  static int Open(const XskOptions& o, std::unique_ptr<XskSocket>* out, const char** step);
  ~XskSocket();
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;

  int fd() const { return fd_; }
  uint32_t queue() const { return queue_; }
  int ifindex() const { return ifindex_; }
  bool zeroCopy() const { return zeroCopy_; }

  // Visit up to max frames from the RX ring (visit(const XskFrame&)), then give their chunks back
  // to the fill ring. A frame's bytes are valid during its visit only. Returns frames visited.
  template <class V>
  int Receive(const V& visit, uint32_t max) {
    uint32_t idx;
    const uint32_t n = rx_.Peek(max, &idx);
    if (n == 0) return 0;
    for (uint32_t i = 0; i < n; i++) {
      const xdp_desc& d = rx_.at(idx + i);
      // addr: chunk base + headroom + offset (aligned mode); a descriptor outside the UMEM (not
      // one the kernel can have written) is skipped, its chunk still returned.
      if (d.addr < umemLen_ && d.len <= umemLen_ - d.addr) visit(XskFrame{umem_ + d.addr, d.len});
      else invalid_++;
    }
    uint32_t fidx;
    const uint32_t m = fill_.Reserve(n, &fidx);  // always n: the fill ring holds every chunk
    for (uint32_t i = 0; i < m; i++) fill_.at(fidx + i) = rx_.at(idx + i).addr & chunkMask_;
    rx_.Release(n);
    fill_.Submit(m);
    return int(n);
  }
  // Frames the kernel dropped for this socket (XDP_STATISTICS): no free chunk in the fill ring
  // (rx_dropped) or the RX ring full (rx_ring_full).
  uint64_t KernelDrops() const;
  uint64_t invalidDescs() const { return invalid_; }
  // SO_ERROR: the pending error (read and cleared), 0 when none.
  int PendingError() const;

 private:
  XskSocket() = default;
  int fd_ = -1;
  int ifindex_ = 0;
  uint32_t queue_ = 0;
  bool zeroCopy_ = false;
  uint8_t* umem_ = nullptr;
  uint64_t umemLen_ = 0;
  uint64_t chunkMask_ = 0;
  XskRing<uint64_t> fill_, comp_;
  XskRing<xdp_desc> rx_;
  void* fillMap_ = nullptr;
  void* compMap_ = nullptr;
  void* rxMap_ = nullptr;
  size_t fillMapLen_ = 0, compMapLen_ = 0, rxMapLen_ = 0;
  uint64_t invalid_ = 0;
};

}  // namespace mdx
