// AF_PACKET port backends: RX from a TPACKET_V3 ring (shared), TX either through the socket's TX
// ring (PacketRingBackend) or with sendmmsg of copied frames (PacketCopyBackend, the default for
// ports: on veth a TX ring frame is held until the peer consumed it, a copy is not).
#pragma once
#include <memory>
#include <string>

#include "dataplane/backends/port_backend.h"
#include "io/packet_ring.h"

namespace mdx {

class PacketBackend : public PortBackend {
 public:
  // Opens the socket (ro.tx is set from txCopy). 0 or -errno; *step names the failing step.
  static int Open(RingOptions ro, bool txCopy, std::unique_ptr<PortBackend>* out, const char** step);

  uint32_t rxQueues() const override { return 1; }
  int rxFd(uint32_t) const override { return ring_->fd(); }
  int Receive(uint32_t q, RxVisitor& v) override;
  uint64_t RefreshRxDrops() override;

 protected:
  explicit PacketBackend(std::unique_ptr<PacketRing> ring) : ring_(std::move(ring)) {}
  std::unique_ptr<PacketRing> ring_;
};

}  // namespace mdx
