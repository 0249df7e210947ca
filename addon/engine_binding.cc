// JS exports of the demux engine and port table (types: src/dataplane/native-types.ts).
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

#include "demux.h"
#include "engine.h"
#include "modules.h"
#include "napi_util.h"
#include "port_table.h"

using namespace mdx;

namespace {

struct TableBox {
  std::unique_ptr<PortTable> table;
};

template <class T>
bool TypedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, T** data, size_t* count) {
  if (info.Length() <= i || !info[i].IsTypedArray()) return false;
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != type) return false;
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  *count = ta.ElementLength();
  return true;
}

template <class T>
bool TypedProp(Napi::Object o, const char* name, napi_typedarray_type type, T** data, size_t* count) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != type) return false;
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  *count = ta.ElementLength();
  return true;
}

// tableCreate(blob: Uint8Array, maxSlots: number) -> { handle } | { errno, message }
Napi::Value TableCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object res = Napi::Object::New(env);
  uint8_t* blob = nullptr;
  size_t len = 0;
  if (!TypedArg(info, 0, napi_uint8_array, &blob, &len)) {
    res.Set("errno", Num(env, -EINVAL));
    res.Set("message", "blob must be a Uint8Array");
    return res;
  }
  const uint32_t maxSlots = uint32_t(OptInt(info, 1, 65536));
  std::unique_ptr<PortTable> t;
  std::string err;
  const int rc = PortTable::Build(blob, len, maxSlots, &t, &err);
  if (rc < 0) {
    res.Set("errno", Num(env, rc));
    res.Set("message", err);
    return res;
  }
  auto* box = new TableBox{std::move(t)};
  res.Set("handle", Napi::External<TableBox>::New(env, box, [](Napi::Env, TableBox* b) { delete b; }));
  return res;
}

// decideBatch(handle, frames, offsets, lengths, ingressSlots, tci|null, out) -> frames processed or -errno
Napi::Value DecideBatchJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsExternal() || !info[6].IsObject()) return Num(env, -EINVAL);
  TableBox* box = info[0].As<Napi::External<TableBox>>().Data();
  uint8_t* frames;
  uint32_t *offsets, *lengths, *ingress, *tci = nullptr;
  size_t nFrames, nOff, nLen, nIn, nTci = 0;
  if (!TypedArg(info, 1, napi_uint8_array, &frames, &nFrames) ||
      !TypedArg(info, 2, napi_uint32_array, &offsets, &nOff) ||
      !TypedArg(info, 3, napi_uint32_array, &lengths, &nLen) || !TypedArg(info, 4, napi_uint32_array, &ingress, &nIn))
    return Num(env, -EINVAL);
  if (info[5].IsTypedArray() && !TypedArg(info, 5, napi_uint32_array, &tci, &nTci)) return Num(env, -EINVAL);
  const size_t n = nOff;
  if (nLen != n || nIn != n || (tci && nTci != n)) return Num(env, -EINVAL);
  Napi::Object o = info[6].As<Napi::Object>();
  BatchResult r{};
  size_t cReasons, cUplink, cCount, cEgress, cDrops, cFwd, cTx;
  if (!TypedProp(o, "reasons", napi_uint8_array, &r.reasons, &cReasons) ||
      !TypedProp(o, "uplink", napi_uint8_array, &r.uplink, &cUplink) ||
      !TypedProp(o, "egressCount", napi_uint32_array, &r.egressCount, &cCount) ||
      !TypedProp(o, "egress", napi_uint32_array, &r.egress, &cEgress) ||
      !TypedProp(o, "drops", napi_biguint64_array, &r.drops, &cDrops) ||
      !TypedProp(o, "forwarded", napi_biguint64_array, &r.forwarded, &cFwd) ||
      !TypedProp(o, "txPerSlot", napi_biguint64_array, &r.txPerSlot, &cTx))
    return Num(env, -EINVAL);
  if (cReasons < n || cUplink < n || cCount < n || cDrops < kDropCount || cFwd < 1) return Num(env, -EINVAL);
  r.egressCap = cEgress;
  r.maxSlots = uint32_t(cTx);
  // optional 8th argument: learned entries as a Float64Array of [vlan, mac, slot] triples
  std::vector<StaticFdbEntry> fdb;
  bool learning = false;
  if (info.Length() > 7 && info[7].IsTypedArray()) {
    double* fd;
    size_t nf;
    if (!TypedArg(info, 7, napi_float64_array, &fd, &nf) || nf % 3 != 0) return Num(env, -EINVAL);
    learning = true;
    for (size_t i = 0; i + 2 < nf; i += 3)
      fdb.push_back(StaticFdbEntry{uint16_t(fd[i]), uint64_t(fd[i + 1]), uint32_t(fd[i + 2])});
  }
  const int64_t rc = DecideBatch(*box->table, frames, nFrames, offsets, lengths, ingress, tci, uint32_t(n), &r,
                                 learning ? &fdb : nullptr);
  return Num(env, double(rc));
}


