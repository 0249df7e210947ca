// The traffic sink for JavaScript (src/io/sink.ts).
#include <errno.h>

#include <cstdio>

#include "node/io_args.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"
#include "tools/sink.h"

namespace {

struct SinkHandle final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~SinkHandle() override { Close(); }
  void StopNative() override {
    if (sink) sink->StopAndJoin();
  }
  std::unique_ptr<Sink> sink;
};

std::string MacString(uint64_t mac) {
  char b[18];
  snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>((mac >> 40) & 0xff),
           static_cast<unsigned>((mac >> 32) & 0xff), static_cast<unsigned>((mac >> 24) & 0xff),
           static_cast<unsigned>((mac >> 16) & 0xff), static_cast<unsigned>((mac >> 8) & 0xff),
           static_cast<unsigned>(mac & 0xff));
  return b;
}

Napi::Value SinkStatsObject(Napi::Env env, const SinkStats& s) {
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* k, uint64_t v) { o.Set(k, Num(env, static_cast<double>(v))); };
  set("packets", s.packets);
  set("bytes", s.bytes);
  set("lost", s.lost);
  set("reordered", s.reordered);
  set("duplicates", s.duplicates);
  set("malformed", s.malformed);
  set("other", s.other);
  set("kernelDrops", s.kernelDrops);
  set("freezes", s.freezes);
  set("truncated", s.truncated);
  set("streams", s.streams);
  Napi::Object lat = Napi::Object::New(env);
  lat.Set("p50", Num(env, static_cast<double>(s.latencyP50Ns) / 1000.0));
  lat.Set("p99", Num(env, static_cast<double>(s.latencyP99Ns) / 1000.0));
  lat.Set("p999", Num(env, static_cast<double>(s.latencyP999Ns) / 1000.0));
  lat.Set("max", Num(env, static_cast<double>(s.latencyMaxNs) / 1000.0));
  lat.Set("samples", Num(env, static_cast<double>(s.latencySamples)));
  o.Set("latencyUs", lat);
  Napi::Object del = Napi::Object::New(env);
  del.Set("p50", Num(env, static_cast<double>(s.deliveryP50Ns) / 1000.0));
  del.Set("p99", Num(env, static_cast<double>(s.deliveryP99Ns) / 1000.0));
  del.Set("p999", Num(env, static_cast<double>(s.deliveryP999Ns) / 1000.0));
  del.Set("max", Num(env, static_cast<double>(s.deliveryMaxNs) / 1000.0));
  o.Set("deliveryLatencyUs", del);
  Napi::Object per = Napi::Object::New(env);
  for (auto& kv : s.perDst) per.Set(MacString(kv.first), Num(env, static_cast<double>(kv.second)));
  o.Set("perDst", per);
  o.Set("error", Num(env, -s.error));
  return o;
}

// sinkOpen(opts, detail?) -> handle | -errno
Napi::Value SinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  SinkOptions so;
  so.ring = ParseRingOptions(o);
  so.cpu = static_cast<int>(GetI64(o, "cpu", -1));
  auto* h = new SinkHandle(env);
  const char* step = nullptr;
  int r = Sink::Open(so, &h->sink, &step);
  if (r < 0) {
    SetErrorDetail(info, 1, step);
    delete h;
    return Num(env, r);
  }
  return NodeHandle::Wrap(env, h);
}

Napi::Value SinkStatsFn(const Napi::CallbackInfo& info) {
  SinkHandle* h = Unwrap<SinkHandle>(info, 0);
  return SinkStatsObject(info.Env(), h && h->sink ? h->sink->Stats() : SinkStats());
}

Napi::Value SinkReset(const Napi::CallbackInfo& info) {
  SinkHandle* h = Unwrap<SinkHandle>(info, 0);
  if (h && h->sink) h->sink->Reset();
  return info.Env().Undefined();
}

Napi::Value SinkClose(const Napi::CallbackInfo& info) {
  SinkHandle* h = Unwrap<SinkHandle>(info, 0);
  SinkStats s;
  if (h && h->sink) {
    h->Close();
    s = h->sink->Stats();
    h->sink->CloseRing();
  }
  return SinkStatsObject(info.Env(), s);
}

Napi::Value SinkCounters(const Napi::CallbackInfo& info) {
  SinkHandle* h = Unwrap<SinkHandle>(info, 0);
  if (!h || !h->sink) return info.Env().Null();
  return CountersBuffer(info.Env(), h->sink->sharedCounters());
}

}  // namespace

void InitSink(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("sinkOpen", SinkOpen);
  fn("sinkStats", SinkStatsFn);
  fn("sinkReset", SinkReset);
  fn("sinkClose", SinkClose);
  fn("sinkCounters", SinkCounters);
}
