// A port backend whose "device" is a JavaScript handler: frames go to a ThreadSafeFunction in
// batches (data, offsets, lengths, count); frames from JS come in through Engine::Inject.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "dataplane/backends/port_backend.h"

namespace mdx {

struct JsBatch {
  std::vector<uint8_t> data;
  std::vector<uint32_t> offsets, lengths;
};

// The JS handler as a thread-safe function whose call_js_cb gets each queued batch: on the JS
// thread, and also with a null env when the environment is torn down with batches still queued
// (node_api.cc empties the queue that way), which frees them. node-addon-api's untyped
// Napi::ThreadSafeFunction skips its per-call callback in that case, so every batch still queued
// at a worker.terminate() leaked. (Plain N-API: the typed wrapper does not build under the
// sanitizer flags.) Unref'd: it does not keep the event loop alive. Returns nullptr on failure.
napi_threadsafe_function NewJsBatchCallback(napi_env env, napi_value cb);

class JsPortBackend final : public PortBackend {
 public:
  explicit JsPortBackend(napi_threadsafe_function tsfn) : tsfn_(tsfn) {}
  ~JsPortBackend() override { napi_release_threadsafe_function(tsfn_, napi_tsfn_release); }
  bool carriesVnetHdr() const override { return false; }  // JS gets complete frames
  void Send(const Frame& f, TxTally* t) override;
  // Delivered to the queue counts as sent; a full queue drops the batch.
  void Flush(TxTally* t) override;

 private:
  napi_threadsafe_function tsfn_;
  std::unique_ptr<JsBatch> pending_;
};

}  // namespace mdx
