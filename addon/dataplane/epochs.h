// Quiescent-state based reclamation (RCU-style) for what the workers read without locks.
#pragma once
#include <atomic>
#include <cstdint>

namespace mdx {

// Quiescent-state based reclamation for table snapshots (and anything else workers read without
// locks, e.g. egress objects). Each reader registers a slot; it calls Online() before it touches
// shared pointers, Quiescent() between work items and Offline() before it blocks. A writer publishes
// the new pointer, then Synchronize() waits until every reader passed a quiescent point.
class Epochs {
 public:
  static constexpr int kMaxReaders = 64;
  int Register();                      // reader index, or -1
  void Unregister(int r);
  inline void Online(int r) { readers_[r].seen.store(global_.load(std::memory_order_seq_cst), std::memory_order_seq_cst); }
  inline void Quiescent(int r) { Online(r); }
  inline void Offline(int r) { readers_[r].seen.store(kOffline, std::memory_order_seq_cst); }
  // Returns true when every reader passed a quiescent point, false on timeout.
  bool Synchronize(int timeoutMs);

 private:
  static constexpr uint64_t kOffline = ~uint64_t(0);
  static constexpr uint64_t kUnused = ~uint64_t(0) - 1;
  struct alignas(64) Reader {
    std::atomic<uint64_t> seen{kUnused};
  };
  std::atomic<uint64_t> global_{1};
  Reader readers_[kMaxReaders];
};

}  // namespace mdx
