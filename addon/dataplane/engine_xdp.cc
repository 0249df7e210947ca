// The engine's XDP backend: the uplink's XDP program (xdp/xdp_program.h) in front of the AF_PACKET
// rings. The program finishes in the kernel what needs no userspace (unicast and floods to ports on
// kernel devices, drops) and passes the rest to the rings, where the workers decide as before; its
// maps follow every table swap and port attach/detach; worker 0 folds its counters into its own
// counter block every 200 ms, under the engine's counter names.
#include <net/if.h>

#include <cerrno>

#include "dataplane/engine.h"
#include "io/netns.h"

namespace mdx {

namespace {
inline void Add(uint64_t& c, uint64_t v) {
  if (v) __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
}  // namespace

int Engine::XdpCreate(std::string* err) {
  int rc = XdpProgram::Load(&xdp_, err);
  if (rc < 0) return rc;
  xdp_->SetLive(false);  // until Start
  xdpSlotLast_.assign(size_t(opts_.maxSlots) * 2, 0);
  rc = XdpAttach(err);
  if (rc < 0) xdp_.reset();
  return rc;
}

int Engine::XdpAttach(std::string* err) {
  std::string why;
  const int rc = RunInNetns(opts_.netns, [&] {
    const int ifindex = int(if_nametoindex(opts_.uplink.c_str()));
    if (ifindex == 0) {
      why = "no such device";
      return -ENODEV;
    }
    return xdp_->Attach(ifindex, opts_.xdpGeneric, &why);
  });
  if (rc < 0) *err = "uplink \"" + opts_.uplink + "\": XDP: " + (why.empty() ? "cannot enter the namespace" : why);
  return rc;
}

int Engine::XdpSyncLocked(std::string* err) {
  const PortTable* t = table_.Get();  // freed only by a swap, which holds controlMu_ as we do
  if (!t) return 0;
  std::vector<uint32_t> ifx(opts_.maxSlots, 0);
  for (uint32_t s = 1; s < opts_.maxSlots; s++) {
    PortBackend* b = ports_[s].load(std::memory_order_acquire);
    if (b) ifx[s] = uint32_t(b->kernelIfindex() > 0 ? b->kernelIfindex() : 0);
  }
  std::lock_guard<std::mutex> g(xdpMu_);
  std::string why;
  const int rc = RunInNetns(opts_.netns, [&] { return xdp_->Sync(*t, ifx, opts_.learning, &why); });
  *err = rc < 0 ? why : std::string();
  return rc;
}

void Engine::XdpFoldCounters(Worker& w) {
  std::lock_guard<std::mutex> g(xdpMu_);
  XdpStats s;
  if (xdp_->ReadStats(&s) < 0) return;
  uint64_t d[MDX_ST_COUNT];
  for (int i = 0; i < MDX_ST_COUNT; i++) {
    d[i] = s.words[i] - xdpLast_.words[i];
    xdpLast_.words[i] = s.words[i];
  }
  uint64_t* up = SlotC(w, kUplinkSlot);
  Add(w.wc[kWRxFrames], d[MDX_ST_RX_FRAMES]);
  Add(up[kSRxPackets], d[MDX_ST_RX_FRAMES]);
  Add(up[kSRxBytes], d[MDX_ST_RX_BYTES]);
  Add(w.wc[kWForwarded], d[MDX_ST_FORWARDED]);
  Add(up[kSForwarded], d[MDX_ST_FORWARDED]);
  uint64_t dropped = 0;
  for (int r = 1; r < int(kDropCount); r++) {
    Add(w.wc[kWDrops + r], d[MDX_ST_DROPS + r]);
    dropped += d[MDX_ST_DROPS + r];
  }
  Add(up[kSRxDropped], dropped);
  // Unicast TX per kernel port. (A devmap transmit that fails later in the driver is not seen here:
  // the kernel counts it in the device's own drop counters.)
  for (uint32_t slot = 1; slot < opts_.maxSlots && slot < MDX_XDP_MAX_SLOTS; slot++) {
    PortBackend* pb = ports_[slot].load(std::memory_order_acquire);
    if (!pb || pb->kernelIfindex() <= 0) continue;
    uint64_t p, b;
    if (xdp_->ReadSlotTx(slot, &p, &b) < 0) continue;
    uint64_t* last = &xdpSlotLast_[size_t(slot) * 2];
    if (p < last[0] || b < last[1]) last[0] = last[1] = 0;
    Add(SlotC(w, slot)[kSTxPackets], p - last[0]);
    Add(SlotC(w, slot)[kSTxBytes], b - last[1]);
    Add(w.wc[kWEgressCopies], p - last[0]);
    last[0] = p;
    last[1] = b;
  }
  // Floods: each one reached every member of the VLAN's flood set (as of the last sync).
  for (uint32_t m = 0; m < MDX_XDP_FLOOD_MAPS; m++) {
    uint64_t p, b;
    if (xdp_->ReadFloodTx(m, &p, &b) < 0) continue;
    const uint64_t dp = p - xdpFloodLast_[m][0], db = b - xdpFloodLast_[m][1];
    xdpFloodLast_[m][0] = p;
    xdpFloodLast_[m][1] = b;
    if (!dp) continue;
    for (uint32_t slot : xdp_->FloodMembers(m)) {
      if (slot >= opts_.maxSlots) continue;
      Add(SlotC(w, slot)[kSTxPackets], dp);
      Add(SlotC(w, slot)[kSTxBytes], db);
    }
    Add(w.wc[kWEgressCopies], dp * xdp_->FloodMembers(m).size());
  }
}

int Engine::XdpStatsRead(XdpStats* s) {
  if (!xdp_) return -ENOENT;
  return xdp_->ReadStats(s);
}

std::string Engine::xdpState() {
  if (!xdp_) return "";
  std::lock_guard<std::mutex> g(xdpMu_);
  if (!xdpError_.empty()) return "passing every frame to the rings: " + xdpError_;
  if (!xdp_->attached()) return "detached (engine stopped)";
  return opts_.xdpGeneric ? "generic" : "native";
}

}  // namespace mdx
