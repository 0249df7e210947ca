// JS exports of the demux engine (types: src/dataplane/native-types.ts). Fallible calls take an
// error detail object as their last argument (napi_args.h).
#include <sched.h>

#include <cerrno>
#include <memory>
#include <string>

#include "dataplane/backends/packet_backend.h"
#include "dataplane/backends/tap_backend.h"
#include "dataplane/engine.h"
#include "node/js_port_backend.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"

using namespace mdx;

namespace {

// The engine stops (and its workers are joined) when the handle is closed: engineDestroy, the
// environment's cleanup hook, or garbage collection.
struct EngineHandle final : NodeHandle {
  explicit EngineHandle(napi_env env, std::unique_ptr<Engine> e) : NodeHandle(env), engine(std::move(e)) {}
  ~EngineHandle() override { Close(); }
  void StopNative() override { engine.reset(); }
  std::unique_ptr<Engine> engine;
};

Engine* EngineArg(const Napi::CallbackInfo& info) {
  EngineHandle* h = Unwrap<EngineHandle>(info, 0);
  return h ? h->engine.get() : nullptr;
}

// engineCreate(opts, detail?) -> External | -errno
Napi::Value EngineCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return Num(env, -EINVAL);
  Napi::Object o = info[0].As<Napi::Object>();
  EngineOptions eo;
  eo.uplink = GetStr(o, "uplink");
  eo.netns = GetStr(o, "netns");
  eo.workers = int(GetU32(o, "workers", 1));
  eo.maxSlots = GetU32(o, "maxSlots", 8192);
  eo.learning = GetBool(o, "learning", false);
  eo.ageingMs = GetU32(o, "ageingMs", 300000);
  eo.fanoutGroup = int(GetU32(o, "fanoutGroup", 0));
  eo.promisc = GetBool(o, "promisc", true);
  eo.qdiscBypass = GetBool(o, "qdiscBypass", false);
  eo.portTxCopy = GetBool(o, "portTxCopy", false);
  eo.tc = GetStr(o, "backend") == "tc";
  eo.xdp = GetStr(o, "backend") == "xdp" || eo.tc;
  eo.xdpGeneric = GetBool(o, "xdpGeneric", false);
  eo.xdpSockets = !eo.tc && GetBool(o, "xdpSockets", true);
  eo.tcPeer = GetBool(o, "tcPeer", true);
  eo.uplinkBlockSize = GetU32(o, "ringBlockSize", eo.uplinkBlockSize);
  eo.uplinkBlocks = GetU32(o, "ringBlocks", eo.uplinkBlocks);
  eo.uplinkTxFrames = GetU32(o, "txFrames", eo.uplinkTxFrames);
  eo.rxMode = int(GetU32(o, "rxMode", 0));
  eo.realtimePriority = int(GetU32(o, "realtimePriority", 0));
  eo.spinUs = GetU32(o, "spinUs", eo.spinUs);
  eo.uplinkRollover = GetU32(o, "rxRollover", eo.uplinkRollover ? 1 : 0) != 0;
  eo.sliceUs = GetU32(o, "sliceUs", eo.sliceUs);
  eo.uplinkSlots = GetU32(o, "ringSlots", eo.uplinkSlots);
  Napi::Value cpus = o.Get("cpus");
  if (cpus.IsArray()) {
    Napi::Array a = cpus.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (v.IsNumber() && v.As<Napi::Number>().Int32Value() >= 0 && v.As<Napi::Number>().Int32Value() < CPU_SETSIZE)
        eo.cpus.push_back(v.As<Napi::Number>().Int32Value());
    }
  }
  std::unique_ptr<Engine> e;
  std::string err;
  const int rc = Engine::Create(eo, &e, &err);
  if (rc < 0) {
    SetErrorDetail(info, 1, err);
    return Num(env, rc);
  }
  return NodeHandle::Wrap(env, new EngineHandle(env, std::move(e)));
}

