// Immutable snapshot of the switch's ports, built by the control plane and read by the workers.
//
// Lookup: O(1) open-addressing hash on (VLAN, MAC) -> port slot; per-port mode, VLAN, flags,
// source-MAC allow-list (source mode) and declared multicast groups; per-VLAN "domain" member lists
// (the ports a broadcast may reach, in the order they were added, like the kernel's port->vlans).
//
// A slot is the port's stable identity for the engine (egress registry, counters); slot 0 is the
// uplink, ports use 1..maxSlots-1. Snapshots are never modified after Build(): the engine swaps in a
// new one (TableHolder, RCU-style) and frees the old one once every worker passed a quiescent point.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/epochs.h"
#include "dataplane/frame_parse.h"

namespace mdx {

// Mode bits are the kernel's enum macvlan_mode values.
enum PortMode : uint8_t {
  kModePrivate = 1,
  kModeVepa = 2,
  kModeBridge = 4,
  kModePassthru = 8,
  kModeSource = 16,
};

enum PortFlags : uint8_t {
  kFlagNoDst = 1,        // source mode: a matching frame is consumed (no destination delivery)
  kFlagMcDeclared = 2,   // the port declared its multicast groups: only those (and broadcast) are delivered
};

constexpr uint32_t kUplinkSlot = 0;

struct PortInfo {
  uint32_t slot = 0;
  uint64_t mac = 0;          // 48-bit MAC, big-endian order in the low 48 bits
  uint16_t vlan = 0;         // 0 = untagged
  uint8_t mode = kModeVepa;
  uint8_t flags = 0;
  uint32_t domain = 0;       // index into PortTable::domains_
  std::vector<uint64_t> mcGroups;  // sorted, when kFlagMcDeclared
};

struct VlanDomain {
  uint16_t vlan = 0;
  std::vector<uint32_t> members;   // indexes into ports_, in the order the ports were added
  int32_t passthru = -1;           // index into ports_ of the passthru port, or -1
};

class PortTable {
 public:
  // Serialized form (little-endian), produced by src/dataplane/table-codec.ts:
  //   u32 magic 'MDXT' (0x5458444d), u32 version (1), u32 portCount, u32 maxFrameLen,
  //   per port: u32 slot, u8 mac[6], u16 vlan, u8 mode, u8 flags, u16 sourceCount, u16 groupCount,
  //             u8 pad[2], then sourceCount*6 bytes of source MACs, groupCount*6 bytes of groups.
  // Returns 0 or -EINVAL (bad blob, duplicate (vlan, mac), slot out of range, two passthru ports or a
  // passthru port sharing its VLAN with another port).
  static int Build(const uint8_t* blob, size_t len, uint32_t maxSlots, std::unique_ptr<PortTable>* out,
                   std::string* err);

  // Port index (into ports()) owning (vlan, mac), or -1.
  inline int32_t Lookup(uint16_t vlan, uint64_t mac) const {
    if (hashMask_ == 0) return -1;
    const uint64_t key = VlanMacKey(vlan, mac);
    uint64_t h = Hash(key) & hashMask_;
    for (;;) {
      const uint64_t k = keys_[h];
      if (k == key) return vals_[h];
      if (k == kEmpty) return -1;
      h = (h + 1) & hashMask_;
    }
  }
  // Source-mode ports (indexes) whose allow-list holds (vlan, srcMac): [*begin, *begin + *count).
  inline const uint32_t* SourceMatches(uint16_t vlan, uint64_t srcMac, uint32_t* count) const {
    *count = 0;
    if (srcMask_ == 0) return nullptr;
    const uint64_t key = VlanMacKey(vlan, srcMac);
    uint64_t h = Hash(key) & srcMask_;
    for (;;) {
      const uint64_t k = srcKeys_[h];
      if (k == key) {
        *count = srcVals_[h].count;
        return srcLists_.data() + srcVals_[h].offset;
      }
      if (k == kEmpty) return nullptr;
      h = (h + 1) & srcMask_;
    }
  }
  // Domain index for a VLAN id, or -1 when no port is bound to it.
  inline int32_t DomainOf(uint16_t vlan) const { return vlanToDomain_[vlan & 0x0fff]; }

  const std::vector<PortInfo>& ports() const { return ports_; }
  const std::vector<VlanDomain>& domains() const { return domains_; }
  // Port index for a slot, or -1.
  inline int32_t IndexOfSlot(uint32_t slot) const {
    return slot < slotToIndex_.size() ? slotToIndex_[slot] : -1;
  }
  uint32_t maxFrameLen() const { return maxFrameLen_; }
  uint32_t maxSourceFanout() const { return maxSourceFanout_; }
  bool HasGroup(const PortInfo& p, uint64_t group) const;
  // Every (vlan << 48 | mac) key of the source-mode allow-lists (the XDP loader mirrors them).
  std::vector<uint64_t> SourceKeys() const {
    std::vector<uint64_t> out;
    for (uint64_t k : srcKeys_)
      if (k != kEmpty) out.push_back(k);
    return out;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static inline uint64_t Hash(uint64_t key) {
    key ^= key >> 29;
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 32);
  }
  struct SrcRange {
    uint32_t offset, count;
  };
  std::vector<PortInfo> ports_;
  std::vector<VlanDomain> domains_;
  std::vector<int32_t> slotToIndex_;
  std::vector<int32_t> vlanToDomain_;
  std::vector<uint64_t> keys_;
  std::vector<int32_t> vals_;
  uint64_t hashMask_ = 0;
  std::vector<uint64_t> srcKeys_;
  std::vector<SrcRange> srcVals_;
  std::vector<uint32_t> srcLists_;
  uint64_t srcMask_ = 0;
  uint32_t maxFrameLen_ = 1514;
  uint32_t maxSourceFanout_ = 0;
};

// The published table pointer. Readers: Get() while online. Writer: Publish() then Epochs::Synchronize()
// then delete the returned old table (done by Swap()).
class TableHolder {
 public:
  ~TableHolder() { delete current_.load(); }
  inline const PortTable* Get() const { return current_.load(std::memory_order_acquire); }
  // Publish t, wait for readers, free the old snapshot. Returns false if readers did not quiesce in
  // time (the old table is then leaked on purpose rather than freed under a reader).
  bool Swap(std::unique_ptr<PortTable> t, Epochs* epochs, int timeoutMs);

 private:
  std::atomic<PortTable*> current_{nullptr};
};

}  // namespace mdx
