// The engine's XDP backend: the uplink's XDP program (xdp/xdp_program.h) in front of the AF_PACKET
// rings. The program finishes in the kernel what needs no userspace (unicast and floods to ports on
// kernel devices, drops) and sends the rest up to the worker of its RX queue: into that worker's
// AF_XDP socket (io/xsk_socket.h, registered in the program's xskmap) when it has one, else with
// XDP_PASS to the AF_PACKET rings; either way the worker decides as before. The maps follow every
// table swap and port attach/detach; worker 0 folds the program's counters into its own counter
// block every 200 ms, under the engine's counter names.
#include <net/if.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

#include "dataplane/engine.h"
#include "io/link_peer.h"
#include "io/netns.h"

namespace mdx {

namespace {
inline void Add(uint64_t& c, uint64_t v) {
  if (v) __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
}  // namespace

int Engine::XdpCreate(std::string* err) {
  if (opts_.tc && workers_.size() > 1) {
    // The uplink filter replaces the classic per-worker flow filter (rx_flow_filter.h), and its
    // per-CPU verdict assumes one filter run per frame (one fanout group).
    *err = "backend 'tc' runs one worker";
    return -EINVAL;
  }
  int rc = XdpProgram::Load(&xdp_, err);
  if (rc < 0) return rc;
  for (size_t i = 0; rc == 0 && opts_.tc && i < workers_.size(); i++) rc = TcFilterRings(workers_[i]->uplink.get(), workers_[i]->uplinkFast.get(), err);
  if (rc < 0) {
    xdp_.reset();
    return rc;
  }
  xdp_->SetLive(false);  // until Start
  xdpSlotLast_.assign(size_t(opts_.maxSlots) * 2, 0);
  xdpSlotRxLast_.assign(size_t(opts_.maxSlots) * 2, 0);
  tcPeer_.assign(opts_.maxSlots, 0);
  // The sockets are in the xskmap before the program is on the device: frames it sends up in
  // between would otherwise miss the map and go up by XDP_PASS.
  for (size_t i = 0; rc == 0 && opts_.xdpSockets && i < workers_.size(); i++) {
    Worker& w = *workers_[i];
    rc = XskOpen(int(i), &w.xsk, err);
    if (rc == 0 && w.xsk) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kTagXsk;
      if (epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.xsk->fd(), &ev) < 0) {
        rc = -errno;
        *err = "epoll_ctl(AF_XDP socket)";
      } else if ((rc = xdp_->SetXsk(w.xsk->queue(), w.xsk->fd())) < 0) {
        *err = "XDP: registering the AF_XDP socket in the xskmap: " + std::string(strerror(-rc));
      }
    }
  }
  if (rc == 0) rc = XdpAttach(err);
  if (rc < 0) {
    for (auto& w : workers_) w->xsk.reset();
    xdp_.reset();
  }
  return rc;
}

// Worker i serves RX queue i. Queue 0 always exists; a worker whose queue the device does not have
// (bind: EINVAL, net/xdp/xsk.c xsk_bind: qid >= real_num_rx_queues) gets no socket: its queue
// never receives.
int Engine::XskOpen(int worker, std::unique_ptr<XskSocket>* out, std::string* err) const {
  XskOptions xo;
  xo.ifname = opts_.uplink;
  xo.netns = opts_.netns;
  xo.queue = uint32_t(worker);
  const char* step = "open";
  const int rc = XskSocket::Open(xo, out, &step);
  if (rc == -EINVAL && worker > 0 && std::string(step) == "bind(AF_XDP)") {
    out->reset();
    return 0;
  }
  if (rc < 0)
    *err = "uplink \"" + opts_.uplink + "\": AF_XDP socket (queue " + std::to_string(worker) + "): " + step +
           ": " + strerror(-rc);
  return rc;
}

// Frames the program redirected to this worker's socket: no offload metadata (an XDP frame has
// complete checksums and no GSO), VLAN tags inline, as the program saw them.
int Engine::XskReceive(Worker& w, const PortTable& t, uint32_t nowMs) {
  if (!w.xsk) return 0;  // a stale event: the new device has no queue for this worker
  return w.xsk->Receive(
      [&](const XskFrame& x) {
        Frame f;
        f.data = x.data;
        f.len = x.len;
        Input(w, t, f, kNoVlanTci, kUplinkSlot, nowMs);
      },
      uint32_t(kMaxRxFramesPerPoll));
}

void Engine::XskSwapIn(Worker& w, Worker::UplinkRings* next) {
  if (w.xsk) epoll_ctl(w.epfd, EPOLL_CTL_DEL, w.xsk->fd(), nullptr);
  std::swap(w.xsk, next->xsk);  // the old socket closes with the old rings (its xskmap entry goes too)
  if (w.xsk) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagXsk;
    epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.xsk->fd(), &ev);
  }
}