// engineXdpState(h) -> "" (AF_PACKET only) | "native" | "generic" | why the program passes everything
Napi::Value EngineXdpState(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  return Napi::String::New(info.Env(), e ? e->xdpState() : std::string());
}

// engineXdpStats(h) -> number[] (the XDP program's counters, xdp/xdp_maps.h MDX_ST_*) | -errno
Napi::Value EngineXdpStats(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e) return Num(info.Env(), -EBADF);
  XdpStats s;
  const int rc = e->XdpStatsRead(&s);
  if (rc < 0) return Num(info.Env(), rc);
  Napi::Array a = Napi::Array::New(info.Env(), MDX_ST_COUNT);
  for (uint32_t i = 0; i < MDX_ST_COUNT; i++) a.Set(i, Num(info.Env(), double(s.words[i])));
  return a;
}

Napi::Value EngineStart(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  return Num(info.Env(), e ? e->Start() : -EBADF);
}

Napi::Value EngineStop(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  return Num(info.Env(), e ? e->Stop() : -EBADF);
}

Napi::Value EngineDestroy(const Napi::CallbackInfo& info) {
  EngineHandle* h = Unwrap<EngineHandle>(info, 0);
  if (!h || !h->engine) return Num(info.Env(), -EBADF);
  h->Close();
  return Num(info.Env(), 0);
}

// engineSetTable(e, blob, detail?) -> 0 | -errno
Napi::Value EngineSetTable(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  uint8_t* blob;
  size_t len;
  if (!e || !TypedArg(info, 1, napi_uint8_array, &blob, &len)) return Num(info.Env(), -EINVAL);
  std::string err;
  const int rc = e->SetTable(blob, len, &err);
  if (rc < 0) SetErrorDetail(info, 2, err);
  return Num(info.Env(), rc);
}

// engineAttachPacket(e, slot, ifname, { ringBlockSize, ringBlocks, txFrames }, detail?) -> 0 | -errno
Napi::Value EngineAttachPacket(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) return Num(info.Env(), -EINVAL);
  uint32_t bs = 0, nb = 0, tx = 0;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    bs = GetU32(o, "ringBlockSize", 0);
    nb = GetU32(o, "ringBlocks", 0);
    tx = GetU32(o, "txFrames", 0);
  }
  const std::string ifname = info[2].As<Napi::String>().Utf8Value();
  std::unique_ptr<PortBackend> b;
  const char* step = nullptr;
  const FrameRingOptions fo = e->PortFrameRingOptions(ifname, bs, nb);
  int rc = PacketBackend::Open(e->PortRingOptions(ifname, bs, nb, tx), e->options().rxMode != 3 ? &fo : nullptr,
                               e->options().portTxCopy, &b, &step);
  std::string err;
  if (rc < 0)
    err = std::string("port \"") + ifname + "\": " + (step ? step : "open");
  else
    rc = e->Attach(info[1].As<Napi::Number>().Uint32Value(), std::move(b), &err);
  if (rc < 0) SetErrorDetail(info, 4, err);
  return Num(info.Env(), rc);
}

// engineAttachJs(e, slot, cb(data, offsets, lengths, count), detail?) -> 0 | -errno
Napi::Value EngineAttachJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = EngineArg(info);
  if (!e || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsFunction()) return Num(env, -EINVAL);
  napi_threadsafe_function tsfn = NewJsBatchCallback(env, info[2]);
  if (tsfn == nullptr) return Num(env, -ENOMEM);
  std::string err;
  // The backend owns the callback from here (released when the port is detached or fails to attach).
  const int rc = e->Attach(info[1].As<Napi::Number>().Uint32Value(), std::unique_ptr<PortBackend>(new JsPortBackend(tsfn)), &err);
  if (rc < 0) SetErrorDetail(info, 3, err);
  return Num(env, rc);
}

