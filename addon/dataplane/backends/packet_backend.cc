#include "dataplane/backends/packet_backend.h"

#include "dataplane/backends/packet_copy_backend.h"
#include "dataplane/backends/packet_ring_backend.h"

namespace mdx {

int PacketBackend::Open(RingOptions ro, const FrameRingOptions* frames, bool txCopy, std::unique_ptr<PortBackend>* out,
                        const char** step) {
  ro.tx = !txCopy;
  ro.vnetHdr = true;
  std::unique_ptr<FrameRing> fr;
  if (frames) {
    FrameRingOptions fo = *frames;
    fo.vnetHdr = true;
    const int rc = FrameRing::Open(fo, &fr, step);
    if (rc < 0) return rc;
    ro.rx = false;
  }
  std::unique_ptr<PacketRing> ring;
  if (ro.rx || ro.tx) {
    const int rc = PacketRing::Open(ro, &ring, step);
    if (rc < 0) return rc;
  }
  if (txCopy) {
    out->reset(new PacketCopyBackend(std::move(ring), std::move(fr)));
    return 0;
  }
  std::unique_ptr<PacketRing> sender;
  const int rc = PacketRing::Open(SenderOptions(ro), &sender, step);
  if (rc < 0) return rc;
  out->reset(new PacketRingBackend(std::move(ring), std::move(fr), std::move(sender)));
  return 0;
}

RingOptions SenderOptions(const RingOptions& ro) {
  RingOptions s;
  s.ifname = ro.ifname;
  s.netns = ro.netns;
  s.rx = s.tx = false;
  s.vnetHdr = true;
  s.qdiscBypass = ro.qdiscBypass;
  return s;
}

int PacketBackend::Receive(uint32_t, RxVisitor& v) {
  if (frames_) return frames_->RxDrain([&](const RxFrameInfo& fi) { VisitRxFrame(fi, v); }, kMaxRxFramesPerPoll);
  return ring_->RxDrainFrames([&](const RxFrameInfo& fi) { VisitRxFrame(fi, v); }, kMaxRxBlocksPerPoll);
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
