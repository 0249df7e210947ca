// PacketPort for JavaScript: a PacketRing plus a native poll thread that tells JS when a block is
// ready (ThreadSafeFunction), zero-copy batch receive (views over the mmap'd ring while the block
// is held), batched send, BPF attach, and an eventfd-based stop with an env cleanup hook.
//
// Receive protocol (JS thread): portRecv() releases the previously held block, takes the next
// ready one and writes one descriptor per frame: [offset, length, vlanTci, status] (offsets into
// the ring ArrayBuffer). When it returns 0, JS calls portArm() and the poll thread calls back
// once the next block is ready (or with an error, after which it exits).
#include <errno.h>

#include <cstring>

#include "io/fd_poller.h"
#include "io/packet_ring.h"
#include "node/io_args.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"

namespace {

struct PortHandle final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~PortHandle() override { Close(); }
  void StopNative() override {
    poller.Stop();
    if (ring && held >= 0) ring->RxReleaseBlock(held);
    held = -1;
    ring.reset();  // closes the socket; the mapping lives while JS views reference it
  }
  std::unique_ptr<PacketRing> ring;
  std::shared_ptr<RingMapping> mapping;
  std::shared_ptr<PortCounters> counters;
  int held = -1;  // RX block currently lent to JS
  FdPoller poller;
};

// The port behind argument 0 while it is open, else nullptr.
PortHandle* OpenPort(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  return h && h->ring ? h : nullptr;
}

// portOpen(opts, detail?) -> handle | -errno
Napi::Value PortOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RingOptions o = ParseRingOptions(info[0].As<Napi::Object>());
  auto* h = new PortHandle(env);
  const char* step = nullptr;
  int r = PacketRing::Open(o, &h->ring, &step);
  if (r < 0) {
    SetErrorDetail(info, 1, step);
    delete h;
    return Num(env, r);
  }
  h->mapping = h->ring->mapping();
  h->counters = h->ring->sharedCounters();
  return NodeHandle::Wrap(env, h);
}

// portInfo(h) -> { fd, ifindex, rxBlockSize, rxBlockCount, txSlots, txSlotCapacity, vnetHdr }
Napi::Value PortInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortHandle* h = OpenPort(info);
  Napi::Object o = Napi::Object::New(env);
  if (!h) return o;
  o.Set("fd", Num(env, h->ring->fd()));
  o.Set("ifindex", Num(env, h->ring->ifindex()));
  o.Set("rxBlockSize", Num(env, h->ring->rxBlockSize()));
  o.Set("rxBlockCount", Num(env, h->ring->rxBlockCount()));
  o.Set("txSlots", Num(env, h->ring->txSlots()));
  o.Set("txSlotCapacity", Num(env, h->ring->hasTx() ? h->ring->txSlotCapacity() : 0));
  o.Set("vnetHdr", Napi::Boolean::New(env, h->ring->options().vnetHdr));
  return o;
}

// portRingBuffer(h) -> ArrayBuffer over the whole mapping (zero-copy frame views)
Napi::Value PortRingBuffer(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  if (!h || !h->mapping) return info.Env().Null();
  auto* hold = new std::shared_ptr<RingMapping>(h->mapping);
  return Napi::ArrayBuffer::New(info.Env(), h->mapping->base, h->mapping->length,
                                [](Napi::Env, void*, std::shared_ptr<RingMapping>* m) { delete m; }, hold);
}

Napi::Value PortCountersFn(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  if (!h || !h->counters) return info.Env().Null();
  return CountersBuffer(info.Env(), h->counters);
}

// portRecv(h, desc: Uint32Array, reinsertVlan: boolean) -> frames in the next block (0 = none), -errno
Napi::Value PortRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortHandle* h = OpenPort(info);
  if (!h) return Num(env, -EBADF);
  PacketRing& r = *h->ring;
  if (h->held >= 0) {
    r.RxReleaseBlock(h->held);
    h->held = -1;
  }
  Napi::Uint32Array desc = info[1].As<Napi::Uint32Array>();
  const bool reinsert = info.Length() > 2 && info[2].ToBoolean().Value();
  const uint32_t cap = static_cast<uint32_t>(desc.ElementLength() / 4);
  uint32_t* d = desc.Data();
  int b = r.RxTakeBlock();
  if (b < 0) return Num(env, 0);
  h->held = b;
  const uint32_t vnet = r.options().vnetHdr ? PacketRing::kVnetHdrLen : 0;
  uint32_t n = 0;
  r.RxWalkBlock(b, [&](const RxFrameInfo& fi) {
    if (n >= cap) {
      Bump(r.counters().errors);  // descriptor array too small (JS sizes it from the block size)
      return;
    }
    uint32_t off = fi.offset, len = fi.len, vlan = fi.vlanTci;
    if (reinsert && vlan != PacketRing::kNoVlan && fi.headroom >= 4) {
      // Put the tag back in place: move the vnet header and the MAC addresses 4 bytes down.
      uint8_t* f = fi.frame;
      if (vnet) memmove(f - vnet - 4, f - vnet, vnet);
      memmove(f - 4, f, 12);
      uint16_t tpid = static_cast<uint16_t>(vlan >> 16), tci = static_cast<uint16_t>(vlan & 0xffff);
      f[8] = static_cast<uint8_t>(tpid >> 8);
      f[9] = static_cast<uint8_t>(tpid & 0xff);
      f[10] = static_cast<uint8_t>(tci >> 8);
      f[11] = static_cast<uint8_t>(tci & 0xff);
      off -= 4;
      len += 4;
    }
    d[n * 4] = off;
    d[n * 4 + 1] = len;
    d[n * 4 + 2] = vlan;
    d[n * 4 + 3] = fi.status;
    n++;
  });
  return Num(env, n);
}

