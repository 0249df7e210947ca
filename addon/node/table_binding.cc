// JS exports of the port table and the pure decision function (the differential test's entry:
// src/dataplane/native-types.ts).
#include <cerrno>
#include <memory>
#include <vector>

#include "dataplane/decision.h"
#include "dataplane/port_table.h"
#include "node/modules.h"
#include "node/napi_args.h"

using namespace mdx;

namespace {

struct TableBox {
  std::unique_ptr<PortTable> table;
};

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
  TableBox* box = Unwrap<TableBox>(info, 0);
  if (!box || info.Length() < 7 || !info[6].IsObject()) return Num(env, -EINVAL);
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
  if (!GetTyped(o, "reasons", napi_uint8_array, &r.reasons, &cReasons) ||
      !GetTyped(o, "uplink", napi_uint8_array, &r.uplink, &cUplink) ||
      !GetTyped(o, "egressCount", napi_uint32_array, &r.egressCount, &cCount) ||
      !GetTyped(o, "egress", napi_uint32_array, &r.egress, &cEgress) ||
      !GetTyped(o, "drops", napi_biguint64_array, &r.drops, &cDrops) ||
      !GetTyped(o, "forwarded", napi_biguint64_array, &r.forwarded, &cFwd) ||
      !GetTyped(o, "txPerSlot", napi_biguint64_array, &r.txPerSlot, &cTx))
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

}  // namespace

void InitTable(Napi::Env env, Napi::Object exports) {
  exports.Set("tableCreate", Napi::Function::New(env, TableCreate, "tableCreate"));
  exports.Set("decideBatch", Napi::Function::New(env, DecideBatchJs, "decideBatch"));
}