// engineAttachTap(e, slot, ifname, queues, detail?) -> 0 | -errno
Napi::Value EngineAttachTap(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) return Num(info.Env(), -EINVAL);
  std::unique_ptr<PortBackend> b;
  std::string err;
  int rc = TapBackend::Open(e->PortTapOptions(info[2].As<Napi::String>().Utf8Value(), int(OptInt(info, 3, 1))), &b, &err);
  if (rc == 0) rc = e->Attach(info[1].As<Napi::Number>().Uint32Value(), std::move(b), &err);
  if (rc < 0) SetErrorDetail(info, 4, err);
  return Num(info.Env(), rc);
}

Napi::Value EngineDetach(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e || info.Length() < 2 || !info[1].IsNumber()) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), e->Detach(info[1].As<Napi::Number>().Uint32Value()));
}

// engineReplaceUplink(e, detail?) -> 0 | -errno
Napi::Value EngineReplaceUplink(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e) return Num(info.Env(), -EBADF);
  std::string err;
  const int rc = e->ReplaceUplink(&err);
  if (rc < 0) SetErrorDetail(info, 1, err);
  return Num(info.Env(), rc);
}

// engineRefreshTcPeers(e, detail?, slot?) -> ports whose tc delivery changed | -errno (slot 0 or
// absent: every port)
Napi::Value EngineRefreshTcPeers(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e) return Num(info.Env(), -EBADF);
  std::string err;
  const int rc = e->RefreshTcPeers(uint32_t(OptInt(info, 2, 0)), &err);
  if (rc < 0) SetErrorDetail(info, 1, err);
  return Num(info.Env(), rc);
}

// engineTcPeer(e, slot) -> 1 (the tc program delivers into the port's veth peer) | 0 | -errno
Napi::Value EngineTcPeer(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  if (!e) return Num(info.Env(), -EBADF);
  if (info.Length() < 2 || !info[1].IsNumber()) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), e->TcPeer(info[1].As<Napi::Number>().Uint32Value()));
}

// engineOnEvent(e, cb(kind, slot, queue, errno, worker)): fd events (dataplane/engine.h FdEventKind),
// through the handle's callback (it does not keep the process alive).
Napi::Value EngineOnEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineHandle* h = Unwrap<EngineHandle>(info, 0);
  if (!h || !h->engine || info.Length() < 2 || !info[1].IsFunction() || h->hasCallback()) return Num(env, -EINVAL);
  h->SetCallback(env, info[1].As<Napi::Function>(), "macdemux-engine-events", 1024);
  h->RefCallback(env, false);
  h->engine->SetEventHandler([h](const FdEvent& ev) {
    auto* copy = new FdEvent(ev);
    if (h->callback().NonBlockingCall(copy, [](Napi::Env env, Napi::Function cb, FdEvent* e) {
          SafeCall(env, cb, {Napi::Number::New(env, int32_t(e->kind)), Napi::Number::New(env, e->slot),
                             Napi::Number::New(env, e->queue), Napi::Number::New(env, e->error),
                             Napi::Number::New(env, e->worker)});
          delete e;
        }) != napi_ok)
      delete copy;
  });
  return Num(env, 0);
}

// engineInject(e, slot, data, offsets, lengths) -> frames accepted
Napi::Value EngineInject(const Napi::CallbackInfo& info) {
  Engine* e = EngineArg(info);
  uint8_t* data;
  uint32_t *offs, *lens;
  size_t nd, no, nl;
  if (!e || info.Length() < 5 || !info[1].IsNumber() || !TypedArg(info, 2, napi_uint8_array, &data, &nd) ||
      !TypedArg(info, 3, napi_uint32_array, &offs, &no) || !TypedArg(info, 4, napi_uint32_array, &lens, &nl) ||
      no != nl)
    return Num(info.Env(), -EINVAL);
  return Num(info.Env(), e->Inject(info[1].As<Napi::Number>().Uint32Value(), data, nd, offs, lens, uint32_t(no)));
}

