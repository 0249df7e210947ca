#include "dataplane/epochs.h"

#include <chrono>
#include <thread>

namespace mdx {

int Epochs::Register() {
  for (int i = 0; i < kMaxReaders; i++) {
    uint64_t expect = kUnused;
    if (readers_[i].seen.compare_exchange_strong(expect, kOffline)) return i;
  }
  return -1;
}

void Epochs::Unregister(int r) {
  if (r >= 0 && r < kMaxReaders) readers_[r].seen.store(kUnused);
}

bool Epochs::Synchronize(int timeoutMs) {
  const uint64_t target = global_.fetch_add(1, std::memory_order_seq_cst) + 1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (int spin = 0;; spin++) {
    bool all = true;
    for (int i = 0; i < kMaxReaders; i++) {
      if (readers_[i].seen.load(std::memory_order_seq_cst) < target) {
        all = false;
        break;
      }
    }
    if (all) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (spin < 64)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace mdx
