#include "node/io_args.h"

#include <cstring>

#include "node/modules.h"
#include "node/napi_args.h"

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

Napi::ArrayBuffer CountersBuffer(Napi::Env env, const std::shared_ptr<PortCounters>& c) {
  auto* hold = new std::shared_ptr<PortCounters>(c);
  return Napi::ArrayBuffer::New(env, c.get(), sizeof(PortCounters),
                                [](Napi::Env, void*, std::shared_ptr<PortCounters>* h) { delete h; }, hold);
}

// ioCounterNames() -> the PortCounters field names in order (the TypeScript view's keys).
static Napi::Value CounterNames(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), kPortCounterCount);
  for (uint32_t i = 0; i < kPortCounterCount; i++) a.Set(i, Napi::String::New(info.Env(), kPortCounterNames[i]));
  return a;
}

void InitIoCounters(Napi::Env env, Napi::Object exports) {
  exports.Set("ioCounterNames", Napi::Function::New(env, CounterNames, "ioCounterNames"));
}
