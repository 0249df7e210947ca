#include "dataplane/soft_offload.h"

#include <cstring>

#include "dataplane/vlan_tag.h"

namespace mdx {

namespace {

constexpr uint16_t kEthPIpv4 = 0x0800, kEthPIpv6 = 0x86dd;
constexpr uint8_t kProtoTcp = 6, kProtoUdp = 17;

inline uint16_t Get16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline uint32_t Get32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

// Offsets of a frame's L3 and L4 headers and its L4 protocol.
struct Headers {
  uint32_t l3 = 0, l4 = 0, end = 0;  // end: first payload byte
  bool v6 = false;
  uint8_t proto = 0;
};

bool ParseHeaders(const uint8_t* f, uint32_t len, Headers* h) {
  uint32_t off = 12;
  if (len < 14) return false;
  uint16_t et = Get16(f + off);
  for (int tags = 0; (et == kEthPVlan || et == kEthPQinQ) && tags < 2; tags++) {
    off += 4;
    if (len < off + 2) return false;
    et = Get16(f + off);
  }
  h->l3 = off + 2;
  if (et == kEthPIpv4) {
    if (len < h->l3 + 20 || (f[h->l3] >> 4) != 4) return false;
    const uint32_t ihl = uint32_t(f[h->l3] & 0x0f) * 4;
    if (ihl < 20 || len < h->l3 + ihl) return false;
    h->proto = f[h->l3 + 9];
    h->l4 = h->l3 + ihl;
  } else if (et == kEthPIpv6) {
    if (len < h->l3 + 40 || (f[h->l3] >> 4) != 6) return false;
    h->v6 = true;
    h->proto = f[h->l3 + 6];  // extension headers are not supported (refused below)
    h->l4 = h->l3 + 40;
  } else {
    return false;
  }
  if (h->proto == kProtoTcp) {
    if (len < h->l4 + 20) return false;
    const uint32_t th = uint32_t(f[h->l4 + 12] >> 4) * 4;
    if (th < 20 || len < h->l4 + th) return false;
    h->end = h->l4 + th;
  } else if (h->proto == kProtoUdp) {
    if (len < h->l4 + 8) return false;
    h->end = h->l4 + 8;
  } else {
    return false;
  }
  return true;
}

// The pseudo-header sum of an L4 segment of l4len bytes (RFC 793 / RFC 8200 section 8.1).
uint64_t PseudoSum(const uint8_t* f, const Headers& h, uint32_t l4len) {
  uint64_t s;
  if (h.v6) {
    s = CsumAdd(f + h.l3 + 8, 32, 0);  // source and destination addresses
  } else {
    s = CsumAdd(f + h.l3 + 12, 8, 0);
  }
  return s + h.proto + l4len;
}

bool Segment(const Frame& fr, uint8_t* s, FrameOut& out, SoftOffloadTally* t) {
  const uint8_t* f = fr.data;
  Headers h;
  if (!ParseHeaders(f, fr.len, &h)) return false;
  const uint8_t type = fr.vh.gsoType & ~kGsoEcn;
  const bool tcp = type == kGsoTcpV4 || type == kGsoTcpV6;
  if (tcp ? h.proto != kProtoTcp : (type != kGsoUdpL4 || h.proto != kProtoUdp)) return false;
  if ((type == kGsoTcpV4 && h.v6) || (type == kGsoTcpV6 && !h.v6)) return false;
  const uint32_t mss = fr.vh.gsoSize;
  const uint32_t payload = fr.len - h.end;
  if (mss == 0 || payload == 0 || h.end + mss > kMaxFrameBytes) return false;
  const uint32_t seq0 = tcp ? Get32(f + h.l4 + 4) : 0;
  const uint16_t id0 = h.v6 ? 0 : Get16(f + h.l3 + 4);
  uint32_t n = 0;
  for (uint32_t off = 0; off < payload; off += mss, n++) {
    const uint32_t seg = payload - off < mss ? payload - off : mss;
    const bool last = off + seg >= payload;
    memcpy(s, f, h.end);
    memcpy(s + h.end, f + h.end + off, seg);
    const uint32_t l4len = h.end - h.l4 + seg;
    if (h.v6) {
      Put16(s + h.l3 + 4, uint16_t(l4len));
    } else {
      Put16(s + h.l3 + 2, uint16_t(h.end - h.l3 + seg));
      Put16(s + h.l3 + 4, uint16_t(id0 + n));
      Put16(s + h.l3 + 10, 0);
      Put16(s + h.l3 + 10, CsumFold(CsumAdd(s + h.l3, h.l4 - h.l3, 0)));
    }
    uint8_t* l4 = s + h.l4;
    uint32_t csumAt;
    if (tcp) {
      Put32(l4 + 4, seq0 + off);
      if (!last) l4[13] &= uint8_t(~0x09);  // FIN, PSH: last segment only
      if (n > 0) l4[13] &= uint8_t(~0x80);  // CWR: first segment only
      csumAt = 16;
    } else {
      Put16(l4 + 4, uint16_t(l4len));
      csumAt = 6;
    }
    Put16(l4 + csumAt, 0);
    uint16_t c = CsumFold(CsumAdd(l4, l4len, PseudoSum(s, h, l4len)));
    if (!tcp && c == 0) c = 0xffff;  // UDP: 0 means "no checksum" (CSUM_MANGLED_0)
    Put16(l4 + csumAt, c);
    out.Out(s, h.end + seg);
  }
  t->gsoFrames++;
  t->segments += n;
  return true;
}

}  // namespace

uint64_t CsumAdd(const uint8_t* p, uint32_t len, uint64_t sum) {
  while (len >= 8) {
    sum += uint64_t(Get16(p)) + Get16(p + 2) + Get16(p + 4) + Get16(p + 6);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    sum += Get16(p);
    p += 2;
    len -= 2;
  }
  if (len) sum += uint64_t(p[0]) << 8;
  return sum;
}

uint16_t CsumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

bool SoftwareOffload(const Frame& fr, uint8_t* scratch, FrameOut& out, SoftOffloadTally* t) {
  if (fr.gso()) {
    if (!Segment(fr, scratch, out, t)) {
      t->refused++;
      return false;
    }
    return true;
  }
  if (fr.vh.flags & kVnetNeedsCsum) {
    const uint32_t cs = fr.vh.csumStart, at = cs + fr.vh.csumOffset;
    if (cs >= fr.len || at + 2 > fr.len) {
      t->refused++;
      return false;
    }
    memcpy(scratch, fr.data, fr.len);
    // The field holds the pseudo-header sum: summing over it completes the checksum.
    uint16_t c = CsumFold(CsumAdd(scratch + cs, fr.len - cs, 0));
    if (c == 0) c = 0xffff;  // skb_checksum_help: CSUM_MANGLED_0
    Put16(scratch + at, c);
    t->csums++;
    out.Out(scratch, fr.len);
    return true;
  }
  out.Out(fr.data, fr.len);
  return true;
}

uint32_t GsoSegmentLen(const Frame& fr) {
  Headers h;
  if (!fr.gso() || !ParseHeaders(fr.data, fr.len, &h)) return 0;
  return h.end + fr.vh.gsoSize;
}

}  // namespace mdx
