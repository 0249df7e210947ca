// JavaScript bindings of the packet I/O module: generator, sink, packet ports, tap queues.
// Conventions: functions return a handle object or a number; a negative number is -errno and
// ioLastFailedStep() names the step that failed (socket, bind, setsockopt(PACKET_RX_RING), ...).
// Input is validated in TypeScript (src/io/); here only types are coerced with defaults.
#include <errno.h>

#include <cstdio>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "generator.h"
#include "io_binding_util.h"
#include "modules.h"
#include "napi_util.h"
#include "poll_thread.h"
#include "sink.h"

std::string g_lastFailedStep;

void SetLastFailedStep(const char* step) { g_lastFailedStep = step ? step : ""; }

uint32_t GetU32(const Napi::Object& o, const char* k, uint32_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : d;
}
int64_t GetI64(const Napi::Object& o, const char* k, int64_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : d;
}
bool GetBool(const Napi::Object& o, const char* k, bool d) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : d;
}
std::string GetStr(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

RingOptions ParseRingOptions(const Napi::Object& o) {
  RingOptions r;
  r.ifname = GetStr(o, "ifname");
  r.netns = GetStr(o, "netns");
  r.blockSize = GetU32(o, "blockSize", r.blockSize);
  r.blockCount = GetU32(o, "blockCount", r.blockCount);
  r.frameSize = GetU32(o, "frameSize", r.frameSize);
  r.retireTovMs = GetU32(o, "retireTovMs", r.retireTovMs);
  r.txFrameSize = GetU32(o, "txFrameSize", r.txFrameSize);
  r.txFrameCount = GetU32(o, "txFrameCount", r.txFrameCount);
  r.rx = GetBool(o, "rx", r.rx);
  r.tx = GetBool(o, "tx", r.tx);
  r.promisc = GetBool(o, "promisc", r.promisc);
  r.qdiscBypass = GetBool(o, "qdiscBypass", r.qdiscBypass);
  r.ignoreOutgoing = GetBool(o, "ignoreOutgoing", r.ignoreOutgoing);
  r.vnetHdr = GetBool(o, "vnetHdr", r.vnetHdr);
  r.auxVlan = GetBool(o, "auxVlan", r.auxVlan);
  r.fanoutGroup = static_cast<int>(GetI64(o, "fanoutGroup", r.fanoutGroup));
  r.fanoutMode = static_cast<int>(GetI64(o, "fanoutMode", r.fanoutMode));
  Napi::Value f = o.Get("filter");
  if (f.IsTypedArray()) {
    Napi::Uint8Array a = f.As<Napi::Uint8Array>();
    size_t n = a.ByteLength() / sizeof(sock_filter);
    r.filter.resize(n);
    if (n) memcpy(r.filter.data(), a.Data(), n * sizeof(sock_filter));
  }
  return r;
}

std::string MacString(uint64_t mac) {
  char b[18];
  snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>((mac >> 40) & 0xff),
           static_cast<unsigned>((mac >> 32) & 0xff), static_cast<unsigned>((mac >> 24) & 0xff),
           static_cast<unsigned>((mac >> 16) & 0xff), static_cast<unsigned>((mac >> 8) & 0xff),
           static_cast<unsigned>(mac & 0xff));
  return b;
}

Napi::ArrayBuffer CountersBuffer(Napi::Env env, const std::shared_ptr<PortCounters>& c) {
  auto* hold = new std::shared_ptr<PortCounters>(c);
  return Napi::ArrayBuffer::New(env, c.get(), sizeof(PortCounters),
                                [](Napi::Env, void*, std::shared_ptr<PortCounters>* h) { delete h; }, hold);
}

// ------------------------------------------------------------------------------------------
// Generator

