#include "dataplane/fdb.h"

namespace mdx {

namespace {
inline uint64_t Hash64(uint64_t k) {
  k ^= k >> 31;
  k *= 0x9E3779B97F4A7C15ull;
  return k ^ (k >> 29);
}
}  // namespace

void Fdb::Learn(uint16_t vlan, uint64_t mac, uint32_t slot, uint32_t nowMs) {
  const uint64_t key = kUsed | VlanMacKey(vlan, mac);
  const uint64_t h = Hash64(key);
  Entry* victim = nullptr;
  for (uint32_t i = 0; i < kProbe; i++) {
    Entry& e = entries_[(h + i) & (kSize - 1)];
    const uint64_t k = e.key.load(std::memory_order_relaxed);
    if (k == key) {
      if (e.slot.load(std::memory_order_relaxed) != slot) e.slot.store(slot, std::memory_order_relaxed);
      if (e.seenMs.load(std::memory_order_relaxed) != nowMs) e.seenMs.store(nowMs, std::memory_order_relaxed);
      return;
    }
    if (!victim && (k == 0 || nowMs - e.seenMs.load(std::memory_order_relaxed) > ageingMs_)) victim = &e;
  }
  if (!victim) victim = &entries_[h & (kSize - 1)];
  victim->key.store(0, std::memory_order_relaxed);
  victim->slot.store(slot, std::memory_order_relaxed);
  victim->seenMs.store(nowMs, std::memory_order_relaxed);
  victim->key.store(key, std::memory_order_release);
}

uint32_t Fdb::LookupSlot(uint16_t vlan, uint64_t mac, uint32_t nowMs) const {
  const uint64_t key = kUsed | VlanMacKey(vlan, mac);
  const uint64_t h = Hash64(key);
  for (uint32_t i = 0; i < kProbe; i++) {
    const Entry& e = entries_[(h + i) & (kSize - 1)];
    if (e.key.load(std::memory_order_acquire) == key) {
      if (nowMs - e.seenMs.load(std::memory_order_relaxed) > ageingMs_) return 0;
      return e.slot.load(std::memory_order_relaxed);
    }
  }
  return 0;
}

void Fdb::ForgetSlot(uint32_t slot) {
  for (auto& e : entries_)
    if (e.slot.load(std::memory_order_relaxed) == slot) e.key.store(0, std::memory_order_relaxed);
}

}  // namespace mdx
