// AF_PACKET port backends: RX from a TPACKET_V3 ring (shared), TX either through the socket's TX
// ring (PacketRingBackend) or with sendmmsg of copied frames (PacketCopyBackend, the default for
// ports: on veth a TX ring frame is held until the peer consumed it, a copy is not).
#pragma once
#include <memory>
#include <string>

#include "dataplane/backends/port_backend.h"
#include "io/packet_ring.h"

namespace mdx {

// A send-only socket (no rings, receives nothing) on the same device for frames bigger than a
// TX ring slot (GSO super-frames, jumbo frames): sendmsg copies them.
RingOptions SenderOptions(const RingOptions& ro);

// Hand a frame from a PACKET_VNET_HDR ring to v: the virtio_net_hdr sits right before the frame.
// A frame the ring truncated (bigger than a block can hold) is passed with len 0 (a runt: dropped).
inline void VisitRxFrame(const RxFrameInfo& fi, RxVisitor& v) {
  Frame f;
  f.data = fi.frame;
  f.len = fi.len < fi.wireLen ? 0 : fi.len;
  f.vh = ReadVnetHdr(fi.frame - kVnetHdrLen);
  v.Visit(f, fi.vlanTci);
}

class PacketBackend : public PortBackend {
 public:
  // Opens the socket with PACKET_VNET_HDR (ro.tx is set from txCopy; the TX ring variant also
  // opens a send socket for frames bigger than a ring slot). 0 or -errno; *step names the
  // failing step.
  static int Open(RingOptions ro, bool txCopy, std::unique_ptr<PortBackend>* out, const char** step);

  uint32_t rxQueues() const override { return 1; }
  int rxFd(uint32_t) const override { return ring_->fd(); }
  int Receive(uint32_t q, RxVisitor& v) override;
  uint64_t RefreshRxDrops() override;
  bool carriesVnetHdr() const override { return true; }
  int TakeRxError(uint32_t) override { return ring_->PendingError(); }

 protected:
  explicit PacketBackend(std::unique_ptr<PacketRing> ring) : ring_(std::move(ring)) {}
  std::unique_ptr<PacketRing> ring_;
};

}  // namespace mdx
