// A minimal native relay between two AF_PACKET ports (both directions, one thread): every frame
// received on one side is sent out of the other. With vnetHdr the virtio_net_hdr travels with the
// frame, so GSO super-frames and CHECKSUM_PARTIAL frames (a real TCP stream over veth) are relayed
// intact instead of being truncated or dropped (EMSGSIZE). Used by tests and as a reference for
// the engine: RxDrain -> TxPush(Vnet) -> one Flush per drained batch.
#include <errno.h>
#include <poll.h>

#include <cstring>
#include <vector>

#include "io_binding_util.h"
#include "napi_util.h"
#include "packet_ring.h"
#include "poll_thread.h"

namespace {

struct Relay : NativeWorker {
  napi_env env = nullptr;
  std::unique_ptr<PacketRing> side[2];
  StopEvent stop;
  std::thread thread;
  bool hooked = false;
  std::atomic<int> error{0};
  uint64_t forwarded[2] = {0, 0}, dropped[2] = {0, 0};  // written by the thread, read after join

  void StopAndJoin() override {
    stop.MarkStopped();
    stop.Signal();
    if (thread.joinable()) thread.join();
    if (hooked) {
      UnregisterWorkerCleanup(env, this);
      hooked = false;
    }
  }
  ~Relay() override { StopAndJoin(); }

  // Move every ready frame from side `from` to the other side; returns frames seen.
  int Pump(int from) {
    PacketRing& in = *side[from];
    PacketRing& out = *side[1 - from];
    const bool vnet = in.options().vnetHdr && out.options().vnetHdr;
    std::vector<uint8_t> tmp;
    int n = in.RxDrain(
        [&](const uint8_t* f, uint32_t len, uint32_t vlan, uint32_t /*status*/) {
          const uint8_t* frame = f;
          uint32_t flen = len;
          uint8_t hdr[PacketRing::kVnetHdrLen];
          if (vnet) memcpy(hdr, f - PacketRing::kVnetHdrLen, sizeof(hdr));
          if (vlan != PacketRing::kNoVlan) {
            // Put the tag back (the kernel delivered it as metadata).
            tmp.resize(len + 4);
            memcpy(tmp.data(), f, 12);
            tmp[12] = static_cast<uint8_t>(vlan >> 24);
            tmp[13] = static_cast<uint8_t>(vlan >> 16);
            tmp[14] = static_cast<uint8_t>(vlan >> 8);
            tmp[15] = static_cast<uint8_t>(vlan);
            memcpy(tmp.data() + 16, f + 12, len - 12);
            frame = tmp.data();
            flen = len + 4;
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
            forwarded[from]++;
          else
            dropped[from]++;
        },
        64);
    out.Flush();
    return n;
  }

  void Run() {
    pollfd pfd[3] = {{side[0]->fd(), POLLIN, 0}, {side[1]->fd(), POLLIN, 0}, {stop.fd(), POLLIN, 0}};
    while (!stop.stopped()) {
      int n = Pump(0) + Pump(1);
      if (n > 0) continue;
      int pr = poll(pfd, 3, 200);
      if (pr < 0 && errno != EINTR) {
        error.store(errno);
        break;
      }
      for (int i = 0; i < 2; i++) {
        if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
          int e = side[i]->PendingError();
          error.store(e ? e : ENETDOWN);
          return;
        }
      }
    }
  }
};

Relay* From(const Napi::Value& v) { return v.As<Napi::External<Relay>>().Data(); }

// relayStart(optsA, optsB) -> handle | -errno
Napi::Value RelayStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* r = new Relay();
  r->env = env;
  for (int i = 0; i < 2; i++) {
    RingOptions o = ParseRingOptions(info[i].As<Napi::Object>());
    if (o.vnetHdr && o.txFrameSize < 65536 + 256) o.txFrameSize = 65536 + 256;  // GSO super-frames
    if (o.txFrameCount > 256 && o.vnetHdr) o.txFrameCount = 256;
    const char* step = nullptr;
    int rc = PacketRing::Open(o, &r->side[i], &step);
    if (rc < 0) {
      SetLastFailedStep(step);
      delete r;
      return Num(env, rc);
    }
  }
  r->thread = std::thread([r] { r->Run(); });
  RegisterWorkerCleanup(env, r);
  r->hooked = true;
  return Napi::External<Relay>::New(env, r, [](Napi::Env, Relay* p) { delete p; });
}

// relayStop(h) -> { forwardedAB, forwardedBA, droppedAB, droppedBA, error }
Napi::Value RelayStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Relay* r = From(info[0]);
  if (r == nullptr) return env.Undefined();
  r->StopAndJoin();
  r->side[0].reset();  // close both sockets now (promisc, receive hooks)
  r->side[1].reset();
  Napi::Object o = Napi::Object::New(env);
  o.Set("forwardedAB", Num(env, static_cast<double>(r->forwarded[0])));
  o.Set("forwardedBA", Num(env, static_cast<double>(r->forwarded[1])));
  o.Set("droppedAB", Num(env, static_cast<double>(r->dropped[0])));
  o.Set("droppedBA", Num(env, static_cast<double>(r->dropped[1])));
  o.Set("error", Num(env, -r->error.load()));
  return o;
}

Napi::Value RelayCounters(const Napi::CallbackInfo& info) {
  Relay* r = From(info[0]);
  int i = info[1].As<Napi::Number>().Int32Value() ? 1 : 0;
  if (!r->side[i]) return info.Env().Null();
  return CountersBuffer(info.Env(), r->side[i]->sharedCounters());
}

}  // namespace

void InitRelay(Napi::Env env, Napi::Object exports) {
  exports.Set("relayStart", Napi::Function::New(env, RelayStart, "relayStart"));
  exports.Set("relayStop", Napi::Function::New(env, RelayStop, "relayStop"));
  exports.Set("relayCounters", Napi::Function::New(env, RelayCounters, "relayCounters"));
}
