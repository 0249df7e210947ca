// Software offloads for egresses that cannot carry a virtio_net_hdr (a JS port, a tap queue
// without IFF_VNET_HDR): complete a CHECKSUM_PARTIAL checksum (the kernel's skb_checksum_help)
// and segment TCP/UDP GSO super-frames into MSS-sized frames (tcp_gso_segment /
// __udp_gso_segment: sequence numbers, IPv4 ids, lengths, FIN/PSH on the last segment only, CWR
// on the first only, every checksum recomputed). IPv4 and IPv6 without extension headers, up to
// two VLAN tags; anything else is refused (the engine drops and counts it).
#pragma once
#include <cstdint>

#include "dataplane/frame.h"

namespace mdx {

struct SoftOffloadTally {
  uint64_t csums = 0;       // checksums completed (plain frames)
  uint64_t gsoFrames = 0;   // super-frames segmented
  uint64_t segments = 0;    // frames produced by segmentation
  uint64_t refused = 0;     // frames that could not be completed (dropped)
};

// Receives each finished frame (valid until the next call).
class FrameOut {
 public:
  virtual void Out(const uint8_t* f, uint32_t len) = 0;

 protected:
  ~FrameOut() = default;
};

// Emit fr as plain frames (complete checksums, no GSO) through out; scratch holds at least
// kMaxFrameBytes. Returns false (nothing emitted) when the frame cannot be completed.
bool SoftwareOffload(const Frame& fr, uint8_t* scratch, FrameOut& out, SoftOffloadTally* t);

// Wire length of one segment of a GSO frame (L2 + L3 + L4 headers + gsoSize), for MTU checks;
// 0 when the headers cannot be parsed.
uint32_t GsoSegmentLen(const Frame& fr);

// RFC 1071 ones-complement sum of len bytes (big-endian 16-bit words) added to sum, unfolded.
uint64_t CsumAdd(const uint8_t* p, uint32_t len, uint64_t sum);
// Fold to 16 bits and complement (the value a checksum field holds).
uint16_t CsumFold(uint64_t sum);

}  // namespace mdx