// ---------------------------------------------------------------------------------------------
// Engine

struct EngineBox {
  std::unique_ptr<Engine> engine;
  std::string lastError;
};

std::mutex g_enginesMu;
std::set<EngineBox*> g_engines;
bool g_cleanupHooked = false;
std::string g_createError;

void StopAllEngines(void*) {
  std::lock_guard<std::mutex> g(g_enginesMu);
  for (EngineBox* b : g_engines)
    if (b->engine) b->engine->Stop();
}

EngineBox* BoxArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return nullptr;
  EngineBox* b = info[0].As<Napi::External<EngineBox>>().Data();
  return b && b->engine ? b : nullptr;
}

uint32_t PropU32(Napi::Object o, const char* k, uint32_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : d;
}
bool PropBool(Napi::Object o, const char* k, bool d) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : d;
}
std::string PropStr(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

// engineCreate(opts) -> External | -errno (engineCreateError() tells why)
Napi::Value EngineCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return Num(env, -EINVAL);
  Napi::Object o = info[0].As<Napi::Object>();
  EngineOptions eo;
  eo.uplink = PropStr(o, "uplink");
  eo.netns = PropStr(o, "netns");
  eo.workers = int(PropU32(o, "workers", 1));
  eo.maxSlots = PropU32(o, "maxSlots", 8192);
  eo.learning = PropBool(o, "learning", false);
  eo.ageingMs = PropU32(o, "ageingMs", 300000);
  eo.fanoutGroup = int(PropU32(o, "fanoutGroup", 0));
  eo.promisc = PropBool(o, "promisc", true);
  eo.qdiscBypass = PropBool(o, "qdiscBypass", false);
  eo.portTxCopy = PropBool(o, "portTxCopy", false);
  eo.uplinkBlockSize = PropU32(o, "ringBlockSize", eo.uplinkBlockSize);
  eo.uplinkBlocks = PropU32(o, "ringBlocks", eo.uplinkBlocks);
  eo.uplinkTxFrames = PropU32(o, "txFrames", eo.uplinkTxFrames);
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
    g_createError = err;
    return Num(env, rc);
  }
  auto* box = new EngineBox{std::move(e), ""};
  {
    std::lock_guard<std::mutex> g(g_enginesMu);
    g_engines.insert(box);
    if (!g_cleanupHooked) {
      napi_add_env_cleanup_hook(env, StopAllEngines, nullptr);
      g_cleanupHooked = true;
    }
  }
  return Napi::External<EngineBox>::New(env, box, [](Napi::Env, EngineBox* b) {
    {
      std::lock_guard<std::mutex> g(g_enginesMu);
      g_engines.erase(b);
    }
    delete b;
  });
}

Napi::Value EngineCreateError(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), g_createError); }

Napi::Value EngineLastError(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return Napi::String::New(info.Env(), "");
  return Napi::String::New(info.Env(), info[0].As<Napi::External<EngineBox>>().Data()->lastError);
}

