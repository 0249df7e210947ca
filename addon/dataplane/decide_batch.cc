// Batch driver of the decision function (used by the differential test through engineDecideBatch).
#include "dataplane/decision.h"
#include "dataplane/fdb.h"

#include <cerrno>
#include <unordered_map>
#include <vector>

namespace mdx {

namespace {
// Learning-mode hook over explicit entries (same rule as the engine's FDB view: the learned port must
// still exist and be in the frame's VLAN).
struct StaticFdb {
  static constexpr bool kEnabled = true;
  std::unordered_map<uint64_t, uint32_t> map;
  const PortTable* t;
  int32_t Lookup(uint16_t vlan, uint64_t mac) const {
    auto it = map.find(VlanMacKey(vlan, mac));
    return it == map.end() ? -1 : LearnedPortIndex(*t, it->second, vlan);
  }
};
}  // namespace

int64_t DecideBatch(const PortTable& t, const uint8_t* frames, size_t framesLen, const uint32_t* offsets,
                    const uint32_t* lengths, const uint32_t* ingressSlot, const uint32_t* tci, uint32_t n,
                    BatchResult* out, const std::vector<StaticFdbEntry>* fdb) {
  StaticFdb sf;
  sf.t = &t;
  if (fdb)
    for (const auto& e : *fdb) sf.map[VlanMacKey(e.vlan, e.mac)] = e.slot;
  std::vector<uint32_t> buf(DecisionCapacity(t));
  Decision d;
  d.ports = buf.data();
  uint64_t used = 0;
  const auto& ports = t.ports();
  for (uint32_t i = 0; i < n; i++) {
    out->uplink[i] = 0;
    out->egressCount[i] = 0;
    const uint64_t off = offsets[i];
    uint32_t len = lengths[i];
    const uint8_t* f = frames + off;
    if (off > framesLen || len > framesLen - off) {
      f = nullptr;  // out of the buffer: treat as a runt, never read past it
      len = 0;
    }
    const uint32_t slot = ingressSlot[i];
    int32_t ingress = kIngressUplink;
    if (slot != kUplinkSlot) {
      ingress = t.IndexOfSlot(slot);
      if (ingress < 0) {
        out->reasons[i] = kDropIngressGone;
        out->drops[kDropIngressGone]++;
        continue;
      }
    }
    ParsedFrame pf;
    DropReason r = ParseFrame(f, len, tci ? tci[i] : kNoVlanTci, ingress == kIngressUplink, t.maxFrameLen(), &pf);
    if (r == kDropNone) {
      if (fdb)
        Decide(t, pf, ingress, &d, sf);
      else
        Decide(t, pf, ingress, &d);
      r = d.reason;
      if (d.n > 0 || d.uplink) r = kDropNone;
    } else {
      d.n = 0;
      d.uplink = false;
    }
    out->reasons[i] = r;
    if (r != kDropNone) {
      out->drops[r]++;
      continue;
    }
    (*out->forwarded)++;
    if (used + d.n > out->egressCap) return -ENOBUFS;
    for (uint32_t k = 0; k < d.n; k++) {
      const uint32_t s = ports[d.ports[k]].slot;
      out->egress[used++] = s;
      if (s < out->maxSlots) out->txPerSlot[s]++;
    }
    out->egressCount[i] = d.n;
    if (d.uplink) {
      out->uplink[i] = 1;
      out->txPerSlot[kUplinkSlot]++;
    }
  }
  return n;
}

}  // namespace mdx
