// TapQueue for JavaScript: macvtap / tun-tap queues with batched read/write and a poll thread.
#include <errno.h>

#include <vector>

#include "io/fd_poller.h"
#include "io/tap_queue.h"
#include "node/io_args.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"

namespace {

struct TapHandle final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~TapHandle() override { Close(); }
  void StopNative() override {
    poller.Stop();
    q.reset();
  }
  std::unique_ptr<TapQueue> q;
  FdPoller poller;
};

// The queue behind argument 0 while it is open, else nullptr.
TapHandle* OpenTap(const Napi::CallbackInfo& info) {
  TapHandle* h = Unwrap<TapHandle>(info, 0);
  return h && h->q ? h : nullptr;
}

// tapOpen({ ifname, netns, tun, vnetHdr, vnetHdrSize, offloads, queues, multiQueue }, detail?) -> handle[] | -errno
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  TapOptions t;
  t.ifname = GetStr(o, "ifname");
  t.netns = GetStr(o, "netns");
  t.tun = GetBool(o, "tun", false);
  t.vnetHdr = GetBool(o, "vnetHdr", true);
  t.vnetHdrSize = static_cast<int>(GetI64(o, "vnetHdrSize", 10));
  t.offloads = static_cast<int>(GetI64(o, "offloads", -1));
  t.queues = static_cast<int>(GetI64(o, "queues", 1));
  t.multiQueue = static_cast<int>(GetI64(o, "multiQueue", -1));
  std::vector<std::unique_ptr<TapQueue>> qs;
  const char* step = nullptr;
  int r = TapQueue::Open(t, &qs, &step);
  if (r < 0) {
    SetErrorDetail(info, 1, step);
    return Num(env, r);
  }
  Napi::Array out = Napi::Array::New(env, qs.size());
  for (size_t i = 0; i < qs.size(); i++) {
    auto* h = new TapHandle(env);
    h->q = std::move(qs[i]);
    out.Set(static_cast<uint32_t>(i), NodeHandle::Wrap(env, h));
  }
  return out;
}

Napi::Value TapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TapHandle* h = OpenTap(info);
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Num(env, h ? h->q->fd() : -1));
  o.Set("ifindex", Num(env, h ? h->q->ifindex() : 0));
  o.Set("vnetHdrSize", Num(env, h ? h->q->vnetHdrSize() : 0));
  return o;
}

Napi::Value TapCounters(const Napi::CallbackInfo& info) {
  TapHandle* h = OpenTap(info);
  if (!h) return info.Env().Null();
  return CountersBuffer(info.Env(), h->q->sharedCounters());
}

// tapRead(h, buf, slotSize, lens) -> frames read (0 = none ready) | -errno
Napi::Value TapRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TapHandle* h = OpenTap(info);
  if (!h) return Num(env, -EBADF);
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
  Napi::Uint32Array lens = info[3].As<Napi::Uint32Array>();
  if (slot == 0) return Num(env, -EINVAL);
  uint32_t max = static_cast<uint32_t>(buf.ByteLength() / slot);
  if (max > lens.ElementLength()) max = static_cast<uint32_t>(lens.ElementLength());
  return Num(env, h->q->ReadBatch(buf.Data(), slot, max, lens.Data()));
}

// tapWrite(h, frames: Uint8Array[]) -> frames written | -errno
Napi::Value TapWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TapHandle* h = OpenTap(info);
  if (!h) return Num(env, -EBADF);
  Napi::Array frames = info[1].As<Napi::Array>();
  uint32_t n = frames.Length();
  std::vector<const uint8_t*> ptrs(n);
  std::vector<uint32_t> lens(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = frames.Get(i);
    if (!v.IsTypedArray()) return Num(env, -EINVAL);
    Napi::Uint8Array f = v.As<Napi::Uint8Array>();
    ptrs[i] = f.Data();
    lens[i] = static_cast<uint32_t>(f.ByteLength());
  }
  return Num(env, h->q->WriteBatch(ptrs.data(), lens.data(), n));
}

Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  TapHandle* h = OpenTap(info);
  if (!h) return Num(info.Env(), -EBADF);
  return Num(info.Env(), h->q->SetOffload(info[1].As<Napi::Number>().Uint32Value()));
}

Napi::Value TapSetQueueEnabled(const Napi::CallbackInfo& info) {
  TapHandle* h = OpenTap(info);
  if (!h) return Num(info.Env(), -EBADF);
  return Num(info.Env(), h->q->SetQueueEnabled(info[1].ToBoolean().Value()));
}

Napi::Value TapStart(const Napi::CallbackInfo& info) {
  TapHandle* h = OpenTap(info);
  if (!h) return Num(info.Env(), -EBADF);
  if (h->poller.started()) return Num(info.Env(), -EALREADY);
  TapQueue* q = h->q.get();
  FdPollerOptions po;
  po.fd = q->fd();
  po.errorOf = [] { return -ENODEV; };  // a queue whose device is gone polls POLLERR/POLLHUP
  po.check = [q] { return q->CheckDevice(); };
  h->SetCallback(info.Env(), info[1].As<Napi::Function>(), "macdemux.poller");
  return Num(info.Env(), h->poller.Start(std::move(po), [h](int kind, int arg) { h->EmitEvent(kind, arg); }));
}

Napi::Value TapArm(const Napi::CallbackInfo& info) {
  TapHandle* h = Unwrap<TapHandle>(info, 0);
  if (h) h->poller.Arm();
  return info.Env().Undefined();
}

Napi::Value TapRef(const Napi::CallbackInfo& info) {
  TapHandle* h = Unwrap<TapHandle>(info, 0);
  if (h) h->RefCallback(info.Env(), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value TapClose(const Napi::CallbackInfo& info) {
  TapHandle* h = Unwrap<TapHandle>(info, 0);
  if (h != nullptr) h->Close();
  return info.Env().Undefined();
}

// tapDetach(h) -> fd: stop polling and hand the fd over (the caller owns it from now on).
Napi::Value TapDetach(const Napi::CallbackInfo& info) {
  TapHandle* h = OpenTap(info);
  if (!h) return Num(info.Env(), -EBADF);
  h->poller.Stop();
  int fd = h->q->Detach();
  h->Close();
  return Num(info.Env(), fd);
}

}  // namespace

void InitTapQueue(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("tapOpen", TapOpen);
  fn("tapInfo", TapInfo);
  fn("tapCounters", TapCounters);
  fn("tapRead", TapRead);
  fn("tapWrite", TapWrite);
  fn("tapSetOffload", TapSetOffload);
  fn("tapSetQueueEnabled", TapSetQueueEnabled);
  fn("tapStart", TapStart);
  fn("tapArm", TapArm);
  fn("tapRef", TapRef);
  fn("tapClose", TapClose);
  fn("tapDetach", TapDetach);
}