Napi::Value EngineStart(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  return Num(info.Env(), b ? b->engine->Start() : -EBADF);
}

Napi::Value EngineStop(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  return Num(info.Env(), b ? b->engine->Stop() : -EBADF);
}

Napi::Value EngineDestroy(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  b->engine.reset();
  return Num(info.Env(), 0);
}

Napi::Value EngineSetTable(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  uint8_t* blob;
  size_t len;
  if (!b || !TypedArg(info, 1, napi_uint8_array, &blob, &len)) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), b->engine->SetTable(blob, len, &b->lastError));
}

// engineAttachPacket(e, slot, ifname, { ringBlockSize, ringBlocks, txFrames })
Napi::Value EngineAttachPacket(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  if (!b || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) return Num(info.Env(), -EINVAL);
  uint32_t bs = 0, nb = 0, tx = 0;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    bs = PropU32(o, "ringBlockSize", 0);
    nb = PropU32(o, "ringBlocks", 0);
    tx = PropU32(o, "txFrames", 0);
  }
  return Num(info.Env(), b->engine->AttachPacket(info[1].As<Napi::Number>().Uint32Value(),
                                                 info[2].As<Napi::String>().Utf8Value(), bs, nb, tx, &b->lastError));
}

// engineAttachJs(e, slot, cb(data, offsets, lengths, count))
Napi::Value EngineAttachJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineBox* b = BoxArg(info);
  if (!b || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsFunction()) return Num(env, -EINVAL);
  Napi::ThreadSafeFunction tsfn =
      Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "macdemux-js-port", 256, 1);
  tsfn.Unref(env);
  const int rc = b->engine->AttachJs(info[1].As<Napi::Number>().Uint32Value(), tsfn, &b->lastError);
  if (rc < 0) tsfn.Release();
  return Num(env, rc);
}

// engineAttachTap(e, slot, ifname, queues)
Napi::Value EngineAttachTap(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  if (!b || info.Length() < 3 || !info[1].IsNumber() || !info[2].IsString()) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), b->engine->AttachTap(info[1].As<Napi::Number>().Uint32Value(), info[2].As<Napi::String>().Utf8Value(),
                                              int(OptInt(info, 3, 1)), &b->lastError));
}

Napi::Value EngineDetach(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  if (!b || info.Length() < 2 || !info[1].IsNumber()) return Num(info.Env(), -EINVAL);
  return Num(info.Env(), b->engine->Detach(info[1].As<Napi::Number>().Uint32Value()));
}

// engineReplaceUplink(e) -> 0 | -errno (engineLastError tells why)
Napi::Value EngineReplaceUplink(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  return Num(info.Env(), b->engine->ReplaceUplink(&b->lastError));
}

// engineOnEvent(e, cb(kind, slot, queue, errno, worker)): fd events (engine.h FdEventKind).
Napi::Value EngineOnEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineBox* b = BoxArg(info);
  if (!b || info.Length() < 2 || !info[1].IsFunction()) return Num(env, -EINVAL);
  Napi::ThreadSafeFunction tsfn =
      Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "macdemux-engine-events", 1024, 1);
  tsfn.Unref(env);
  b->engine->SetEventHandler(tsfn);
  return Num(env, 0);
}

// engineInject(e, slot, data, offsets, lengths) -> frames accepted
Napi::Value EngineInject(const Napi::CallbackInfo& info) {
  EngineBox* b = BoxArg(info);
  uint8_t* data;
  uint32_t *offs, *lens;
  size_t nd, no, nl;
  if (!b || info.Length() < 5 || !info[1].IsNumber() || !TypedArg(info, 2, napi_uint8_array, &data, &nd) ||
      !TypedArg(info, 3, napi_uint32_array, &offs, &no) || !TypedArg(info, 4, napi_uint32_array, &lens, &nl) ||
      no != nl)
    return Num(info.Env(), -EINVAL);
  return Num(info.Env(), b->engine->Inject(info[1].As<Napi::Number>().Uint32Value(), data, nd, offs, lens, uint32_t(no)));
}

