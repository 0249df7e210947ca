// Native threads owned by JavaScript objects: an eventfd to stop them, and an env cleanup hook so
// that no thread outlives its Node.js environment (worker_threads exit, process exit).
#pragma once
#include <node_api.h>
#include <poll.h>
#include <stdint.h>

#include <atomic>
#include <thread>

// An eventfd used to wake a thread blocked in poll(). Signal() may be called from any thread.
class StopEvent {
 public:
  StopEvent();
  ~StopEvent();
  StopEvent(const StopEvent&) = delete;
  StopEvent& operator=(const StopEvent&) = delete;
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Signal();
  void Drain();  // reset the counter (for reusable wake-ups)
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  void MarkStopped() { stopped_.store(true, std::memory_order_release); }

 private:
  int fd_ = -1;
  std::atomic<bool> stopped_{false};
};

// Something with a thread that must be stopped and joined before the environment goes away.
class NativeWorker {
 public:
  virtual ~NativeWorker() = default;
  // Idempotent: ask the thread to stop and join it. Called on the JS thread.
  virtual void StopAndJoin() = 0;
};

// Register / unregister the worker's env cleanup hook (napi_add_env_cleanup_hook).
void RegisterWorkerCleanup(napi_env env, NativeWorker* w);
void UnregisterWorkerCleanup(napi_env env, NativeWorker* w);

// Pin the calling thread to a CPU (cpu < 0: no-op). 0 or -errno.
int PinThisThread(int cpu);

// CLOCK_MONOTONIC in nanoseconds.
uint64_t MonoNs();

// A poll thread for one fd that tells JavaScript when the fd is readable (one-shot: JS drains and
// calls Arm() to be told again) or failed (then the thread exits). Used by tap queues.
#include <napi.h>

#include <functional>

class FdPoller {
 public:
  enum Event : int { kReadable = 1, kError = 2 };
  ~FdPoller() { Stop(); }
  // cb(kind, arg) runs on the JS thread; errorOf() maps POLLERR/POLLHUP to -errno (on the poll
  // thread); check(), when given, runs about every 200 ms and a negative result ends the thread
  // with that error (for fds whose poll() never reports their device going away, e.g. macvtap).
  int Start(Napi::Env env, Napi::Function cb, int fd, std::function<int()> errorOf,
            std::function<int()> check = nullptr);
  void Arm() { arm_.Signal(); }
  void Stop();  // idempotent: eventfd signal, join, release the callback
  void Ref(Napi::Env env, bool ref);
  bool started() const { return thread_.joinable(); }

 private:
  void Run();
  void Emit(int kind, int arg);
  StopEvent stop_, arm_;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  bool live_ = false;
  int fd_ = -1;
  std::function<int()> errorOf_;
  std::function<int()> check_;
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
