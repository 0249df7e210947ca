#include "dataplane/backends/packet_ring_backend.h"

#include <cerrno>

namespace mdx {

bool RingSend(PacketRing& ring, PacketRing& sender, const Frame& f) {
  const uint8_t* hdr = reinterpret_cast<const uint8_t*>(&f.vh);
  if (f.len > ring.txSlotCapacity()) {
    ring.Flush();
    return sender.SendCopy(hdr, f.data, f.len) == 0;
  }
  int rc = ring.TxPushVnet(hdr, f.data, f.len);
  if (rc == -EAGAIN) {  // ring full: kick it and try once more
    ring.Flush();
    rc = ring.TxPushVnet(hdr, f.data, f.len);
  }
  return rc == 0;
}

void PacketRingBackend::Send(const Frame& f, TxTally* t) {
  if (RingSend(*ring_, *sender_, f)) {
    t->packets++;
    t->bytes += f.len;
  } else {
    t->dropped++;
  }
}

}  // namespace mdx
