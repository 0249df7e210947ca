#include "dataplane/backends/packet_backend.h"

#include "dataplane/backends/packet_copy_backend.h"
#include "dataplane/backends/packet_ring_backend.h"

namespace mdx {

int PacketBackend::Open(RingOptions ro, bool txCopy, std::unique_ptr<PortBackend>* out, const char** step) {
  ro.tx = !txCopy;
  std::unique_ptr<PacketRing> ring;
  const int rc = PacketRing::Open(ro, &ring, step);
  if (rc < 0) return rc;
  if (txCopy)
    out->reset(new PacketCopyBackend(std::move(ring)));
  else
    out->reset(new PacketRingBackend(std::move(ring)));
  return 0;
}

int PacketBackend::Receive(uint32_t, RxVisitor& v) {
  return ring_->RxDrain([&](const uint8_t* f, uint32_t len, uint32_t tci, uint32_t) { v.Frame(f, len, tci); },
                        kMaxRxBlocksPerPoll);
}

uint64_t PacketBackend::RefreshRxDrops() {
  ring_->UpdateKernelStats();
  return Read(ring_->counters().rxDrops);
}

}  // namespace mdx
