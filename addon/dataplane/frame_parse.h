// Ethernet / 802.1Q parsing for the demux engine: bounds-checked, no allocation, no exceptions.
// A frame that fails to parse gets a reason code (counted by the engine, never forwarded).
#pragma once
#include <cstdint>
#include <cstring>

#include "dataplane/vlan_tag.h"

namespace mdx {

// Why a frame was dropped. Shared with TypeScript (src/dataplane/drop-reasons.ts): keep in sync.
enum DropReason : uint8_t {
  kDropNone = 0,
  kDropRunt = 1,            // shorter than an Ethernet header (14 bytes, 18 with an inline 802.1Q tag)
  kDropOversized = 2,       // longer than the table's maxFrameLen (untagged length)
  kDropMalformed = 3,       // reserved VLAN id 4095, or a source MAC that is multicast
  kDropUnknownUnicast = 4,  // unicast from the uplink to a MAC no port owns (or owned by a source-mode port)
  kDropUnknownVlan = 5,     // frame from the uplink tagged with a VLAN no port is bound to
  kDropNoReceiver = 6,      // broadcast/multicast whose flood set is empty
  kDropPause = 7,           // 802.3x pause frame (EtherType 0x8808): never flooded
  kDropIngressGone = 8,     // ingress port no longer in the table (removed while the frame was in flight)
  kDropCount = 16,
};

constexpr uint16_t kEthPPause = 0x8808;

struct ParsedFrame {
  const uint8_t* frame = nullptr;  // start of the frame as given
  uint32_t len = 0;                // length as given
  const uint8_t* dst = nullptr;
  const uint8_t* src = nullptr;
  uint16_t vlan = 0;               // VLAN id (0 = untagged or priority-tagged)
  uint16_t ethertype = 0;          // EtherType after the (outer) tag
  uint32_t payloadOff = 12;        // offset of the EtherType field *after* any inline tag (12 or 16)
  bool inlineTag = false;          // the tag is in the frame bytes (not only in metadata)
  uint32_t untaggedLen = 0;        // length of the frame without the tag
};

inline uint64_t Mac48(const uint8_t* p) {
  return (uint64_t(p[0]) << 40) | (uint64_t(p[1]) << 32) | (uint64_t(p[2]) << 24) | (uint64_t(p[3]) << 16) |
         (uint64_t(p[4]) << 8) | uint64_t(p[5]);
}
// The (VLAN, MAC) key of the port table and the learning FDB: VLAN id in bits 48..59.
inline uint64_t VlanMacKey(uint16_t vlan, uint64_t mac) { return (uint64_t(vlan & 0x0fff) << 48) | mac; }
inline bool IsMulticastMac(const uint8_t* p) { return (p[0] & 1) != 0; }
inline bool IsBroadcastMac(const uint8_t* p) {
  return p[0] == 0xff && p[1] == 0xff && p[2] == 0xff && p[3] == 0xff && p[4] == 0xff && p[5] == 0xff;
}
inline uint16_t Be16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }

// Parse a frame. auxTci is the VLAN TCI delivered as metadata (AF_PACKET auxdata) or kNoVlanTci.
// parseTag: whether an inline 802.1Q/802.1ad outer tag selects the VLAN (true for the uplink; for
// frames a port transmits the tag is payload and the port's own VLAN applies).
// segLen: for a GSO super-frame, the wire length of one of its segments (the size limit applies
// to that, not to the super-frame); 0 otherwise.
// Returns kDropNone or the reason.
inline DropReason ParseFrame(const uint8_t* f, uint32_t len, uint32_t auxTci, bool parseTag, uint32_t maxFrameLen,
                             ParsedFrame* out, uint32_t segLen = 0) {
  out->frame = f;
  out->len = len;
  if (f == nullptr || len < 14) return kDropRunt;
  out->dst = f;
  out->src = f + 6;
  out->vlan = 0;
  out->inlineTag = false;
  out->payloadOff = 12;
  uint16_t et = Be16(f + 12);
  uint32_t untagged = len;
  if (parseTag && auxTci != kNoVlanTci) {
    out->vlan = uint16_t(auxTci & 0x0fff);
  } else if (parseTag && (et == kEthPVlan || et == kEthPQinQ)) {
    if (len < 18) return kDropRunt;
    out->vlan = uint16_t(Be16(f + 14) & 0x0fff);
    out->inlineTag = true;
    out->payloadOff = 16;
    et = Be16(f + 16);
    untagged = len - 4;
  }
  out->ethertype = et;
  out->untaggedLen = untagged;
  if ((segLen ? segLen - (len - untagged) : untagged) > maxFrameLen) return kDropOversized;
  if (out->vlan == 0x0fff) return kDropMalformed;
  if (IsMulticastMac(out->src)) return kDropMalformed;
  return kDropNone;
}

}  // namespace mdx
