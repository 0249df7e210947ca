// Port table snapshot construction and publication (TableHolder).
#include "dataplane/port_table.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>

namespace mdx {

namespace {

struct Reader {
  const uint8_t* p;
  size_t left;
  bool ok = true;
  bool Need(size_t n) {
    if (left < n) ok = false;
    return ok;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
    p += 4;
    left -= 4;
    return v;
  }
  uint16_t U16() {
    if (!Need(2)) return 0;
    uint16_t v = uint16_t(p[0] | (p[1] << 8));
    p += 2;
    left -= 2;
    return v;
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    uint8_t v = p[0];
    p += 1;
    left -= 1;
    return v;
  }
  uint64_t Mac() {
    if (!Need(6)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 6; i++) v = (v << 8) | p[i];
    p += 6;
    left -= 6;
    return v;
  }
};

uint64_t Pow2AtLeast(uint64_t n) {
  uint64_t c = 16;
  while (c < n) c <<= 1;
  return c;
}

}  // namespace

bool PortTable::HasGroup(const PortInfo& p, uint64_t group) const {
  return std::binary_search(p.mcGroups.begin(), p.mcGroups.end(), group);
}

int PortTable::Build(const uint8_t* blob, size_t len, uint32_t maxSlots, std::unique_ptr<PortTable>* out,
                     std::string* err) {
  Reader r{blob, len};
  if (r.U32() != 0x5458444du || r.U32() != 1) {
    *err = "bad table blob (magic/version)";
    return -EINVAL;
  }
  const uint32_t n = r.U32();
  const uint32_t maxFrameLen = r.U32();
  if (!r.ok || n >= maxSlots) {
    *err = "bad table blob (port count)";
    return -EINVAL;
  }
  std::unique_ptr<PortTable> t(new PortTable());
  t->maxFrameLen_ = maxFrameLen;
  t->ports_.reserve(n);
  t->slotToIndex_.assign(maxSlots, -1);
  t->vlanToDomain_.assign(4096, -1);
  // (vlan, src mac) -> list of source-port indexes, in port order.
  std::vector<std::pair<uint64_t, uint32_t>> srcPairs;
  for (uint32_t i = 0; i < n; i++) {
    PortInfo pi;
    pi.slot = r.U32();
    pi.mac = r.Mac();
    pi.vlan = r.U16();
    pi.mode = r.U8();
    pi.flags = r.U8();
    const uint16_t nsrc = r.U16();
    const uint16_t ngrp = r.U16();
    r.U16();  // pad
    if (!r.ok) {
      *err = "bad table blob (truncated port)";
      return -EINVAL;
    }
    if (pi.slot == kUplinkSlot || pi.slot >= maxSlots || t->slotToIndex_[pi.slot] != -1) {
      *err = "bad port slot " + std::to_string(pi.slot);
      return -EINVAL;
    }
    if (pi.vlan >= 4095) {
      *err = "bad VLAN id " + std::to_string(pi.vlan);
      return -EINVAL;
    }
    if (pi.mode != kModePrivate && pi.mode != kModeVepa && pi.mode != kModeBridge && pi.mode != kModePassthru &&
        pi.mode != kModeSource) {
      *err = "bad mode " + std::to_string(pi.mode);
      return -EINVAL;
    }
    for (uint16_t s = 0; s < nsrc; s++) {
      const uint64_t m = r.Mac();
      if (pi.mode == kModeSource) srcPairs.emplace_back(VlanMacKey(pi.vlan, m), i);
    }
    for (uint16_t g = 0; g < ngrp; g++) pi.mcGroups.push_back(r.Mac());
    if (!r.ok) {
      *err = "bad table blob (truncated lists)";
      return -EINVAL;
    }
    std::sort(pi.mcGroups.begin(), pi.mcGroups.end());
    pi.mcGroups.erase(std::unique(pi.mcGroups.begin(), pi.mcGroups.end()), pi.mcGroups.end());
    int32_t d = t->vlanToDomain_[pi.vlan];
    if (d < 0) {
      d = int32_t(t->domains_.size());
      t->domains_.push_back(VlanDomain{pi.vlan, {}, -1});
      t->vlanToDomain_[pi.vlan] = d;
    }
    VlanDomain& dom = t->domains_[d];
    if (dom.passthru >= 0 || (pi.mode == kModePassthru && !dom.members.empty())) {
      *err = "a passthru port must be the only port of its VLAN";
      return -EINVAL;
    }
    if (pi.mode == kModePassthru) dom.passthru = int32_t(i);
    dom.members.push_back(i);
    pi.domain = uint32_t(d);
    t->slotToIndex_[pi.slot] = int32_t(i);
    t->ports_.push_back(std::move(pi));
  }
  // Destination hash.
  const uint64_t cap = Pow2AtLeast(uint64_t(n) * 2 + 1);
  t->keys_.assign(cap, kEmpty);
  t->vals_.assign(cap, -1);
  t->hashMask_ = cap - 1;
  for (uint32_t i = 0; i < n; i++) {
    const uint64_t key = VlanMacKey(t->ports_[i].vlan, t->ports_[i].mac);
    uint64_t h = Hash(key) & t->hashMask_;
    while (t->keys_[h] != kEmpty) {
      if (t->keys_[h] == key) {
        *err = "duplicate MAC in one VLAN";
        return -EINVAL;
      }
      h = (h + 1) & t->hashMask_;
    }
    t->keys_[h] = key;
    t->vals_[h] = int32_t(i);
  }
  // Source hash: group pairs by key, keeping port order within a key; drop duplicate (key, port).
  std::stable_sort(srcPairs.begin(), srcPairs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  srcPairs.erase(std::unique(srcPairs.begin(), srcPairs.end()), srcPairs.end());
  size_t distinct = 0;
  for (size_t i = 0; i < srcPairs.size(); i++)
    if (i == 0 || srcPairs[i].first != srcPairs[i - 1].first) distinct++;
  if (distinct > 0) {
    const uint64_t scap = Pow2AtLeast(distinct * 2 + 1);
    t->srcKeys_.assign(scap, kEmpty);
    t->srcVals_.assign(scap, SrcRange{0, 0});
    t->srcMask_ = scap - 1;
    size_t i = 0;
    while (i < srcPairs.size()) {
      size_t j = i;
      while (j < srcPairs.size() && srcPairs[j].first == srcPairs[i].first) j++;
      const uint32_t off = uint32_t(t->srcLists_.size());
      for (size_t k = i; k < j; k++) t->srcLists_.push_back(srcPairs[k].second);
      uint64_t h = Hash(srcPairs[i].first) & t->srcMask_;
      while (t->srcKeys_[h] != kEmpty) h = (h + 1) & t->srcMask_;
      t->srcKeys_[h] = srcPairs[i].first;
      t->srcVals_[h] = SrcRange{off, uint32_t(j - i)};
      t->maxSourceFanout_ = std::max<uint32_t>(t->maxSourceFanout_, uint32_t(j - i));
      i = j;
    }
  }
  *out = std::move(t);
  return 0;
}

bool TableHolder::Swap(std::unique_ptr<PortTable> t, Epochs* epochs, int timeoutMs) {
  PortTable* old = current_.exchange(t.release(), std::memory_order_seq_cst);
  if (old == nullptr) return true;
  if (epochs->Synchronize(timeoutMs)) {
    delete old;
    return true;
  }
  return false;  // leaked on purpose: a reader may still hold it
}

}  // namespace mdx
