#include "dataplane/backends/tap_backend.h"

#include <algorithm>
#include <cerrno>

namespace mdx {

int TapBackend::Open(TapOptions to, std::unique_ptr<PortBackend>* out, std::string* err) {
  if (to.queues < 1 || to.queues > 64) {
    *err = "queues must be 1..64";
    return -EINVAL;
  }
  std::vector<std::unique_ptr<TapQueue>> qs;
  const char* step = nullptr;
  to.tun = false;
  int rc = TapQueue::Open(to, &qs, &step);
  if (rc < 0) {
    qs.clear();
    to.tun = true;
    const char* step2 = nullptr;
    rc = TapQueue::Open(to, &qs, &step2);
    if (rc < 0) {
      *err = std::string("tap \"") + to.ifname + "\": not a macvtap (" + (step ? step : "open") +
             ") and tun/tap failed (" + (step2 ? step2 : "open") + ")";
      return rc;
    }
  }
  std::unique_ptr<TapBackend> b(new TapBackend());
  b->vnet_ = to.vnetHdr;
  b->hdrSize_ = to.vnetHdr ? uint32_t(qs[0]->vnetHdrSize()) : 0;
  for (auto& q : qs) {
    std::unique_ptr<Queue> e(new Queue());
    e->q = std::move(q);
    e->buf.resize(size_t(kSlotSize) * kBatch);
    b->queues_.push_back(std::move(e));
  }
  *out = std::move(b);
  return 0;
}

int TapBackend::Receive(uint32_t q, RxVisitor& v) {
  Queue& e = *queues_[q];
  const int got = e.q->ReadBatch(e.buf.data(), kSlotSize, kBatch, e.lens);
  for (int k = 0; k < got; k++) {
    const uint8_t* p = e.buf.data() + size_t(k) * kSlotSize;
    Frame f;
    if (e.lens[k] >= kSlotSize || e.lens[k] < hdrSize_) {
      f.data = p;  // truncated to the buffer, or no room for the header: a runt (dropped)
    } else {
      if (vnet_) f.vh = ReadVnetHdr(p);
      f.data = p + hdrSize_;
      f.len = e.lens[k] - hdrSize_;
    }
    v.Visit(f, kNoVlanTci);
  }
  return got > 0 ? got : 0;
}

void TapBackend::Send(const Frame& f, TxTally* t) {
  bool ok = false;
  if (!queues_.empty()) {
    TapQueue& q = *queues_[next_++ % queues_.size()]->q;
    if (vnet_) {
      ok = q.WriteVnet(reinterpret_cast<const uint8_t*>(&f.vh), kVnetHdrLen, f.data, f.len) == 0;
    } else {
      uint32_t len = f.len;
      const uint8_t* frames[1] = {f.data};
      ok = q.WriteBatch(frames, &len, 1) == 1;
    }
  }
  if (ok) {
    t->packets++;
    t->bytes += f.len;
  } else {
    t->dropped++;
  }
}

}  // namespace mdx
