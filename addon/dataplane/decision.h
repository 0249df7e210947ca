// The pure forwarding decision: parsed frame + ingress -> egress set, with the kernel macvlan mode
// rules (drivers/net/macvlan.c: macvlan_handle_frame, macvlan_multicast_rx, macvlan_broadcast,
// macvlan_forward_source, macvlan_queue_xmit). No I/O, no allocation, no state: the same function
// serves the engine's workers and the differential test (engineDecideBatch), and
// src/dataplane/decide.ts is its TypeScript twin (the oracle).
#pragma once
#include <cstdint>
#include <vector>

#include "dataplane/frame_parse.h"
#include "dataplane/port_table.h"

namespace mdx {

constexpr int32_t kIngressUplink = -1;

struct Decision {
  uint32_t* ports = nullptr;  // egress port indexes (into table.ports()); caller-provided, DecisionCapacity()
  uint32_t n = 0;
  bool uplink = false;        // also transmit on the uplink
  uint16_t uplinkVlan = 0;    // tag the frame with this VLAN on the uplink (0 = untagged)
  DropReason reason = kDropNone;  // set when nothing is delivered
};

// Egress buffer size that is always enough for one decision on table t.
inline uint32_t DecisionCapacity(const PortTable& t) {
  return uint32_t(t.ports().size()) * 2 + t.maxSourceFanout() + 4;
}

// Learning FDB hook: Lookup(vlan, mac) -> port index or -1. NoFdb = pure macvlan (no learning).
struct NoFdb {
  static constexpr bool kEnabled = false;
  int32_t Lookup(uint16_t, uint64_t) const { return -1; }
};

namespace detail {

inline void Push(Decision* d, uint32_t idx) { d->ports[d->n++] = idx; }

// macvlan_forward_source: clones to source-mode ports listing the frame's source MAC.
// Returns true when one of them has NODST (the original frame is consumed).
inline bool ForwardSource(const PortTable& t, uint16_t vlan, uint64_t src, Decision* d) {
  uint32_t cnt = 0;
  const uint32_t* list = t.SourceMatches(vlan, src, &cnt);
  bool consume = false;
  for (uint32_t i = 0; i < cnt; i++) {
    Push(d, list[i]);
    if (t.ports()[list[i]].flags & kFlagNoDst) consume = true;
  }
  return consume;
}

// macvlan_broadcast: every port of the domain whose mode is in mask, except `except`, that accepts dst.
inline void Broadcast(const PortTable& t, const VlanDomain& dom, int32_t except, uint8_t mask, const uint8_t* dst,
                      Decision* d) {
  // declared multicast groups filter multicast only (not broadcast, not a learning-mode unicast flood)
  const bool groupFilter = IsMulticastMac(dst) && !IsBroadcastMac(dst);
  const uint64_t group = groupFilter ? Mac48(dst) : 0;
  const auto& ports = t.ports();
  for (uint32_t idx : dom.members) {
    if (int32_t(idx) == except) continue;
    const PortInfo& p = ports[idx];
    if (!(p.mode & mask)) continue;
    if (groupFilter && (p.flags & kFlagMcDeclared) && !t.HasGroup(p, group)) continue;
    Push(d, idx);
  }
}

// macvlan_handle_frame for a frame "received on the lower device" (from the wire, or a bridge-mode
// port's unicast to another bridge port, which the kernel injects with dev_forward_skb).
template <class Fdb>
inline void LowerDeviceRx(const PortTable& t, const ParsedFrame& f, int32_t domIdx, Decision* d, const Fdb& fdb) {
  const VlanDomain& dom = t.domains()[domIdx];
  const uint64_t src = Mac48(f.src);
  const auto& ports = t.ports();
  if (IsMulticastMac(f.dst)) {
    if (ForwardSource(t, f.vlan, src, d)) return;
    const int32_t s = t.Lookup(f.vlan, src);
    if (s >= 0 && ports[s].mode != kModeVepa && ports[s].mode != kModeBridge) {
      Push(d, uint32_t(s));  // reflected frame of a private/passthru/source port: back to it only
      return;
    }
    if (f.ethertype == kEthPPause) {
      if (d->n == 0) d->reason = kDropPause;
      return;
    }
    uint8_t mask;
    if (s < 0)
      mask = kModePrivate | kModeVepa | kModePassthru | kModeBridge;
    else if (ports[s].mode == kModeVepa)
      mask = kModeVepa | kModeBridge;
    else
      mask = kModeVepa;  // bridge ports already saw it on the way out
    Broadcast(t, dom, s, mask, f.dst, d);
    if (d->n == 0) d->reason = kDropNoReceiver;
    return;
  }
  if (ForwardSource(t, f.vlan, src, d)) return;
  int32_t target;
  if (dom.passthru >= 0) {
    target = dom.passthru;
  } else {
    target = t.Lookup(f.vlan, Mac48(f.dst));
    if (Fdb::kEnabled && target < 0) {
      target = fdb.Lookup(f.vlan, Mac48(f.dst));
      if (target < 0) {  // learning mode floods unknown unicast like a bridge
        Broadcast(t, dom, -1, kModePrivate | kModeVepa | kModeBridge, f.dst, d);
        if (d->n == 0) d->reason = kDropUnknownUnicast;
        return;
      }
    }
  }
  if (target < 0 || ports[target].mode == kModeSource) {
    if (d->n == 0) d->reason = kDropUnknownUnicast;
    return;
  }
  Push(d, uint32_t(target));
}

}  // namespace detail

// ingress: kIngressUplink, or the index (into t.ports()) of the port that transmitted the frame.
// f must have parsed without error (ParseFrame returned kDropNone).
template <class Fdb = NoFdb>
inline void Decide(const PortTable& t, const ParsedFrame& f, int32_t ingress, Decision* d, const Fdb& fdb = Fdb()) {
  d->n = 0;
  d->uplink = false;
  d->uplinkVlan = 0;
  d->reason = kDropNone;
  if (ingress == kIngressUplink) {
    const int32_t dom = t.DomainOf(f.vlan);
    if (dom < 0) {
      d->reason = kDropUnknownVlan;
      return;
    }
    detail::LowerDeviceRx(t, f, dom, d, fdb);
    return;
  }
  const PortInfo& p = t.ports()[ingress];
  d->uplinkVlan = p.vlan;
  if (p.mode == kModeBridge) {
    if (IsMulticastMac(f.dst)) {
      // macvlan_queue_xmit: other bridge ports directly, and the wire.
      if (f.ethertype != kEthPPause)
        detail::Broadcast(t, t.domains()[p.domain], ingress, kModeBridge, f.dst, d);
      d->uplink = true;
      return;
    }
    int32_t dest = t.Lookup(p.vlan, Mac48(f.dst));
    if (Fdb::kEnabled && dest < 0) dest = fdb.Lookup(p.vlan, Mac48(f.dst));
    if (dest >= 0 && t.ports()[dest].mode == kModeBridge) {
      // dev_forward_skb(lowerdev): the frame is received on the lower device again.
      ParsedFrame g = f;
      g.vlan = p.vlan;
      detail::LowerDeviceRx(t, g, int32_t(p.domain), d, fdb);
      return;
    }
  }
  d->uplink = true;  // private, vepa, passthru, source, and bridge towards the wire
}

// Batch entry for tests and tools: run n frames through ParseFrame + Decide.
struct BatchResult {
  // Per frame: reason, uplink flag, egress count; egress slots appended to `egress`.
  uint8_t* reasons;
  uint8_t* uplink;
  uint32_t* egressCount;
  uint32_t* egress;
  uint64_t egressCap;
  // Counters: drops[kDropCount], forwarded frames, per slot tx packets (size maxSlots; slot 0 = uplink).
  uint64_t* drops;
  uint64_t* forwarded;
  uint64_t* txPerSlot;
  uint32_t maxSlots;
};

// A learned-MAC table given explicitly (tests): entries of (vlan, mac) -> slot.
struct StaticFdbEntry {
  uint16_t vlan;
  uint64_t mac;
  uint32_t slot;
};

// frames: concatenated; offsets/lengths per frame; ingressSlot per frame (0 = uplink); tci per frame
// (kNoVlanTci = none) or nullptr; fdb: learning mode with these learned entries, or nullptr (macvlan).
// Returns frames processed, or -ENOBUFS when egress overflowed.
int64_t DecideBatch(const PortTable& t, const uint8_t* frames, size_t framesLen, const uint32_t* offsets,
                    const uint32_t* lengths, const uint32_t* ingressSlot, const uint32_t* tci, uint32_t n,
                    BatchResult* out, const std::vector<StaticFdbEntry>* fdb = nullptr);

}  // namespace mdx