namespace {

struct GeneratorHandle : NativeWorker {
  napi_env env = nullptr;
  std::unique_ptr<Generator> gen;
  Napi::ThreadSafeFunction tsfn;
  bool hooked = false;
  bool tsfnLive = false;
  void StopAndJoin() override {
    if (gen) {
      gen->RequestStop();
      gen->Join();
    }
    if (tsfnLive) {
      tsfn.Abort();
      tsfnLive = false;
    }
    if (hooked) {
      UnregisterWorkerCleanup(env, this);
      hooked = false;
    }
  }
  ~GeneratorHandle() override { StopAndJoin(); }
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

GeneratorHandle* GenFrom(const Napi::Value& v) { return v.As<Napi::External<GeneratorHandle>>().Data(); }

// genStart(opts, onDone) -> handle | -errno
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
  auto* h = new GeneratorHandle();
  h->env = env;
  h->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "macdemux.generator", 0, 1);
  h->tsfnLive = true;
  const char* step = nullptr;
  GeneratorHandle* hp = h;
  int r = Generator::Start(
      go,
      [hp] {
        hp->tsfn.NonBlockingCall([](Napi::Env e, Napi::Function cb) { SafeCall(e, cb, {}); });
      },
      &h->gen, &step);
  if (r < 0) {
    SetLastFailedStep(step);
    h->tsfn.Release();
    h->tsfnLive = false;
    delete h;
    return Num(env, r);
  }
  RegisterWorkerCleanup(env, h);
  h->hooked = true;
  return Napi::External<GeneratorHandle>::New(env, h, [](Napi::Env, GeneratorHandle* p) { delete p; });
}

Napi::Value GenStop(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = GenFrom(info[0]);
  if (h->gen) h->gen->RequestStop();
  return info.Env().Undefined();
}

Napi::Value GenStats(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = GenFrom(info[0]);
  return GeneratorStatsObject(info.Env(), h->gen ? h->gen->Stats() : GeneratorStats());
}

// genJoin(handle): waits for the thread (call after onDone fired), returns final stats.
Napi::Value GenJoin(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = GenFrom(info[0]);
  GeneratorStats s;
  if (h->gen) {
    h->gen->Join();
    s = h->gen->Stats();
    h->gen->CloseRing();
  }
  if (h->tsfnLive) {
    h->tsfn.Release();
    h->tsfnLive = false;
  }
  if (h->hooked) {
    UnregisterWorkerCleanup(h->env, h);
    h->hooked = false;
  }
  return GeneratorStatsObject(info.Env(), s);
}

Napi::Value GenCounters(const Napi::CallbackInfo& info) {
  GeneratorHandle* h = GenFrom(info[0]);
  return CountersBuffer(info.Env(), h->gen->sharedCounters());
}

// ------------------------------------------------------------------------------------------
// Sink

struct SinkHandle : NativeWorker {
  napi_env env = nullptr;
  std::unique_ptr<Sink> sink;
  bool hooked = false;
  void StopAndJoin() override {
    if (sink) sink->StopAndJoin();
    if (hooked) {
      UnregisterWorkerCleanup(env, this);
      hooked = false;
    }
  }
  ~SinkHandle() override { StopAndJoin(); }
};

SinkHandle* SinkFrom(const Napi::Value& v) { return v.As<Napi::External<SinkHandle>>().Data(); }

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

Napi::Value SinkOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  SinkOptions so;
  so.ring = ParseRingOptions(o);
  so.cpu = static_cast<int>(GetI64(o, "cpu", -1));
  auto* h = new SinkHandle();
  h->env = env;
  const char* step = nullptr;
  int r = Sink::Open(so, &h->sink, &step);
  if (r < 0) {
    SetLastFailedStep(step);
    delete h;
    return Num(env, r);
  }
  RegisterWorkerCleanup(env, h);
  h->hooked = true;
  return Napi::External<SinkHandle>::New(env, h, [](Napi::Env, SinkHandle* p) { delete p; });
}

Napi::Value SinkStatsFn(const Napi::CallbackInfo& info) {
  SinkHandle* h = SinkFrom(info[0]);
  return SinkStatsObject(info.Env(), h->sink ? h->sink->Stats() : SinkStats());
}

Napi::Value SinkReset(const Napi::CallbackInfo& info) {
  SinkHandle* h = SinkFrom(info[0]);
  if (h->sink) h->sink->Reset();
  return info.Env().Undefined();
}

Napi::Value SinkClose(const Napi::CallbackInfo& info) {
  SinkHandle* h = SinkFrom(info[0]);
  SinkStats s;
  if (h->sink) {
    h->StopAndJoin();
    s = h->sink->Stats();
    h->sink->CloseRing();
  }
  return SinkStatsObject(info.Env(), s);
}

