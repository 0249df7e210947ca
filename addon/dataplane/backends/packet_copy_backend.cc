#include "dataplane/backends/packet_copy_backend.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace mdx {

PacketCopyBackend::PacketCopyBackend(std::unique_ptr<PacketRing> ring, std::unique_ptr<FrameRing> frames)
    : PacketBackend(std::move(ring), std::move(frames)), cells_(size_t(kCells) * kCellSize) {}

void PacketCopyBackend::Send(const uint8_t* f, uint32_t len, TxTally* t) {
  if (len <= kCellSize) {
    memcpy(cells_.data() + size_t(count_) * kCellSize, f, len);
    lens_[count_++] = len;
    if (count_ == kCells) Flush(t);
    return;
  }
  // Bigger than a cell: keep the order, send it on its own.
  Flush(t);
  if (send(txFd(), f, len, MSG_DONTWAIT) == ssize_t(len)) {
    t->packets++;
    t->bytes += len;
  } else {
    t->dropped++;
  }
}

void PacketCopyBackend::Flush(TxTally* t) {
  const uint32_t n = count_;
  if (n == 0) return;
  mmsghdr msgs[kCells];
  iovec iov[kCells];
  for (uint32_t i = 0; i < n; i++) {
    iov[i].iov_base = cells_.data() + size_t(i) * kCellSize;
    iov[i].iov_len = lens_[i];
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  for (int attempt = 0; attempt < 2 && sent < n; attempt++) {
    const int rc = sendmmsg(txFd(), msgs + sent, n - sent, MSG_DONTWAIT);
    if (rc <= 0) {
      if (rc < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) break;  // hard error: drop the rest
      continue;
    }
    sent += uint32_t(rc);
  }
  for (uint32_t i = 0; i < sent; i++) t->bytes += lens_[i];
  t->packets += sent;
  t->dropped += n - sent;
  count_ = 0;
}

}  // namespace mdx
