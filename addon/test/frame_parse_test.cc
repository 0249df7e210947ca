// ParseFrame bounds and VLAN handling; tag insert/strip.
#include <vector>

#include "dataplane/frame_parse.h"
#include "dataplane/vlan_tag.h"
#include "harness.h"
#include "table_builder.h"

using namespace mdx;
using namespace mdxtest;

TEST("frame parse: runts, oversized, malformed") {
  ParsedFrame pf;
  std::vector<uint8_t> f = Frame(0x020000000001, 0x020000000002);
  CHECK_EQ(ParseFrame(nullptr, 0, kNoVlanTci, true, 1514, &pf), kDropRunt);
  for (uint32_t len = 0; len < 14; len++) CHECK_EQ(ParseFrame(f.data(), len, kNoVlanTci, true, 1514, &pf), kDropRunt);
  CHECK_EQ(ParseFrame(f.data(), 14, kNoVlanTci, true, 1514, &pf), kDropNone);
  CHECK_EQ(ParseFrame(f.data(), 60, kNoVlanTci, true, 59, &pf), kDropOversized);
  std::vector<uint8_t> mcsrc = Frame(0x020000000001, 0x010000000002);
  CHECK_EQ(ParseFrame(mcsrc.data(), 60, kNoVlanTci, true, 1514, &pf), kDropMalformed);
  std::vector<uint8_t> v4095 = Frame(0x020000000001, 0x020000000002, 0x0800, 64, 4095);
  CHECK_EQ(ParseFrame(v4095.data(), 64, kNoVlanTci, true, 1514, &pf), kDropMalformed);
}

TEST("frame parse: inline tag on the uplink selects the VLAN; from a port it is payload") {
  ParsedFrame pf;
  std::vector<uint8_t> f = Frame(0x020000000001, 0x020000000002, 0x0806, 64, 42);
  CHECK_EQ(ParseFrame(f.data(), 64, kNoVlanTci, true, 1514, &pf), kDropNone);
  CHECK_EQ(pf.vlan, 42);
  CHECK(pf.inlineTag);
  CHECK_EQ(pf.ethertype, 0x0806);
  CHECK_EQ(pf.untaggedLen, 60u);
  for (uint32_t len = 14; len < 18; len++) CHECK_EQ(ParseFrame(f.data(), len, kNoVlanTci, true, 1514, &pf), kDropRunt);
  CHECK_EQ(ParseFrame(f.data(), 64, kNoVlanTci, false, 1514, &pf), kDropNone);
  CHECK_EQ(pf.vlan, 0);
  CHECK(!pf.inlineTag);
  CHECK_EQ(pf.ethertype, kEthPVlan);
  // The tag as metadata (auxdata) wins and the bytes stay as they are.
  std::vector<uint8_t> u = Frame(0x020000000001, 0x020000000002);
  CHECK_EQ(ParseFrame(u.data(), 60, 7 | (0x8100u << 16), true, 1514, &pf), kDropNone);
  CHECK_EQ(pf.vlan, 7);
  CHECK(!pf.inlineTag);
  // maxFrameLen applies to the untagged length.
  CHECK_EQ(ParseFrame(f.data(), 64, kNoVlanTci, true, 60, &pf), kDropNone);
  CHECK_EQ(ParseFrame(f.data(), 64, kNoVlanTci, true, 59, &pf), kDropOversized);
}

TEST("vlan tag: insert then strip gives the frame back; key packs vlan above the MAC") {
  std::vector<uint8_t> f = Frame(0x020000000001, 0x020000000002, 0x0800, 80);
  for (size_t i = 14; i < f.size(); i++) f[i] = uint8_t(i);
  std::vector<uint8_t> tagged(f.size() + 4), back(f.size());
  CHECK_EQ(InsertVlanTag(tagged.data(), f.data(), uint32_t(f.size()), kEthPQinQ, 0x2005), uint32_t(f.size() + 4));
  CHECK_EQ(tagged[12], 0x88);
  CHECK_EQ(tagged[13], 0xa8);
  CHECK_EQ(tagged[14], 0x20);
  CHECK_EQ(tagged[15], 0x05);
  CHECK_EQ(StripVlanTag(back.data(), tagged.data(), uint32_t(tagged.size())), uint32_t(f.size()));
  CHECK(back == f);
  CHECK_EQ(AuxTpid(5), kEthPVlan);
  CHECK_EQ(AuxTpid(5 | (0x88a8u << 16)), kEthPQinQ);
  CHECK_EQ(VlanMacKey(0x1005, 0x020000000001), (uint64_t(0x005) << 48) | 0x020000000001);
}
