#include "node/js_port_backend.h"

#include <cstring>

namespace mdx {

namespace {

constexpr uint32_t kBatchFrames = 256;
constexpr size_t kBatchBytes = 512 * 1024;  // room for a batch plus one more largest frame

// Hands one batch to the JS port's handler as (data: Uint8Array, offsets, lengths, count).
// Plain N-API calls with status checks, not node-addon-api wrappers: while a worker thread's
// environment is being torn down every call may fail, and a wrapper would turn that into a fatal
// napi_throw. On any failure the batch is freed and dropped.
void DeliverJsBatch(napi_env env, napi_value cb, JsBatch* batch) {
  const size_t n = batch->offsets.size();
  const size_t bytes = batch->data.size();
  napi_value offsAb, lensAb, offs, lens, dataAb, data, count, undefined, result;
  void* offsMem;
  void* lensMem;
  if (napi_create_arraybuffer(env, n * 4, &offsMem, &offsAb) != napi_ok ||
      napi_create_arraybuffer(env, n * 4, &lensMem, &lensAb) != napi_ok) {
    delete batch;
    return;
  }
  memcpy(offsMem, batch->offsets.data(), n * 4);
  memcpy(lensMem, batch->lengths.data(), n * 4);
  auto finalize = [](napi_env, void*, void* hint) { delete static_cast<JsBatch*>(hint); };
  if (napi_create_external_arraybuffer(env, batch->data.data(), bytes, finalize, batch, &dataAb) != napi_ok) {
    delete batch;
    return;
  }
  // From here the ArrayBuffer owns the batch.
  if (napi_create_typedarray(env, napi_uint8_array, bytes, dataAb, 0, &data) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, n, offsAb, 0, &offs) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, n, lensAb, 0, &lens) != napi_ok ||
      napi_create_double(env, double(n), &count) != napi_ok || napi_get_undefined(env, &undefined) != napi_ok)
    return;
  napi_value args[4] = {data, offs, lens, count};
  napi_call_function(env, undefined, cb, 4, args, &result);
}

void CallJsBatch(napi_env env, napi_value cb, void*, void* data) {
  auto* batch = static_cast<JsBatch*>(data);
  if (env == nullptr || cb == nullptr) {
    delete batch;
    return;
  }
  DeliverJsBatch(env, cb, batch);
}

}  // namespace

napi_threadsafe_function NewJsBatchCallback(napi_env env, napi_value cb) {
  napi_value name;
  napi_threadsafe_function tsfn = nullptr;
  if (napi_create_string_utf8(env, "macdemux-js-port", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, cb, nullptr, name, 256, 1, nullptr, nullptr, nullptr, CallJsBatch, &tsfn) != napi_ok)
    return nullptr;
  napi_unref_threadsafe_function(env, tsfn);
  return tsfn;
}

void JsPortBackend::Send(const Frame& fr, TxTally* t) {
  const uint8_t* f = fr.data;
  const uint32_t len = fr.len;
  if (!pending_) {
    pending_.reset(new JsBatch());
    pending_->data.reserve(kBatchBytes);
    pending_->offsets.reserve(kBatchFrames);
    pending_->lengths.reserve(kBatchFrames);
  }
  JsBatch& b = *pending_;
  b.offsets.push_back(uint32_t(b.data.size()));
  b.lengths.push_back(len);
  b.data.insert(b.data.end(), f, f + len);
  if (b.offsets.size() >= kBatchFrames || b.data.size() >= kBatchBytes - kMaxFrameBytes) Flush(t);
}

void JsPortBackend::Flush(TxTally* t) {
  if (!pending_ || pending_->offsets.empty()) return;
  JsBatch* b = pending_.release();
  const size_t frames = b->offsets.size();
  const size_t bytes = b->data.size();
  napi_status st = napi_call_threadsafe_function(tsfn_, b, napi_tsfn_nonblocking);
  if (st != napi_ok) {
    delete b;
    t->dropped += frames;
  } else {
    t->packets += frames;
    t->bytes += bytes;
  }
}

}  // namespace mdx
