// A frame as it crosses the engine: its bytes plus the offload state the kernel handed us in a
// virtio_net_hdr (include/uapi/linux/virtio_net.h; PACKET_VNET_HDR on AF_PACKET sockets,
// IFF_VNET_HDR on tap queues). The header stays with the frame from RX to TX, so the kernel
// completes checksums and segments GSO super-frames only where the egress device cannot take them
// (virtio_net_hdr_to_skb on TX, virtio_net_hdr_from_skb on RX in include/linux/virtio_net.h).
// Fields are little-endian (virtio 1.0; af_packet's vio_le() and tun's default on LE hosts).
#pragma once
#include <cstdint>
#include <cstring>

namespace mdx {

struct VnetHdr {
  uint8_t flags = 0;     // kVnetNeedsCsum | kVnetDataValid
  uint8_t gsoType = 0;   // kGso* (| kGsoEcn)
  uint16_t hdrLen = 0;   // bytes the kernel keeps linear (RX: skb_headlen, not the header length)
  uint16_t gsoSize = 0;  // payload bytes per segment (MSS)
  uint16_t csumStart = 0;   // NEEDS_CSUM: checksum covers [csumStart, end) ...
  uint16_t csumOffset = 0;  // ... and goes at csumStart + csumOffset (holds the pseudo-header sum)
};
static_assert(sizeof(VnetHdr) == 10, "virtio_net_hdr is 10 bytes");

constexpr uint32_t kVnetHdrLen = 10;
constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: CHECKSUM_PARTIAL
constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID: checksum verified
constexpr uint8_t kGsoNone = 0, kGsoTcpV4 = 1, kGsoUdp = 3, kGsoTcpV6 = 4, kGsoUdpL4 = 5, kGsoEcn = 0x80;

// The largest frame that crosses the engine: a 64 KiB GSO super-frame (IP total length is 16
// bits) plus Ethernet and two VLAN tags.
constexpr uint32_t kMaxFrameBytes = 65535 + 14 + 8;

struct Frame {
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  VnetHdr vh;
  bool gso() const { return (vh.gsoType & ~kGsoEcn) != kGsoNone; }
  // Work an egress without virtio_net_hdr support needs done first (checksum or segmentation).
  bool needsOffloadWork() const { return gso() || (vh.flags & kVnetNeedsCsum); }
};

inline VnetHdr ReadVnetHdr(const uint8_t* p) {
  VnetHdr h;
  memcpy(&h, p, sizeof(h));
  return h;
}

// The frame's bytes moved by delta at the L2 header (a VLAN tag inserted: +4, stripped: -4):
// offsets into the frame move with them.
inline void ShiftVnetHdr(VnetHdr* h, int delta) {
  if (h->flags & kVnetNeedsCsum) h->csumStart = uint16_t(h->csumStart + delta);
  if (h->hdrLen) h->hdrLen = uint16_t(h->hdrLen + delta);
}

}  // namespace mdx
