// The traffic generator for JavaScript (src/io/generator.ts).
#include <errno.h>

#include <cstring>

#include "node/io_args.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"
#include "tools/generator.h"

namespace {

// onDone (the handle's callback) fires on the generator thread once it finished sending.
struct GeneratorHandle final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~GeneratorHandle() override { Close(); }
  void StopNative() override {
    if (!gen) return;
    gen->RequestStop();
    gen->Join();
  }
  std::unique_ptr<Generator> gen;
};

Napi::Object GeneratorStatsObject(Napi::Env env, const GeneratorStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sent", Num(env, static_cast<double>(s.sent)));
  o.Set("bytes", Num(env, static_cast<double>(s.bytes)));
  o.Set("backpressure", Num(env, static_cast<double>(s.backpressure)));
  o.Set("elapsedNs", Num(env, static_cast<double>(s.elapsedNs)));
  o.Set("error", Num(env, -s.error));
  return o;
}

// genStart(opts, onDone, detail?) -> handle | -errno
Napi::Value GenStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  GeneratorOptions go;
  go.ring = ParseRingOptions(o);
  go.ratePps = static_cast<uint64_t>(GetI64(o, "ratePps", 0));
  go.count = static_cast<uint64_t>(GetI64(o, "count", 0));
  go.durationNs = static_cast<uint64_t>(GetI64(o, "durationMs", 0)) * 1000000ull;
  go.cpu = static_cast<int>(GetI64(o, "cpu", -1));
  go.streamBase = GetU32(o, "streamBase", 0);
  go.burst = GetU32(o, "burst", 64);
  Napi::Array ts = o.Get("templates").As<Napi::Array>();
  for (uint32_t i = 0; i < ts.Length(); i++) {
    Napi::Object t = ts.Get(i).As<Napi::Object>();
    GeneratorTemplate gt;
    Napi::Uint8Array dst = t.Get("dst").As<Napi::Uint8Array>(), src = t.Get("src").As<Napi::Uint8Array>();
    if (dst.ByteLength() != 6 || src.ByteLength() != 6) return Num(env, -EINVAL);
    memcpy(gt.dst, dst.Data(), 6);
    memcpy(gt.src, src.Data(), 6);
    gt.vlan = static_cast<int>(GetI64(t, "vlan", -1));
    gt.size = GetU32(t, "size", 60);
    go.templates.push_back(gt);
  }
  auto* h = new GeneratorHandle(env);
  h->SetCallback(env, info[1].As<Napi::Function>(), "macdemux.generator");
  const char* step = nullptr;
  int r = Generator::Start(go, [h] { h->EmitEvent(0, 0); }, &h->gen, &step);
  if (r < 0) {
    SetErrorDetail(info, 2, step);
    delete h;
    return Num(env, r);
  }
  return NodeHandle::Wrap(env, h);
}

Napi::Value GenStop(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = Unwrap<GeneratorHandle>(info, 0);
  if (h && h->gen) h->gen->RequestStop();
  return info.Env().Undefined();
}

Napi::Value GenStats(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = Unwrap<GeneratorHandle>(info, 0);
  return GeneratorStatsObject(info.Env(), h && h->gen ? h->gen->Stats() : GeneratorStats());
}

// genJoin(handle): waits for the thread (call after onDone fired), returns final stats.
Napi::Value GenJoin(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = Unwrap<GeneratorHandle>(info, 0);
  GeneratorStats s;
  if (h && h->gen) {
    h->gen->Join();
    s = h->gen->Stats();
    h->gen->CloseRing();
  }
  if (h) h->Close();
  return GeneratorStatsObject(info.Env(), s);
}

Napi::Value GenCounters(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = Unwrap<GeneratorHandle>(info, 0);
  if (!h || !h->gen) return info.Env().Null();
  return CountersBuffer(info.Env(), h->gen->sharedCounters());
}

}  // namespace

void InitGenerator(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("genStart", GenStart);
  fn("genStop", GenStop);
  fn("genStats", GenStats);
  fn("genJoin", GenJoin);
  fn("genCounters", GenCounters);
}
