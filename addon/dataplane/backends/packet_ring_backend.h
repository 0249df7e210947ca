// AF_PACKET port whose TX goes through the socket's mmap'd TX ring (one kick per flush); frames
// bigger than a ring slot go out of a second, send-only socket, after a kick of the ring (order
// kept).
#pragma once
#include "dataplane/backends/packet_backend.h"

namespace mdx {

class PacketRingBackend final : public PacketBackend {
 public:
  PacketRingBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames,
                    std::unique_ptr<PacketRing> sender)
      : PacketBackend(std::move(ring), std::move(frames)), sender_(std::move(sender)) {}
  void Send(const Frame& f, TxTally* t) override;
  void Flush(TxTally*) override { ring_->Flush(); }

 private:
  std::unique_ptr<PacketRing> sender_;
};

// Push one frame (with its virtio_net_hdr) into ring's TX ring, kicking it once when full, or, when
// it does not fit a slot, kick the ring and send it from sender. Shared by the ports and the
// engine's uplink. Returns true when the kernel took it.
bool RingSend(PacketRing& ring, PacketRing& sender, const Frame& f);

}  // namespace mdx
