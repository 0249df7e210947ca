// 802.1Q / 802.1ad tag insertion and removal on frame bytes (the only place the engine and the
// tools rewrite a frame's header).
#pragma once
#include <cstdint>
#include <cstring>

namespace mdx {

constexpr uint16_t kEthPVlan = 0x8100;
constexpr uint16_t kEthPQinQ = 0x88a8;
constexpr uint32_t kNoVlanTci = 0xffffffffu;  // "no tag" marker for the aux TCI argument
constexpr uint32_t kVlanTagLen = 4;

// The TPID of an aux TCI (TCI | TPID << 16, as PacketRing reports it); 0 means 802.1Q.
inline uint16_t AuxTpid(uint32_t auxTci) { return (auxTci >> 16) ? uint16_t(auxTci >> 16) : kEthPVlan; }

// Copy frame f (len >= 12 bytes) into out with the tag (tpid, tci) inserted after the MAC
// addresses. out must hold len + 4 bytes. Returns the new length.
inline uint32_t InsertVlanTag(uint8_t* out, const uint8_t* f, uint32_t len, uint16_t tpid, uint16_t tci) {
  memcpy(out, f, 12);
  out[12] = uint8_t(tpid >> 8);
  out[13] = uint8_t(tpid);
  out[14] = uint8_t(tci >> 8);
  out[15] = uint8_t(tci);
  memcpy(out + 16, f + 12, len - 12);
  return len + kVlanTagLen;
}

// Copy frame f (len >= 16 bytes, inline tag at offset 12) into out without the tag. Returns the
// new length.
inline uint32_t StripVlanTag(uint8_t* out, const uint8_t* f, uint32_t len) {
  memcpy(out, f, 12);
  memcpy(out + 12, f + 16, len - 16);
  return len - kVlanTagLen;
}

}  // namespace mdx