Napi::Value PortRelease(const Napi::CallbackInfo& info) {
  PortHandle* h = OpenPort(info);
  if (h && h->held >= 0) h->ring->RxReleaseBlock(h->held);
  if (h) h->held = -1;
  return info.Env().Undefined();
}

// portSend(h, frames: Uint8Array[], vnet?: boolean) -> frames queued (then one kick), or -errno
// With vnet true (vnetHdr ports), each frame starts with its 10-byte virtio_net_hdr.
Napi::Value PortSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortHandle* h = OpenPort(info);
  if (!h) return Num(env, -EBADF);
  PacketRing& r = *h->ring;
  Napi::Array frames = info[1].As<Napi::Array>();
  const bool withVnet = info.Length() > 2 && info[2].ToBoolean().Value();
  const uint32_t n = frames.Length();
  uint32_t i = 0;
  int err = 0;
  for (; i < n; i++) {
    Napi::Value v = frames.Get(i);
    if (!v.IsTypedArray()) {
      err = -EINVAL;
      break;
    }
    Napi::Uint8Array f = v.As<Napi::Uint8Array>();
    int pr;
    if (withVnet) {
      if (f.ByteLength() < PacketRing::kVnetHdrLen + 14) {
        err = -EINVAL;
        break;
      }
      pr = r.TxPushVnet(f.Data(), f.Data() + PacketRing::kVnetHdrLen,
                        static_cast<uint32_t>(f.ByteLength() - PacketRing::kVnetHdrLen));
    } else {
      pr = r.TxPush(f.Data(), static_cast<uint32_t>(f.ByteLength()));
    }
    if (pr == -EAGAIN) break;
    if (pr < 0) {
      err = pr;
      break;
    }
  }
  int fr = r.Flush();
  if (i == 0 && err) return Num(env, err);
  if (i == 0 && fr < 0) return Num(env, fr);
  return Num(env, i);
}

Napi::Value PortFlush(const Napi::CallbackInfo& info) {
  PortHandle* h = OpenPort(info);
  if (!h) return Num(info.Env(), -EBADF);
  return Num(info.Env(), h->ring->Flush());
}

Napi::Value PortTxInFlight(const Napi::CallbackInfo& info) {
  PortHandle* h = OpenPort(info);
  return Num(info.Env(), h ? h->ring->TxInFlight() : 0);
}

// portAttachFilter(h, insns: Uint8Array (8 bytes per sock_filter)) -> 0 | -errno
Napi::Value PortAttachFilter(const Napi::CallbackInfo& info) {
  PortHandle* h = OpenPort(info);
  if (!h) return Num(info.Env(), -EBADF);
  Napi::Uint8Array a = info[1].As<Napi::Uint8Array>();
  size_t n = a.ByteLength() / sizeof(sock_filter);
  if (n > 4096 || a.ByteLength() % sizeof(sock_filter) != 0) return Num(info.Env(), -EINVAL);
  std::vector<sock_filter> prog(n);
  if (n) memcpy(prog.data(), a.Data(), n * sizeof(sock_filter));
  return Num(info.Env(), h->ring->AttachFilter(prog.data(), static_cast<uint16_t>(n)));
}

Napi::Value PortUpdateStats(const Napi::CallbackInfo& info) {
  PortHandle* h = OpenPort(info);
  return Num(info.Env(), h ? h->ring->UpdateKernelStats() : -EBADF);
}

// portStart(h, cb(kind, arg)) -> 0 | -errno : start the poll thread (kind 1: a block is ready,
// call portRecv until it returns 0, then portArm; kind 2: error arg = -errno, the thread exited).
Napi::Value PortStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PortHandle* h = OpenPort(info);
  if (!h) return Num(env, -EBADF);
  if (h->poller.started()) return Num(env, -EALREADY);
  PacketRing* r = h->ring.get();
  FdPollerOptions po;
  po.fd = r->fd();
  po.intervalMs = 100;
  po.errorOf = [r] {
    const int e = r->PendingError();
    return -(e ? e : ENETDOWN);
  };
  po.check = [r] {
    r->UpdateKernelStats();
    return 0;
  };
  po.ready = [r] { return r->hasRx() && r->RxPeekBlock() >= 0; };
  h->SetCallback(env, info[1].As<Napi::Function>(), "macdemux.port");
  return Num(env, h->poller.Start(std::move(po), [h](int kind, int arg) { h->EmitEvent(kind, arg); }));
}

Napi::Value PortArm(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  if (h) h->poller.Arm();
  return info.Env().Undefined();
}

// portRef(h, ref): keep (or stop keeping) the event loop alive while the poll thread runs.
Napi::Value PortRef(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  if (h) h->RefCallback(info.Env(), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value PortClose(const Napi::CallbackInfo& info) {
  PortHandle* h = Unwrap<PortHandle>(info, 0);
  if (h != nullptr) h->Close();
  return info.Env().Undefined();
}

}  // namespace

void InitPacketPort(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("portOpen", PortOpen);
  fn("portInfo", PortInfo);
  fn("portRingBuffer", PortRingBuffer);
  fn("portCounters", PortCountersFn);
  fn("portRecv", PortRecv);
  fn("portRelease", PortRelease);
  fn("portSend", PortSend);
  fn("portFlush", PortFlush);
  fn("portTxInFlight", PortTxInFlight);
  fn("portAttachFilter", PortAttachFilter);
  fn("portUpdateStats", PortUpdateStats);
  fn("portStart", PortStart);
  fn("portArm", PortArm);
  fn("portRef", PortRef);
  fn("portClose", PortClose);
}