Napi::Value SinkCounters(const Napi::CallbackInfo& info) {
  SinkHandle* h = SinkFrom(info[0]);
  return CountersBuffer(info.Env(), h->sink->sharedCounters());
}

Napi::Value LastFailedStep(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), g_lastFailedStep);
}

Napi::Value CounterNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), kPortCounterCount);
  for (uint32_t i = 0; i < kPortCounterCount; i++) a.Set(i, Napi::String::New(info.Env(), kPortCounterNames[i]));
  return a;
}


// ------------------------------------------------------------------------------------------
// Micro-benchmark helpers (bench/micro/io.bench.ts): the cost of handing batches to JS.

// ioBenchBatch(desc: Uint32Array, n, frameLen): writes n synthetic descriptors (as portRecv does)
Napi::Value BenchBatch(const Napi::CallbackInfo& info) {
  Napi::Uint32Array desc = info[0].As<Napi::Uint32Array>();
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  uint32_t len = info[2].As<Napi::Number>().Uint32Value();
  if (static_cast<size_t>(n) * 4 > desc.ElementLength()) n = static_cast<uint32_t>(desc.ElementLength() / 4);
  uint32_t* d = desc.Data();
  for (uint32_t i = 0; i < n; i++) {
    d[i * 4] = i * 128;
    d[i * 4 + 1] = len;
    d[i * 4 + 2] = 0xffffffffu;
    d[i * 4 + 3] = 1;
  }
  return Num(info.Env(), n);
}

struct BenchTsfn : NativeWorker {
  napi_env env = nullptr;
  Napi::ThreadSafeFunction tsfn;
  std::thread thread;
  std::atomic<bool> stop{false};
  bool hooked = false, live = false;
  uint32_t n = 1;
  void StopAndJoin() override {
    stop.store(true);
    if (live) {
      tsfn.Abort();  // unblocks a BlockingCall waiting for queue room
      live = false;
    }
    if (thread.joinable()) thread.join();
    if (hooked) {
      UnregisterWorkerCleanup(env, this);
      hooked = false;
    }
  }
  ~BenchTsfn() override { StopAndJoin(); }
};

// ioBenchTsfnStart(n, cb(n)) -> handle: a native thread calls cb with batches of n as fast as JS takes them
Napi::Value BenchTsfnStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* b = new BenchTsfn();
  b->env = env;
  b->n = info[0].As<Napi::Number>().Uint32Value();
  b->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "macdemux.bench", 2, 1);
  b->live = true;
  b->thread = std::thread([b] {
    while (!b->stop.load()) {
      napi_status st = b->tsfn.BlockingCall([n = b->n](Napi::Env e, Napi::Function cb) {
        SafeCall(e, cb, {Num(e, n)});
      });
      if (st != napi_ok) break;
    }
  });
  RegisterWorkerCleanup(env, b);
  b->hooked = true;
  return Napi::External<BenchTsfn>::New(env, b, [](Napi::Env, BenchTsfn* p) { delete p; });
}

Napi::Value BenchTsfnStop(const Napi::CallbackInfo& info) {
  BenchTsfn* b = info[0].As<Napi::External<BenchTsfn>>().Data();
  if (b != nullptr) b->StopAndJoin();
  return info.Env().Undefined();
}

}  // namespace

void InitPacketIo(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("ioLastFailedStep", LastFailedStep);
  fn("ioCounterNames", CounterNames);
  fn("genStart", GenStart);
  fn("genStop", GenStop);
  fn("genStats", GenStats);
  fn("genJoin", GenJoin);
  fn("genCounters", GenCounters);
  fn("sinkOpen", SinkOpen);
  fn("sinkStats", SinkStatsFn);
  fn("sinkReset", SinkReset);
  fn("sinkClose", SinkClose);
  fn("sinkCounters", SinkCounters);
  fn("ioBenchBatch", BenchBatch);
  fn("ioBenchTsfnStart", BenchTsfnStart);
  fn("ioBenchTsfnStop", BenchTsfnStop);
  InitPacketPort(env, exports);
  InitTapQueue(env, exports);
  InitRelay(env, exports);
}
