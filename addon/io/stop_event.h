// An eventfd that wakes a thread blocked in poll() and tells it to stop (or to look again).
#pragma once
#include <atomic>

class StopEvent {
 public:
  StopEvent();
  ~StopEvent();
  StopEvent(const StopEvent&) = delete;
  StopEvent& operator=(const StopEvent&) = delete;
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Signal();  // any thread
  void Drain();   // reset the counter (for reusable wake-ups)
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }
  void MarkStopped() { stopped_.store(true, std::memory_order_release); }

 private:
  int fd_ = -1;
  std::atomic<bool> stopped_{false};
};
