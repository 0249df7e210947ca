// The lifetime every native object owned by a JavaScript handle shares: its Node.js environment,
// an env cleanup hook (so no native thread outlives its environment: worker_threads exit, process
// exit), and optionally one JS callback that native threads call (a ThreadSafeFunction).
//
// Close() is idempotent and runs on the JS thread (an explicit close call, the cleanup hook, or the
// External's finalizer): StopNative() (the subclass stops and joins its threads, frees its
// resources), then the callback is released and the hook removed. Subclass destructors call
// Close() themselves (a base destructor cannot reach the subclass's StopNative()).
#pragma once
#include <napi.h>

class NodeHandle {
 public:
  explicit NodeHandle(napi_env env);
  virtual ~NodeHandle();
  NodeHandle(const NodeHandle&) = delete;
  NodeHandle& operator=(const NodeHandle&) = delete;

  void Close();
  bool closed() const { return closed_; }

  // Install the JS callback (once). Native threads then call it through Emit*() / callback().
  void SetCallback(Napi::Env env, Napi::Function cb, const char* name, size_t maxQueue = 0);
  bool hasCallback() const { return live_; }
  Napi::ThreadSafeFunction& callback() { return tsfn_; }
  // Keep (or stop keeping) the event loop alive while the callback is installed.
  void RefCallback(Napi::Env env, bool ref);
  // Drop queued calls and unblock BlockingCall waiters (before joining a thread that may wait).
  void AbortCallback();
  // From any thread: call the callback with (kind, arg) (queued; dropped if the queue is closed).
  void EmitEvent(int kind, int arg);

  // An External that owns h (deleted when garbage collected).
  template <class T>
  static Napi::Value Wrap(Napi::Env env, T* h) {
    return Napi::External<T>::New(env, h, [](Napi::Env, T* p) { delete p; });
  }

 protected:
  virtual void StopNative() {}
  napi_env env_;

 private:
  Napi::ThreadSafeFunction tsfn_;
  bool live_ = false;
  bool hooked_ = false;
  bool closed_ = false;
};

// Call a JS callback from a ThreadSafeFunction's CallJS without node-addon-api's error path:
// during environment teardown (worker.terminate(), process exit) a call fails, and
// Napi::Function::Call would then try to throw and abort the process. The status is ignored; an
// exception thrown by the callback itself stays pending and surfaces as an uncaught exception.
inline void SafeCall(Napi::Env env, Napi::Function cb, std::initializer_list<napi_value> args) {
  if (env == nullptr || cb == nullptr) return;
  napi_value undefined;
  if (napi_get_undefined(env, &undefined) != napi_ok) return;
  napi_value result;
  napi_call_function(env, undefined, cb, args.size(), args.begin(), &result);
}
