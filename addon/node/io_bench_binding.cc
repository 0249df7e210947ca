// Micro-benchmark helpers (bench/micro/io.bench.ts): the cost of handing batches to JS.
#include <atomic>
#include <thread>

#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"

namespace {

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

struct BenchTsfn final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~BenchTsfn() override { Close(); }
  void StopNative() override {
    stop.store(true);
    AbortCallback();  // unblocks a BlockingCall waiting for queue room
    if (thread.joinable()) thread.join();
  }
  std::thread thread;
  std::atomic<bool> stop{false};
  uint32_t n = 1;
};

// ioBenchTsfnStart(n, cb(n)) -> handle: a native thread calls cb with batches of n as fast as JS takes them
Napi::Value BenchTsfnStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* b = new BenchTsfn(env);
  b->n = info[0].As<Napi::Number>().Uint32Value();
  b->SetCallback(env, info[1].As<Napi::Function>(), "macdemux.bench", 2);
  b->thread = std::thread([b] {
    while (!b->stop.load()) {
      napi_status st = b->callback().BlockingCall([n = b->n](Napi::Env e, Napi::Function cb) {
        SafeCall(e, cb, {Num(e, n)});
      });
      if (st != napi_ok) break;
    }
  });
  return NodeHandle::Wrap(env, b);
}

Napi::Value BenchTsfnStop(const Napi::CallbackInfo& info) {
  BenchTsfn* b = Unwrap<BenchTsfn>(info, 0);
  if (b != nullptr) b->Close();
  return info.Env().Undefined();
}

}  // namespace

void InitIoBench(Napi::Env env, Napi::Object exports) {
  exports.Set("ioBenchBatch", Napi::Function::New(env, BenchBatch, "ioBenchBatch"));
  exports.Set("ioBenchTsfnStart", Napi::Function::New(env, BenchTsfnStart, "ioBenchTsfnStart"));
  exports.Set("ioBenchTsfnStop", Napi::Function::New(env, BenchTsfnStop, "ioBenchTsfnStop"));
}
