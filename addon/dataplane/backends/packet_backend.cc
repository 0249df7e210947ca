#include "dataplane/backends/packet_backend.h"

#include "dataplane/backends/packet_copy_backend.h"
#include "dataplane/backends/packet_ring_backend.h"

namespace mdx {

int PacketBackend::Open(RingOptions ro, const FrameRingOptions* frames, bool txCopy, std::unique_ptr<PortBackend>* out,
                        const char** step) {
  ro.tx = !txCopy;
  std::unique_ptr<FrameRing> fr;
  if (frames) {
    const int rc = FrameRing::Open(*frames, &fr, step);
    if (rc < 0) return rc;
    ro.rx = false;
  }
  std::unique_ptr<PacketRing> ring;
  if (ro.rx || ro.tx) {
    const int rc = PacketRing::Open(ro, &ring, step);
    if (rc < 0) return rc;
  }
  if (txCopy)
    out->reset(new PacketCopyBackend(std::move(ring), std::move(fr)));
  else
    out->reset(new PacketRingBackend(std::move(ring), std::move(fr)));
  return 0;
}

int PacketBackend::Receive(uint32_t, RxVisitor& v) {
  if (frames_) return frames_->RxDrain([&](const RxFrameInfo& fi) { v.Frame(fi.frame, fi.len, fi.vlanTci); }, kMaxRxFramesPerPoll);
  return ring_->RxDrain([&](const uint8_t* f, uint32_t len, uint32_t tci, uint32_t) { v.Frame(f, len, tci); },
                        kMaxRxBlocksPerPoll);
}

uint64_t PacketBackend::RefreshRxDrops() {
  if (frames_) {
    frames_->UpdateKernelStats();
    return Read(frames_->counters().rxDrops);
  }
  ring_->UpdateKernelStats();
  return Read(ring_->counters().rxDrops);
}

}  // namespace mdx
