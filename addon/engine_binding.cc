// JS exports of the demux engine and port table (types: src/dataplane/native-types.ts).
#include <cerrno>
#include <cstring>
#include <memory>

#include "demux.h"
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
  const int64_t rc =
      DecideBatch(*box->table, frames, nFrames, offsets, lengths, ingress, tci, uint32_t(n), &r);
  return Num(env, double(rc));
}

}  // namespace

void InitEngineRuntime(Napi::Env env, Napi::Object exports);  // engine.cc

void InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("tableCreate", Napi::Function::New(env, TableCreate, "tableCreate"));
  exports.Set("decideBatch", Napi::Function::New(env, DecideBatchJs, "decideBatch"));
}