// engineCounters(e) -> BigUint64Array over the engine's counter memory (stays valid after destroy)
Napi::Value EngineCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineBox* b = BoxArg(info);
  if (!b) return env.Undefined();
  auto* keep = new std::shared_ptr<std::vector<uint64_t>>(b->engine->sharedCounters());
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, (*keep)->data(), (*keep)->size() * 8,
      [](Napi::Env, void*, std::shared_ptr<std::vector<uint64_t>>* k) { delete k; }, keep);
  napi_value arr;
  napi_create_typedarray(env, napi_biguint64_array, (*keep)->size(), ab, 0, &arr);
  return Napi::Value(env, arr);
}

Napi::Value EngineLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EngineBox* b = BoxArg(info);
  if (!b) return env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("headerWords", Num(env, kHeaderWords));
  o.Set("workerWords", Num(env, kWorkerWords));
  o.Set("slotWords", Num(env, kSlotWords));
  o.Set("workers", Num(env, b->engine->options().workers));
  o.Set("maxSlots", Num(env, b->engine->options().maxSlots));
  Napi::Object wf = Napi::Object::New(env);
  wf.Set("loops", Num(env, kWLoops));
  wf.Set("rxFrames", Num(env, kWRxFrames));
  wf.Set("forwarded", Num(env, kWForwarded));
  wf.Set("egressCopies", Num(env, kWEgressCopies));
  wf.Set("txDropped", Num(env, kWTxDropped));
  wf.Set("tableSwaps", Num(env, kWTableSwaps));
  wf.Set("drops", Num(env, kWDrops));
  wf.Set("fdErrors", Num(env, kWFdErrors));
  wf.Set("fdDisarmed", Num(env, kWFdDisarmed));
  wf.Set("uplinkSwaps", Num(env, kWUplinkSwaps));
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
  exports.Set("tableCreate", Napi::Function::New(env, TableCreate, "tableCreate"));
  exports.Set("decideBatch", Napi::Function::New(env, DecideBatchJs, "decideBatch"));
  exports.Set("engineCreate", Napi::Function::New(env, EngineCreate, "engineCreate"));
  exports.Set("engineCreateError", Napi::Function::New(env, EngineCreateError, "engineCreateError"));
  exports.Set("engineLastError", Napi::Function::New(env, EngineLastError, "engineLastError"));
  exports.Set("engineStart", Napi::Function::New(env, EngineStart, "engineStart"));
  exports.Set("engineStop", Napi::Function::New(env, EngineStop, "engineStop"));
  exports.Set("engineDestroy", Napi::Function::New(env, EngineDestroy, "engineDestroy"));
  exports.Set("engineSetTable", Napi::Function::New(env, EngineSetTable, "engineSetTable"));
  exports.Set("engineAttachPacket", Napi::Function::New(env, EngineAttachPacket, "engineAttachPacket"));
  exports.Set("engineAttachJs", Napi::Function::New(env, EngineAttachJs, "engineAttachJs"));
  exports.Set("engineAttachTap", Napi::Function::New(env, EngineAttachTap, "engineAttachTap"));
  exports.Set("engineDetach", Napi::Function::New(env, EngineDetach, "engineDetach"));
  exports.Set("engineReplaceUplink", Napi::Function::New(env, EngineReplaceUplink, "engineReplaceUplink"));
  exports.Set("engineOnEvent", Napi::Function::New(env, EngineOnEvent, "engineOnEvent"));
  exports.Set("engineInject", Napi::Function::New(env, EngineInject, "engineInject"));
  exports.Set("engineCounters", Napi::Function::New(env, EngineCounters, "engineCounters"));
  exports.Set("engineLayout", Napi::Function::New(env, EngineLayout, "engineLayout"));
}
