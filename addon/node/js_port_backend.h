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

class JsPortBackend final : public PortBackend {
 public:
  explicit JsPortBackend(Napi::ThreadSafeFunction tsfn) : tsfn_(tsfn) {}
  ~JsPortBackend() override { tsfn_.Release(); }
  bool carriesVnetHdr() const override { return false; }  // JS gets complete frames
  void Send(const Frame& f, TxTally* t) override;
  // Delivered to the queue counts as sent; a full queue drops the batch.
  void Flush(TxTally* t) override;

 private:
  Napi::ThreadSafeFunction tsfn_;
  std::unique_ptr<JsBatch> pending_;
};

}  // namespace mdx
