// Decide(): the macvlan mode rules (drivers/net/macvlan.c) on small tables. The exhaustive
// comparison with the TypeScript oracle is test/unit/demux-differential.test.ts.
#include <algorithm>
#include <vector>

#include "dataplane/decision.h"
#include "dataplane/fdb.h"
#include "harness.h"
#include "table_builder.h"

using namespace mdx;
using namespace mdxtest;

namespace {

struct Run {
  Decision d;
  std::vector<uint32_t> buf;
  std::vector<uint32_t> slots;  // egress slots, sorted
  DropReason parse = kDropNone;
};

Run DecideOne(const PortTable& t, const std::vector<uint8_t>& f, uint32_t inSlot) {
  Run r;
  r.buf.resize(DecisionCapacity(t));
  r.d.ports = r.buf.data();
  const int32_t ingress = inSlot == kUplinkSlot ? kIngressUplink : t.IndexOfSlot(inSlot);
  ParsedFrame pf;
  r.parse = ParseFrame(f.data(), uint32_t(f.size()), kNoVlanTci, ingress == kIngressUplink, t.maxFrameLen(), &pf);
  if (r.parse != kDropNone) return r;
  Decide(t, pf, ingress, &r.d);
  for (uint32_t i = 0; i < r.d.n; i++) r.slots.push_back(t.ports()[r.d.ports[i]].slot);
  std::sort(r.slots.begin(), r.slots.end());
  return r;
}

PortDef P(uint32_t slot, uint8_t mode, uint16_t vlan = 0) { return PortDef{slot, 0x020000000000ull + slot, vlan, mode}; }
constexpr uint64_t kBcast = 0xffffffffffffull;
constexpr uint64_t kWire = 0x0a0000000001ull;  // a host on the wire

}  // namespace

TEST("decision: uplink unicast goes to the owner only; unknown unicast is dropped") {
  auto t = BuildTable({P(1, kModeBridge), P(2, kModeVepa), P(3, kModePrivate)});
  Run r = DecideOne(*t, Frame(0x020000000002, kWire), kUplinkSlot);
  CHECK(r.slots == std::vector<uint32_t>({2}));
  CHECK(!r.d.uplink);
  r = DecideOne(*t, Frame(0x0200000000ff, kWire), kUplinkSlot);
  CHECK_EQ(r.d.n, 0u);
  CHECK_EQ(r.d.reason, kDropUnknownUnicast);
}

TEST("decision: broadcast from the wire reaches every port; from a bridge port the other bridge ports and the wire") {
  auto t = BuildTable({P(1, kModeBridge), P(2, kModeBridge), P(3, kModeVepa), P(4, kModePrivate)});
  Run r = DecideOne(*t, Frame(kBcast, kWire), kUplinkSlot);
  CHECK(r.slots == std::vector<uint32_t>({1, 2, 3, 4}));
  r = DecideOne(*t, Frame(kBcast, 0x020000000001), 1);
  CHECK(r.slots == std::vector<uint32_t>({2}));
  CHECK(r.d.uplink);
  // A private port's broadcast goes to the wire only.
  r = DecideOne(*t, Frame(kBcast, 0x020000000004), 4);
  CHECK_EQ(r.d.n, 0u);
  CHECK(r.d.uplink);
}

TEST("decision: bridge-to-bridge unicast stays inside; vepa and private always use the wire") {
  auto t = BuildTable({P(1, kModeBridge), P(2, kModeBridge), P(3, kModeVepa), P(4, kModeVepa)});
  Run r = DecideOne(*t, Frame(0x020000000002, 0x020000000001), 1);
  CHECK(r.slots == std::vector<uint32_t>({2}));
  CHECK(!r.d.uplink);
  r = DecideOne(*t, Frame(0x020000000004, 0x020000000003), 3);
  CHECK_EQ(r.d.n, 0u);
  CHECK(r.d.uplink);
  // From a bridge port to a vepa port: to the wire (the kernel's macvlan_queue_xmit).
  r = DecideOne(*t, Frame(0x020000000003, 0x020000000001), 1);
  CHECK_EQ(r.d.n, 0u);
  CHECK(r.d.uplink);
}

TEST("decision: VLANs are separate domains; the uplink VLAN tag follows the port") {
  auto t = BuildTable({P(1, kModeBridge, 10), P(2, kModeBridge, 20), P(3, kModeBridge, 10)});
  Run r = DecideOne(*t, Frame(kBcast, kWire, 0x0800, 64, 10), kUplinkSlot);
  CHECK(r.slots == std::vector<uint32_t>({1, 3}));
  r = DecideOne(*t, Frame(kBcast, kWire, 0x0800, 64, 30), kUplinkSlot);
  CHECK_EQ(r.d.reason, kDropUnknownVlan);
  r = DecideOne(*t, Frame(kBcast, 0x020000000002), 2);
  CHECK_EQ(r.d.n, 0u);
  CHECK(r.d.uplink);
  CHECK_EQ(r.d.uplinkVlan, 20);
}

TEST("decision: pause frames are never flooded; passthru takes all unicast") {
  auto t = BuildTable({P(1, kModeBridge), P(2, kModeVepa)});
  Run r = DecideOne(*t, Frame(0x0180c2000001, kWire, kEthPPause), kUplinkSlot);
  CHECK_EQ(r.d.n, 0u);
  CHECK_EQ(r.d.reason, kDropPause);
  auto p = BuildTable({P(1, kModePassthru)});
  r = DecideOne(*p, Frame(0x0a00000000ee, kWire), kUplinkSlot);
  CHECK(r.slots == std::vector<uint32_t>({1}));
}

TEST("decision: learned MACs (FDB) direct unicast; stale or foreign-VLAN entries are ignored") {
  auto t = BuildTable({P(1, kModeBridge), P(2, kModeBridge, 5)});
  Fdb fdb(1000);
  fdb.Learn(0, 0x0b0000000001, 1, 100);
  fdb.Learn(0, 0x0b0000000002, 2, 100);  // slot 2 is in VLAN 5
  FdbView v{&fdb, t.get(), 200};
  CHECK_EQ(v.Lookup(0, 0x0b0000000001), 0);
  CHECK_EQ(v.Lookup(0, 0x0b0000000002), -1);
  CHECK_EQ(v.Lookup(0, 0x0b0000000003), -1);
  FdbView later{&fdb, t.get(), 1200};  // aged out
  CHECK_EQ(later.Lookup(0, 0x0b0000000001), -1);
  fdb.ForgetSlot(1);
  CHECK_EQ(fdb.LookupSlot(0, 0x0b0000000001, 200), 0u);
  // Learning mode floods unknown unicast inside the domain.
  std::vector<uint32_t> buf(DecisionCapacity(*t));
  Decision d;
  d.ports = buf.data();
  ParsedFrame pf;
  std::vector<uint8_t> f = Frame(0x0b00000000ff, kWire);
  CHECK_EQ(ParseFrame(f.data(), uint32_t(f.size()), kNoVlanTci, true, 1514, &pf), kDropNone);
  Decide(*t, pf, kIngressUplink, &d, v);
  CHECK_EQ(d.n, 1u);
}
