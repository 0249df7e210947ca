// AF_PACKET port whose TX copies frames into fixed cells and sends them with one sendmmsg per
// flush (copied skbs: the kernel never holds our memory).
#pragma once
#include <vector>

#include "dataplane/backends/packet_backend.h"

namespace mdx {

class PacketCopyBackend final : public PacketBackend {
 public:
  PacketCopyBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames);
  void Send(const uint8_t* f, uint32_t len, TxTally* t) override;
  void Flush(TxTally* t) override;

 private:
  static constexpr uint32_t kCells = 64, kCellSize = 2048;
  std::vector<uint8_t> cells_;
  uint32_t lens_[kCells];
  uint32_t count_ = 0;
};

}  // namespace mdx