// engineCounters(e) -> BigUint64Array over the engine's counter memory (stays valid after destroy)
Napi::Value EngineCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = EngineArg(info);
  if (!e) return env.Undefined();
  auto* keep = new std::shared_ptr<std::vector<uint64_t>>(e->sharedCounters());
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, (*keep)->data(), (*keep)->size() * 8,
      [](Napi::Env, void*, std::shared_ptr<std::vector<uint64_t>>* k) { delete k; }, keep);
  napi_value arr;
  napi_create_typedarray(env, napi_biguint64_array, (*keep)->size(), ab, 0, &arr);
  return Napi::Value(env, arr);
}

Napi::Value EngineLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = EngineArg(info);
  if (!e) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("headerWords", Num(env, kHeaderWords));
  o.Set("workerWords", Num(env, kWorkerWords));
  o.Set("slotWords", Num(env, kSlotWords));
  o.Set("workers", Num(env, e->options().workers));
  o.Set("maxSlots", Num(env, e->options().maxSlots));
  o.Set("uplinkMtu", Num(env, e->uplinkMtu()));
  Napi::Object wf = Napi::Object::New(env);
  wf.Set("loops", Num(env, kWLoops));
  wf.Set("rxFrames", Num(env, kWRxFrames));
  wf.Set("forwarded", Num(env, kWForwarded));
  wf.Set("egressCopies", Num(env, kWEgressCopies));
  wf.Set("txDropped", Num(env, kWTxDropped));
  wf.Set("tableSwaps", Num(env, kWTableSwaps));
  wf.Set("drops", Num(env, kWDrops));
  wf.Set("softCsums", Num(env, kWSoftCsums));
  wf.Set("softGsoFrames", Num(env, kWSoftGsoFrames));
  wf.Set("softSegments", Num(env, kWSoftSegments));
  wf.Set("softRefused", Num(env, kWSoftRefused));
  wf.Set("fdErrors", Num(env, kWFdErrors));
  wf.Set("fdDisarmed", Num(env, kWFdDisarmed));
  wf.Set("uplinkSwaps", Num(env, kWUplinkSwaps));
  wf.Set("rxModeSwitches", Num(env, kWRxModeSwitches));
  wf.Set("rxMode", Num(env, kWRxMode));
  wf.Set("sleeps", Num(env, kWSleeps));
  wf.Set("rxRemaps", Num(env, kWRxRemaps));
  wf.Set("rxV2Drops", Num(env, kWRxV2Drops));
  wf.Set("rxV3Drops", Num(env, kWRxV3Drops));
  wf.Set("rxRollovers", Num(env, kWRxRollovers));
  wf.Set("spins", Num(env, kWSpins));
  o.Set("workerFields", wf);
  Napi::Object sf = Napi::Object::New(env);
  sf.Set("rxPackets", Num(env, kSRxPackets));
  sf.Set("rxBytes", Num(env, kSRxBytes));
  sf.Set("txPackets", Num(env, kSTxPackets));
  sf.Set("txBytes", Num(env, kSTxBytes));
  sf.Set("txDropped", Num(env, kSTxDropped));
  sf.Set("rxDropped", Num(env, kSRxDropped));
  sf.Set("forwarded", Num(env, kSForwarded));
  sf.Set("ringDrops", Num(env, kSRingDrops));
  o.Set("slotFields", sf);
  return o;
}

}  // namespace

void InitEngine(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("engineCreate", EngineCreate);
  fn("engineStart", EngineStart);
  fn("engineXdpState", EngineXdpState);
  fn("engineXdpStats", EngineXdpStats);
  fn("engineStop", EngineStop);
  fn("engineDestroy", EngineDestroy);
  fn("engineSetTable", EngineSetTable);
  fn("engineAttachPacket", EngineAttachPacket);
  fn("engineAttachJs", EngineAttachJs);
  fn("engineAttachTap", EngineAttachTap);
  fn("engineDetach", EngineDetach);
  fn("engineInject", EngineInject);
  fn("engineReplaceUplink", EngineReplaceUplink);
  fn("engineRefreshTcPeers", EngineRefreshTcPeers);
  fn("engineTcPeer", EngineTcPeer);
  fn("engineOnEvent", EngineOnEvent);
  fn("engineCounters", EngineCounters);
  fn("engineLayout", EngineLayout);
}
