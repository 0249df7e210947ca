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
