// AF_PACKET port backends: RX from a TPACKET_V2 ring (frames at once; the default) or a
// TPACKET_V3 ring (blocks; rxMode 3), TX either through a socket's TX ring (PacketRingBackend) or
// with sendmmsg of copied frames (PacketCopyBackend, the default for ports: on veth a TX ring
// frame is held until the peer consumed it, a copy is not).
#pragma once
#include <memory>
#include <string>

#include "dataplane/backends/port_backend.h"
#include "io/frame_ring.h"
#include "io/packet_ring.h"

namespace mdx {

// A send-only socket (no rings, receives nothing) on the same device for frames bigger than a
// TX ring slot (GSO super-frames, jumbo frames): sendmsg copies them.
RingOptions SenderOptions(const RingOptions& ro);

// Hand a frame from a PACKET_VNET_HDR ring to v: the virtio_net_hdr sits right before the frame.
// A frame the ring truncated (bigger than it can hold) is passed with len 0 (a runt: dropped).
inline void VisitRxFrame(const RxFrameInfo& fi, RxVisitor& v) {
  Frame f;
  f.data = fi.frame;
  f.len = fi.len < fi.wireLen ? 0 : fi.len;
  f.vh = ReadVnetHdr(fi.frame - kVnetHdrLen);
  v.Visit(f, fi.vlanTci);
}

class PacketBackend : public PortBackend {
 public:
  // Opens the sockets, all with PACKET_VNET_HDR: RX on a V2 ring when frames is given, else on
  // ro's V3 ring; TX through a TX ring (ro; plus a send-only socket for frames bigger than a slot)
  // or, with txCopy, sendmmsg on the receiving socket. 0 or -errno; *step names the failing step.
  static int Open(RingOptions ro, const FrameRingOptions* frames, bool txCopy, std::unique_ptr<PortBackend>* out,
                  const char** step);

  uint32_t rxQueues() const override { return 1; }
  int rxFd(uint32_t) const override { return frames_ ? frames_->fd() : ring_->fd(); }
  int Receive(uint32_t q, RxVisitor& v) override;
  uint64_t RefreshRxDrops() override;
  int TakeRxError(uint32_t) override { return frames_ ? frames_->PendingError() : ring_->PendingError(); }
  bool carriesVnetHdr() const override { return true; }

 protected:
  PacketBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames)
      : ring_(std::move(ring)), frames_(std::move(frames)) {}
  int txFd() const { return ring_ ? ring_->fd() : frames_->fd(); }
  std::unique_ptr<PacketRing> ring_;    // V3 RX and/or the TX ring; null with V2 RX and copied TX
  std::unique_ptr<FrameRing> frames_;  // V2 RX
};

}  // namespace mdx
