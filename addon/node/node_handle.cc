#include "node/node_handle.h"

static void CleanupHook(void* arg) { static_cast<NodeHandle*>(arg)->Close(); }

NodeHandle::NodeHandle(napi_env env) : env_(env) {
  hooked_ = napi_add_env_cleanup_hook(env, CleanupHook, this) == napi_ok;
}

NodeHandle::~NodeHandle() {
  // Subclasses closed already; this only covers a handle that failed before it had any threads.
  if (live_) tsfn_.Release();
  if (hooked_) napi_remove_env_cleanup_hook(env_, CleanupHook, this);
}

void NodeHandle::Close() {
  if (closed_) return;
  closed_ = true;
  StopNative();
  if (live_) {
    tsfn_.Release();
    live_ = false;
  }
  if (hooked_) {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    hooked_ = false;
  }
}

void NodeHandle::SetCallback(Napi::Env env, Napi::Function cb, const char* name, size_t maxQueue) {
  if (live_) return;
  tsfn_ = Napi::ThreadSafeFunction::New(env, cb, name, maxQueue, 1);
  live_ = true;
}

void NodeHandle::RefCallback(Napi::Env env, bool ref) {
  if (!live_) return;
  if (ref)
    tsfn_.Ref(env);
  else
    tsfn_.Unref(env);
}

void NodeHandle::AbortCallback() {
  if (!live_) return;
  tsfn_.Abort();
  live_ = false;
}

void NodeHandle::EmitEvent(int kind, int arg) {
  if (!live_) return;
  auto* data = new int[2]{kind, arg};
  napi_status st = tsfn_.NonBlockingCall(data, [](Napi::Env env, Napi::Function cb, int* d) {
    if (env != nullptr && cb != nullptr) SafeCall(env, cb, {Napi::Number::New(env, d[0]), Napi::Number::New(env, d[1])});
    delete[] d;
  });
  if (st != napi_ok) delete[] data;
}
