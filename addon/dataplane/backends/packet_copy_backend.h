// AF_PACKET port whose TX copies small frames (after their virtio_net_hdr) into an arena and sends
// them with one sendmmsg per flush (copied skbs: the kernel never holds our memory). A frame
// bigger than kDirectBytes (a GSO super-frame, a jumbo frame) is not copied into the arena: the
// queued frames are flushed first (order kept) and it goes out at once with its own sendmsg from
// where it lies (the RX ring or the V2 ring's copy buffer, both reused after this pass), so the
// kernel's copy into the skb is its only copy on TX. A 64 KiB memcpy costs more than a syscall.
#pragma once
#include <sys/socket.h>

#include <vector>

#include "dataplane/backends/packet_backend.h"

namespace mdx {

class PacketCopyBackend final : public PacketBackend {
 public:
  PacketCopyBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames);
  void Send(const Frame& f, TxTally* t) override;
  void Flush(TxTally* t) override;

 private:
  static constexpr uint32_t kMaxMsgs = 64;
  static constexpr uint32_t kDirectBytes = 4096;
  void SendDirect(const Frame& f, TxTally* t);
  static constexpr size_t kArenaBytes = 256 * 1024;  // >= 64 small frames, >= 3 super-frames
  std::vector<uint8_t> arena_;
  size_t used_ = 0;
  uint32_t count_ = 0;
  uint32_t lens_[kMaxMsgs];  // frame bytes (without the header)
  size_t offs_[kMaxMsgs];    // header offset in the arena
};

}  // namespace mdx
