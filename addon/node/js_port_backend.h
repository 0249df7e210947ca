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

// Runs on the JS thread for each queued batch; also with a null env when the environment is torn
// down with batches still queued (node_api.cc empties the queue that way), which frees them. The
// untyped Napi::ThreadSafeFunction skips its per-call callback in that case and so leaked every
// queued batch (up to 256 x 512 KiB) at each worker.terminate().
void CallJsBatch(Napi::Env env, Napi::Function cb, std::nullptr_t* context, JsBatch* batch);
using JsBatchCallback = Napi::TypedThreadSafeFunction<std::nullptr_t, JsBatch, CallJsBatch>;

class JsPortBackend final : public PortBackend {
 public:
  explicit JsPortBackend(JsBatchCallback tsfn) : tsfn_(tsfn) {}
  ~JsPortBackend() override { tsfn_.Release(); }
  bool carriesVnetHdr() const override { return false; }  // JS gets complete frames
  void Send(const Frame& f, TxTally* t) override;
  // Delivered to the queue counts as sent; a full queue drops the batch.
  void Flush(TxTally* t) override;

 private:
  JsBatchCallback tsfn_;
  std::unique_ptr<JsBatch> pending_;
};

}  // namespace mdx