// The device was re-created: its XDP link died with the old one (net/core/dev.c: an unregistered
// device releases its XDP link's attachment), the AF_XDP sockets were unbound (xsk_notifier). The
// program and its maps stay (devmaps hold the ports' devices, not the uplink's); it is attached to
// the new device and new sockets are registered in its xskmap before the workers take the rings.
int Engine::XdpReplaceUplink(std::vector<std::unique_ptr<Worker::UplinkRings>>* rings, std::string* err) {
  for (size_t i = 0; opts_.tc && i < rings->size(); i++) {  // before the tc program is on the new device
    const int rc = TcFilterRings((*rings)[i]->v3.get(), (*rings)[i]->v2.get(), err);
    if (rc < 0) return rc;
  }
  if (opts_.xdpSockets) {
    for (size_t i = 0; i < rings->size(); i++) {
      const int rc = XskOpen(int(i), &(*rings)[i]->xsk, err);
      if (rc < 0) return rc;
    }
  }
  std::lock_guard<std::mutex> g(xdpMu_);
  for (auto& r : *rings) {  // before the program is on the new device (see XdpCreate)
    if (!r->xsk) continue;
    const int rc = xdp_->SetXsk(r->xsk->queue(), r->xsk->fd());
    if (rc < 0) {
      *err = "XDP: registering the AF_XDP socket in the xskmap: " + std::string(strerror(-rc));
      return rc;
    }
  }
  if (running_) {
    xdp_->Detach();
    std::string why;
    const int rc = XdpAttach(&why);
    if (rc < 0) {
      *err = why;
      return rc;
    }
    if (opts_.tc) xdp_->SetLive(true);  // the new uplink ifindex into the config
  }
  return 0;
}

// Backend 'tc': the uplink filter on both rings of the group (whichever the fanout picks runs it).
// It replaces the V3 ring's drop-all join filter (engine_uplink.cc OpenUplink): one worker, so there
// is no flow filter to keep.
int Engine::TcFilterRings(PacketRing* v3, FrameRing* v2, std::string* err) {
  int rc = v2 ? xdp_->AttachUplinkFilter(v2->fd()) : 0;
  if (rc == 0 && v3) rc = xdp_->AttachUplinkFilter(v3->fd());
  if (rc < 0) *err = "uplink \"" + opts_.uplink + "\": SO_ATTACH_BPF (tc fast path filter): " + strerror(-rc);
  return rc;
}

// Backend 'tc', a port on a kernel device: the uplink filter on its receiving sockets (before any
// frame of it can be redirected), then, after the sync that puts it in mdx_port_devs, the port
// program on its device's ingress. The same ordering trap as on the uplink: the port's socket is a
// ptype_all tap that runs before tc ingress.
int Engine::TcPortAttach(uint32_t slot, PortBackend* b, bool filterOnly, std::string* err) {
  if (filterOnly) {
    for (uint32_t q = 0; q < b->rxQueues(); q++) {
      const int rc = xdp_->AttachUplinkFilter(b->rxFd(q));
      if (rc < 0) {
        *err = std::string("SO_ATTACH_BPF (tc fast path filter): ") + strerror(-rc);
        return rc;
      }
    }
    return 0;
  }
  std::lock_guard<std::mutex> g(xdpMu_);
  std::string why;
  const int rc = RunInNetns(opts_.netns, [&] { return xdp_->AttachTcPort(slot, b->kernelIfindex(), &why); });
  if (rc < 0) *err = why;
  return rc;
}

// Backend 'tc': whether the tc program may deliver into the port's veth peer (bpf_redirect_peer).
// The kernel drops a peer redirect whose peer is in the ingress device's (the uplink's, which is the
// ports') namespace (net/core/filter.c skb_do_redirect), and the redirect never looks at the port
// device itself, so the flag needs: a veth, its peer in another namespace (IFLA_LINK_NETNSID), and
// the port device up (a port whose switch end is down receives nothing, as through veth_xmit).
// Anything uncertain (a probe error) is 0: bpf_redirect to the port device is always right.
// Runs in the switch's namespace.
uint8_t Engine::TcPeerProbe(const PortBackend* b) const {
  if (!opts_.tcPeer || !b || b->kernelIfindex() <= 0) return 0;
  LinkPeerInfo li;
  const int rc = QueryLinkPeer(b->kernelIfindex(), &li);
  return rc == 0 && li.up && li.veth && li.peerElsewhere ? MDX_PORT_PEER : 0;
}

