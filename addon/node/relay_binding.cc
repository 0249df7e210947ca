// The native relay for JavaScript (src/io/relay.ts).
#include <errno.h>

#include "node/io_args.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"
#include "tools/relay.h"

namespace {

struct RelayHandle final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~RelayHandle() override { Close(); }
  void StopNative() override {
    if (relay) relay->Stop();
  }
  std::unique_ptr<Relay> relay;
};

// relayStart(optsA, optsB, detail?) -> handle | -errno
Napi::Value RelayStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* h = new RelayHandle(env);
  const char* step = nullptr;
  const int rc = Relay::Start(ParseRingOptions(info[0].As<Napi::Object>()), ParseRingOptions(info[1].As<Napi::Object>()),
                              &h->relay, &step);
  if (rc < 0) {
    SetErrorDetail(info, 2, step);
    delete h;
    return Num(env, rc);
  }
  return NodeHandle::Wrap(env, h);
}

// relayStop(h) -> { forwardedAB, forwardedBA, droppedAB, droppedBA, error }
Napi::Value RelayStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayHandle* h = Unwrap<RelayHandle>(info, 0);
  if (h == nullptr || !h->relay) return env.Undefined();
  h->Close();
  h->relay->CloseRings();
  const RelayStats s = h->relay->Stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("forwardedAB", Num(env, static_cast<double>(s.forwarded[0])));
  o.Set("forwardedBA", Num(env, static_cast<double>(s.forwarded[1])));
  o.Set("droppedAB", Num(env, static_cast<double>(s.dropped[0])));
  o.Set("droppedBA", Num(env, static_cast<double>(s.dropped[1])));
  o.Set("error", Num(env, -s.error));
  return o;
}

Napi::Value RelayCounters(const Napi::CallbackInfo& info) {
  RelayHandle* h = Unwrap<RelayHandle>(info, 0);
  const int i = info[1].As<Napi::Number>().Int32Value() ? 1 : 0;
  if (!h || !h->relay || !h->relay->side(i)) return info.Env().Null();
  return CountersBuffer(info.Env(), h->relay->side(i)->sharedCounters());
}

}  // namespace

void InitRelay(Napi::Env env, Napi::Object exports) {
  exports.Set("relayStart", Napi::Function::New(env, RelayStart, "relayStart"));
  exports.Set("relayStop", Napi::Function::New(env, RelayStop, "relayStop"));
  exports.Set("relayCounters", Napi::Function::New(env, RelayCounters, "relayCounters"));
}
