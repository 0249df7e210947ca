// A macvtap (/dev/tapN of an existing macvtap) or tun/tap port with one or more queues. RX of
// queue q is polled by one worker; TX picks queues round-robin. Queues opened with IFF_VNET_HDR
// (and TUNSETOFFLOAD csum/TSO, so the device hands us CHECKSUM_PARTIAL and GSO frames) carry the
// virtio_net_hdr both ways; without it the engine completes offloads in software.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dataplane/backends/port_backend.h"
#include "io/tap_queue.h"

namespace mdx {

class TapBackend final : public PortBackend {
 public:
  // The macvtap named to.ifname, or failing that a tun/tap device of that name (created if
  // absent). 0 or -errno; *err says what failed.
  static int Open(TapOptions to, std::unique_ptr<PortBackend>* out, std::string* err);

  uint32_t rxQueues() const override { return uint32_t(queues_.size()); }
  int rxFd(uint32_t q) const override { return queues_[q]->q->fd(); }
  int Receive(uint32_t q, RxVisitor& v) override;
  bool carriesVnetHdr() const override { return vnet_; }
  void Send(const Frame& f, TxTally* t) override;
  void Flush(TxTally*) override {}  // writes are immediate

 private:
  static constexpr uint32_t kSlotSize = 16 + kMaxFrameBytes, kBatch = 16;
  struct Queue {
    std::unique_ptr<TapQueue> q;
    std::vector<uint8_t> buf;  // kBatch read slots of kSlotSize (used by its RX worker only)
    uint32_t lens[kBatch];
  };
  TapBackend() = default;
  std::vector<std::unique_ptr<Queue>> queues_;
  uint32_t next_ = 0;
  bool vnet_ = false;
  uint32_t hdrSize_ = 0;  // virtio_net_hdr bytes before each frame (10 or 12), 0 without
};

}  // namespace mdx