int Engine::RefreshTcPeers(uint32_t slot, std::string* err) {
  std::lock_guard<std::mutex> g(controlMu_);
  if (!xdp_ || !opts_.tc) return 0;
  if (slot >= tcPeer_.size()) return -EINVAL;
  // Only the slot asked for is probed again (one link event, one RTM_GETLINK); the others keep theirs.
  std::vector<uint8_t> now = tcPeer_;
  const uint32_t first = slot ? slot : 1, end = slot ? slot + 1 : uint32_t(now.size());
  const int rc = RunInNetns(opts_.netns, [&] {
    for (uint32_t s = first; s < end; s++) now[s] = TcPeerProbe(ports_[s].load(std::memory_order_acquire));
    return 0;
  });
  if (rc < 0) {
    *err = "entering the switch's namespace to probe the ports' devices";
    return rc;
  }
  int changed = 0;
  for (uint32_t s = 1; s < now.size(); s++) changed += now[s] != tcPeer_[s] ? 1 : 0;
  if (changed == 0) return 0;
  tcPeer_ = std::move(now);
  const int sc = XdpSyncLocked(&xdpError_);
  if (sc < 0) {
    *err = xdpError_;
    return sc;
  }
  return changed;
}

int Engine::TcPeer(uint32_t slot) {
  std::lock_guard<std::mutex> g(controlMu_);
  return slot < tcPeer_.size() && tcPeer_[slot] ? 1 : 0;
}

int Engine::XdpAttach(std::string* err) {
  std::string why;
  const int rc = RunInNetns(opts_.netns, [&] {
    const int ifindex = int(if_nametoindex(opts_.uplink.c_str()));
    if (ifindex == 0) {
      why = "no such device";
      return -ENODEV;
    }
    if (opts_.tc) xdp_->SetUplinkIfindex(uint32_t(ifindex));  // the ports' program redirects here
    return opts_.tc ? xdp_->AttachTc(ifindex, &why) : xdp_->Attach(ifindex, opts_.xdpGeneric, &why);
  });
  if (rc < 0) *err = "uplink \"" + opts_.uplink + (opts_.tc ? "\": tc: " : "\": XDP: ") + (why.empty() ? "cannot enter the namespace" : why);
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
  const int rc = RunInNetns(opts_.netns, [&] { return xdp_->Sync(*t, ifx, opts_.learning, &why, &tcPeer_); });
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
  // A per-slot (packets, bytes) pair of the program's, for each kernel port: what it grew by since
  // the last fold (two words per slot in lastBySlot; a smaller reading, counters reset, starts over).
  auto foldSlots = [&](auto read, std::vector<uint64_t>& lastBySlot, auto add) {
    for (uint32_t slot = 1; slot < opts_.maxSlots && slot < MDX_XDP_MAX_SLOTS; slot++) {
      PortBackend* pb = ports_[slot].load(std::memory_order_acquire);
      if (!pb || pb->kernelIfindex() <= 0) continue;
      uint64_t p, b;
      if (read(slot, &p, &b) < 0) continue;
      uint64_t* last = &lastBySlot[size_t(slot) * 2];
      if (p < last[0] || b < last[1]) last[0] = last[1] = 0;
      add(SlotC(w, slot), p - last[0], b - last[1]);
      last[0] = p;
      last[1] = b;
    }
  };
  // Unicast TX per kernel port. (A devmap transmit that fails later in the driver is not seen here:
  // the kernel counts it in the device's own drop counters.)
  foldSlots([&](uint32_t slot, uint64_t* p, uint64_t* b) { return xdp_->ReadSlotTx(slot, p, b); }, xdpSlotLast_,
            [&](uint64_t* c, uint64_t dp, uint64_t db) {
              Add(c[kSTxPackets], dp);
              Add(c[kSTxBytes], db);
              Add(w.wc[kWEgressCopies], dp);
            });
  // Backend 'tc': what the ports' program took from each port and sent to the uplink.
  if (opts_.tc) {
    Add(up[kSTxPackets], d[MDX_ST_UP_TX_FRAMES]);
    Add(up[kSTxBytes], d[MDX_ST_UP_TX_BYTES]);
    Add(w.wc[kWForwarded], d[MDX_ST_UP_TX_FRAMES]);
    Add(w.wc[kWRxFrames], d[MDX_ST_UP_TX_FRAMES]);
    Add(w.wc[kWEgressCopies], d[MDX_ST_UP_TX_FRAMES]);
    foldSlots([&](uint32_t slot, uint64_t* p, uint64_t* b) { return xdp_->ReadSlotRx(slot, p, b); }, xdpSlotRxLast_,
              [&](uint64_t* c, uint64_t dp, uint64_t db) {
                Add(c[kSRxPackets], dp);
                Add(c[kSRxBytes], db);
                Add(c[kSForwarded], dp);
              });
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
  if (opts_.tc) return "tc";
  return opts_.xdpGeneric ? "generic" : "native";
}

}  // namespace mdx
