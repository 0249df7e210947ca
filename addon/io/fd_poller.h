// A poll thread for one fd that reports when the fd has something to read (one-shot: the owner
// drains it and calls Arm() to be told again) or failed (then the thread exits). Used by the
// packet ports and tap queues that JavaScript reads; no Node.js dependency (the binding turns
// the events into ThreadSafeFunction calls).
#pragma once
#include <functional>
#include <thread>

#include "io/stop_event.h"

struct FdPollerOptions {
  int fd = -1;
  int intervalMs = 200;                 // poll timeout: how often check() and ready() run without events
  std::function<int()> errorOf;          // POLLERR/POLLHUP/POLLNVAL -> -errno (default -EIO)
  std::function<int()> check;            // about every intervalMs; a negative result ends the thread with it
  std::function<bool()> ready;           // "has data" while armed; default: poll() said POLLIN
};

class FdPoller {
 public:
  enum Event : int { kReadable = 1, kError = 2 };
  // emit(kind, arg) runs on the poll thread.
  using Emit = std::function<void(int kind, int arg)>;
  ~FdPoller() { Stop(); }
  int Start(FdPollerOptions o, Emit emit);  // 0, -EALREADY, -EMFILE (no eventfd)
  void Arm() { arm_.Signal(); }
  void Stop();  // idempotent: signal, join
  bool started() const { return thread_.joinable(); }

 private:
  void Run();
  FdPollerOptions o_;
  Emit emit_;
  StopEvent stop_, arm_;
  std::thread thread_;
};
