// AF_PACKET port whose TX goes through the socket's mmap'd TX ring (one kick per flush).
#pragma once
#include "dataplane/backends/packet_backend.h"

namespace mdx {

class PacketRingBackend final : public PacketBackend {
 public:
  PacketRingBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames)
      : PacketBackend(std::move(ring), std::move(frames)) {}
  void Send(const uint8_t* f, uint32_t len, TxTally* t) override;
  void Flush(TxTally*) override { ring_->Flush(); }
};

}  // namespace mdx
