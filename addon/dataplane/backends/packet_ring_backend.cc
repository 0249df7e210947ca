#include "dataplane/backends/packet_ring_backend.h"

#include <cerrno>

namespace mdx {

void PacketRingBackend::Send(const uint8_t* f, uint32_t len, TxTally* t) {
  int rc = ring_->TxPush(f, len);
  if (rc == -EAGAIN) {  // ring full: kick it and try once more
    ring_->Flush();
    rc = ring_->TxPush(f, len);
  }
  if (rc == 0) {
    t->packets++;
    t->bytes += len;
  } else {
    t->dropped++;
  }
}

}  // namespace mdx
