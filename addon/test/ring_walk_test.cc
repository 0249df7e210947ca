// WalkV3Block: every offset in an RX block is checked before use (a corrupted or hostile block
// never makes the walk read outside it).
#include <linux/if_packet.h>

#include <cstring>
#include <vector>

#include "harness.h"
#include "io/packet_ring.h"

using namespace mdxtest;

namespace {

constexpr uint32_t kBlock = 4096;
constexpr uint32_t kFirst = 48;  // offset_to_first_pkt (after tpacket_block_desc, aligned)
constexpr uint32_t kMac = 80;    // tp_mac: frame start relative to its tpacket3_hdr

struct Block {
  std::vector<uint8_t> mem = std::vector<uint8_t>(kBlock, 0);
  tpacket_block_desc* desc() { return reinterpret_cast<tpacket_block_desc*>(mem.data()); }
  tpacket3_hdr* at(uint32_t off) { return reinterpret_cast<tpacket3_hdr*>(mem.data() + off); }
  // Append frames of `lens` bytes one after another; returns their header offsets.
  std::vector<uint32_t> Fill(const std::vector<uint32_t>& lens) {
    std::vector<uint32_t> offs;
    uint32_t off = kFirst;
    desc()->hdr.bh1.offset_to_first_pkt = kFirst;
    desc()->hdr.bh1.num_pkts = uint32_t(lens.size());
    for (size_t i = 0; i < lens.size(); i++) {
      tpacket3_hdr* h = at(off);
      h->tp_mac = kMac;
      h->tp_snaplen = lens[i];
      h->tp_len = lens[i];
      const uint32_t next = (kMac + lens[i] + 15) & ~15u;
      h->tp_next_offset = i + 1 < lens.size() ? next : 0;
      offs.push_back(off);
      off += next;
    }
    return offs;
  }
  int Walk(RxBlockTally* t, std::vector<uint32_t>* lens, uint32_t vnet = 0) {
    return WalkV3Block(mem.data(), kBlock, vnet, mem.data(), t, [&](const RxFrameInfo& fi) {
      lens->push_back(fi.len);
      CHECK(fi.frame >= mem.data() && fi.frame + fi.len <= mem.data() + kBlock);
    });
  }
};

}  // namespace

TEST("ring walk: a well-formed block yields every frame with its length and VLAN") {
  Block b;
  auto offs = b.Fill({60, 1514, 100});
  b.at(offs[1])->tp_status = TP_STATUS_VLAN_VALID;
  b.at(offs[1])->hv1.tp_vlan_tci = 42;
  RxBlockTally t;
  std::vector<uint32_t> lens;
  std::vector<uint32_t> tcis;
  WalkV3Block(b.mem.data(), kBlock, 0, b.mem.data(), &t, [&](const RxFrameInfo& fi) {
    lens.push_back(fi.len);
    tcis.push_back(fi.vlanTci);
  });
  CHECK(lens == std::vector<uint32_t>({60, 1514, 100}));
  CHECK_EQ(tcis[0], PacketRing::kNoVlan);
  CHECK_EQ(tcis[1], 42u | (0x8100u << 16));
  CHECK_EQ(t.pkts, 3u);
  CHECK_EQ(t.malformed, 0u);
}

TEST("ring walk: offsets outside the block stop the walk and count as malformed") {
  RxBlockTally t;
  std::vector<uint32_t> lens;
  {
    Block b;
    b.Fill({60});
    b.desc()->hdr.bh1.offset_to_first_pkt = kBlock - 8;  // header would cross the end
    CHECK_EQ(b.Walk(&t, &lens), 0);
    CHECK_EQ(t.malformed, 1u);
  }
  {
    Block b;
    auto offs = b.Fill({60});
    b.at(offs[0])->tp_snaplen = kBlock;  // frame would cross the end
    t = RxBlockTally();
    CHECK_EQ(b.Walk(&t, &lens), 0);
    CHECK_EQ(t.malformed, 1u);
  }
  {
    Block b;
    auto offs = b.Fill({60, 60});
    b.at(offs[0])->tp_next_offset = 0xfffffff0u;  // would wrap around
    b.desc()->hdr.bh1.num_pkts = 5;
    t = RxBlockTally();
    lens.clear();
    CHECK_EQ(b.Walk(&t, &lens), 1);
    CHECK_EQ(t.malformed, 1u);
  }
  {
    Block b;
    auto offs = b.Fill({60});
    b.at(offs[0])->tp_mac = 4;  // no room for the vnet header before the frame
    t = RxBlockTally();
    CHECK_EQ(b.Walk(&t, &lens, 10), 0);
    CHECK_EQ(t.malformed, 1u);
  }
}

TEST("ring walk: short and truncated frames are counted, not delivered short of an Ethernet header") {
  Block b;
  auto offs = b.Fill({10, 60, 50});
  b.at(offs[1])->tp_len = 9000;  // snaplen 60 of a 9000-byte frame
  RxBlockTally t;
  std::vector<uint32_t> lens;
  CHECK_EQ(b.Walk(&t, &lens), 2);
  CHECK(lens == std::vector<uint32_t>({60, 50}));
  CHECK_EQ(t.malformed, 1u);
  CHECK_EQ(t.truncated, 1u);
  CHECK_EQ(t.runts, 1u);  // the 50-byte frame
}
