#include "tools/relay.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>

#include <cstring>

#include "dataplane/vlan_tag.h"

int Relay::Start(RingOptions a, RingOptions b, std::unique_ptr<Relay>* out, const char** step) {
  std::unique_ptr<Relay> r(new Relay());
  RingOptions* o[2] = {&a, &b};
  for (int i = 0; i < 2; i++) {
    if (o[i]->vnetHdr && o[i]->txFrameSize < 65536 + 256) o[i]->txFrameSize = 65536 + 256;  // GSO super-frames
    if (o[i]->txFrameCount > 256 && o[i]->vnetHdr) o[i]->txFrameCount = 256;
    const int rc = PacketRing::Open(*o[i], &r->side_[i], step);
    if (rc < 0) return rc;
  }
  Relay* raw = r.get();
  r->thread_ = std::thread([raw] { raw->Run(); });
  *out = std::move(r);
  return 0;
}

void Relay::Stop() {
  stop_.MarkStopped();
  stop_.Signal();
  if (thread_.joinable()) thread_.join();
}

void Relay::CloseRings() {
  side_[0].reset();
  side_[1].reset();
}

RelayStats Relay::Stats() const {
  RelayStats s;
  for (int i = 0; i < 2; i++) {
    s.forwarded[i] = forwarded_[i];
    s.dropped[i] = dropped_[i];
  }
  s.error = error_.load();
  return s;
}

// Move every ready frame from side `from` to the other side; returns frames seen.
int Relay::Pump(int from) {
  PacketRing& in = *side_[from];
  PacketRing& out = *side_[1 - from];
  const bool vnet = in.options().vnetHdr && out.options().vnetHdr;
  return in.RxDrain(
      [&](const uint8_t* f, uint32_t len, uint32_t vlan, uint32_t /*status*/) {
        const uint8_t* frame = f;
        uint32_t flen = len;
        uint8_t hdr[PacketRing::kVnetHdrLen];
        if (vnet) memcpy(hdr, f - PacketRing::kVnetHdrLen, sizeof(hdr));
        if (vlan != PacketRing::kNoVlan) {
          // Put the tag back (the kernel delivered it as metadata).
          tmp_.resize(len + mdx::kVlanTagLen);
          flen = mdx::InsertVlanTag(tmp_.data(), f, len, mdx::AuxTpid(vlan), uint16_t(vlan));
          frame = tmp_.data();
          if (vnet) {
            uint16_t v;
            memcpy(&v, hdr + 2, 2);  // hdr_len
            if (v) v = static_cast<uint16_t>(v + 4);
            memcpy(hdr + 2, &v, 2);
            memcpy(&v, hdr + 6, 2);  // csum_start
            if (hdr[0] & 1) v = static_cast<uint16_t>(v + 4);
            memcpy(hdr + 6, &v, 2);
          }
        }
        int r;
        for (int tries = 0;; tries++) {
          r = vnet ? out.TxPushVnet(hdr, frame, flen) : out.TxPush(frame, flen);
          if (r != -EAGAIN || tries > 1000) break;
          out.Flush();  // ring full: kick and retry
          sched_yield();
        }
        if (r == 0)
          forwarded_[from]++;
        else
          dropped_[from]++;
      },
      64);
}

void Relay::Run() {
  pollfd pfd[3] = {{side_[0]->fd(), POLLIN, 0}, {side_[1]->fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
  while (!stop_.stopped()) {
    int n = Pump(0);
    side_[1]->Flush();
    n += Pump(1);
    side_[0]->Flush();
    if (n > 0) continue;
    int pr = poll(pfd, 3, 200);
    if (pr < 0 && errno != EINTR) {
      error_.store(errno);
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        int e = side_[i]->PendingError();
        error_.store(e ? e : ENETDOWN);
        return;
      }
    }
  }
}
