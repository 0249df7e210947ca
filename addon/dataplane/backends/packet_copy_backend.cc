#include "dataplane/backends/packet_copy_backend.h"

#include <cerrno>
#include <cstring>

namespace mdx {

PacketCopyBackend::PacketCopyBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames)
    : PacketBackend(std::move(ring), std::move(frames)), arena_(kArenaBytes) {}

void PacketCopyBackend::Send(const Frame& f, TxTally* t) {
  if (f.len > kDirectBytes) {
    Flush(t);
    SendDirect(f, t);
    return;
  }
  const size_t need = kVnetHdrLen + f.len;
  if (need > kArenaBytes) {
    t->dropped++;
    return;
  }
  if (count_ == kMaxMsgs || used_ + need > kArenaBytes) Flush(t);
  uint8_t* p = arena_.data() + used_;
  memcpy(p, &f.vh, kVnetHdrLen);
  memcpy(p + kVnetHdrLen, f.data, f.len);
  offs_[count_] = used_;
  lens_[count_++] = f.len;
  used_ += (need + 15) & ~size_t(15);
}

void PacketCopyBackend::SendDirect(const Frame& f, TxTally* t) {
  iovec iov[2] = {{const_cast<VnetHdr*>(&f.vh), kVnetHdrLen}, {const_cast<uint8_t*>(f.data), f.len}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  for (int attempt = 0; attempt < 2; attempt++) {  // as Flush: one retry on a transient refusal
    if (sendmsg(txFd(), &m, MSG_DONTWAIT) >= 0) {
      t->packets++;
      t->bytes += f.len;
      return;
    }
    if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR) break;
  }
  t->dropped++;
}

void PacketCopyBackend::Flush(TxTally* t) {
  const uint32_t n = count_;
  if (n == 0) return;
  mmsghdr msgs[kMaxMsgs];
  iovec iov[kMaxMsgs];
  for (uint32_t i = 0; i < n; i++) {
    iov[i].iov_base = arena_.data() + offs_[i];
    iov[i].iov_len = kVnetHdrLen + lens_[i];
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  for (int attempt = 0; attempt < 2 && sent < n; attempt++) {
    const int rc = sendmmsg(txFd(), msgs + sent, n - sent, MSG_DONTWAIT);
    if (rc <= 0) {
      if (rc < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
        // A frame the kernel refuses (EMSGSIZE over the MTU, EINVAL bad header) is dropped; the
        // rest of the batch still goes.
        t->dropped++;
        sent++;
        attempt = -1;
      }
      continue;
    }
    for (int i = 0; i < rc; i++) t->bytes += lens_[sent + uint32_t(i)];
    t->packets += uint32_t(rc);
    sent += uint32_t(rc);
  }
  t->dropped += n - sent;
  count_ = 0;
  used_ = 0;
}

}  // namespace mdx
