// PortTable::Build validation and lookups.
#include "dataplane/port_table.h"
#include "harness.h"
#include "table_builder.h"

using namespace mdx;
using namespace mdxtest;

TEST("port table: lookup by (vlan, mac), slot index, domains in insertion order") {
  auto t = BuildTable({{1, 0x020000000001}, {2, 0x020000000002, 10}, {3, 0x020000000003}});
  CHECK(t != nullptr);
  if (!t) return;
  CHECK_EQ(t->Lookup(0, 0x020000000001), 0);
  CHECK_EQ(t->Lookup(10, 0x020000000002), 1);
  CHECK_EQ(t->Lookup(0, 0x020000000002), -1);  // same MAC, other VLAN
  CHECK_EQ(t->Lookup(0, 0x0200000000ff), -1);
  CHECK_EQ(t->IndexOfSlot(3), 2);
  CHECK_EQ(t->IndexOfSlot(4), -1);
  CHECK_EQ(t->IndexOfSlot(1000000), -1);
  CHECK(t->DomainOf(0) >= 0);
  CHECK(t->DomainOf(10) >= 0);
  CHECK_EQ(t->DomainOf(11), -1);
  const auto& dom = t->domains()[t->DomainOf(0)];
  CHECK_EQ(dom.members.size(), size_t(2));
  CHECK_EQ(dom.members[0], 0u);
  CHECK_EQ(dom.members[1], 2u);
}

TEST("port table: rejects duplicate (vlan, mac), bad slots, bad VLAN, bad mode, lone passthru") {
  int rc = 0;
  std::string err;
  CHECK(!BuildTable({{1, 0x020000000001}, {2, 0x020000000001}}, &err, &rc));
  CHECK_EQ(rc, -EINVAL);
  CHECK(BuildTable({{1, 0x020000000001}, {2, 0x020000000001, 5}}, &err, &rc) != nullptr);  // other VLAN: fine
  CHECK(!BuildTable({{0, 0x020000000001}}, &err, &rc));                                     // slot 0 is the uplink
  CHECK(!BuildTable({{64, 0x020000000001}}, &err, &rc));                                    // >= maxSlots
  CHECK(!BuildTable({{1, 0x020000000001}, {1, 0x020000000002}}, &err, &rc));                // slot twice
  CHECK(!BuildTable({{1, 0x020000000001, 4095}}, &err, &rc));
  PortDef bad{1, 0x020000000001};
  bad.mode = 3;
  CHECK(!BuildTable({bad}, &err, &rc));
  PortDef pt{1, 0x020000000001};
  pt.mode = kModePassthru;
  CHECK(BuildTable({pt}, &err, &rc) != nullptr);
  CHECK(!BuildTable({pt, {2, 0x020000000002}}, &err, &rc));
  CHECK(err.find("passthru") != std::string::npos);
}

TEST("port table: truncated or foreign blobs are refused, never read past the end") {
  std::vector<uint8_t> blob = TableBlob({{1, 0x020000000001, 0, kModeSource, 0, {0x020000000009}}});
  std::unique_ptr<PortTable> t;
  std::string err;
  for (size_t cut = 0; cut < blob.size(); cut++)
    CHECK_EQ(PortTable::Build(blob.data(), cut, 64, &t, &err), -EINVAL);
  CHECK_EQ(PortTable::Build(blob.data(), blob.size(), 64, &t, &err), 0);
  blob[0] ^= 1;
  CHECK_EQ(PortTable::Build(blob.data(), blob.size(), 64, &t, &err), -EINVAL);
}

TEST("port table: source-mode allow-lists and declared multicast groups") {
  PortDef src{2, 0x020000000002, 0, kModeSource, 0, {0x0200000000aa, 0x0200000000bb}};
  PortDef mc{3, 0x020000000003, 0, kModeBridge, kFlagMcDeclared, {}, {0x01005e000001}};
  auto t = BuildTable({{1, 0x020000000001}, src, mc});
  CHECK(t != nullptr);
  if (!t) return;
  uint32_t n = 0;
  const uint32_t* l = t->SourceMatches(0, 0x0200000000bb, &n);
  CHECK_EQ(n, 1u);
  if (n == 1) CHECK_EQ(l[0], 1u);
  t->SourceMatches(0, 0x0200000000cc, &n);
  CHECK_EQ(n, 0u);
  CHECK(t->HasGroup(t->ports()[2], 0x01005e000001));
  CHECK(!t->HasGroup(t->ports()[2], 0x01005e000002));
}
