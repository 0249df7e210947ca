// Learning FDB (optional): fixed-size open-addressing table of (vlan, mac) -> slot with last-seen
// time. Racy by design between workers (a torn update can misdirect a frame until the next one
// refreshes it), never unsafe: every field is an atomic word.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/port_table.h"

namespace mdx {

class Fdb {
 public:
  explicit Fdb(uint32_t ageingMs) : ageingMs_(ageingMs), entries_(kSize) {}
  void Learn(uint16_t vlan, uint64_t mac, uint32_t slot, uint32_t nowMs);
  uint32_t LookupSlot(uint16_t vlan, uint64_t mac, uint32_t nowMs) const;  // 0 = none
  void ForgetSlot(uint32_t slot);

 private:
  static constexpr uint32_t kSize = 1 << 16, kProbe = 16;
  static constexpr uint64_t kUsed = 1ull << 63;  // keys are VlanMacKey | kUsed, 0 = empty
  struct Entry {
    std::atomic<uint64_t> key{0};
    std::atomic<uint32_t> slot{0};
    std::atomic<uint32_t> seenMs{0};
  };
  uint32_t ageingMs_;
  std::vector<Entry> entries_;
};

// A learned slot is usable while its port is still in the table and in the frame's VLAN.
// Returns the port index, or -1.
inline int32_t LearnedPortIndex(const PortTable& t, uint32_t slot, uint16_t vlan) {
  if (slot == 0) return -1;
  const int32_t idx = t.IndexOfSlot(slot);
  if (idx < 0 || t.ports()[idx].vlan != vlan) return -1;
  return idx;
}

// Decide() hook for the learning FDB (see NoFdb in decision.h).
struct FdbView {
  static constexpr bool kEnabled = true;
  const Fdb* fdb;
  const PortTable* t;
  uint32_t now;
  int32_t Lookup(uint16_t vlan, uint64_t mac) const { return LearnedPortIndex(*t, fdb->LookupSlot(vlan, mac, now), vlan); }
};

}  // namespace mdx
