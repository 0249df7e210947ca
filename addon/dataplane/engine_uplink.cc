// The uplink's rings: opened per worker, adapted to the load (rx_mode.h), and replaced when the
// uplink device is re-created (the control plane sees RTM_DELLINK/RTM_NEWLINK and calls
// ReplaceUplink). See engine.h for the threading model.
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "dataplane/backends/packet_backend.h"
#include "dataplane/engine.h"
#include "dataplane/rx_flow_filter.h"

namespace mdx {

namespace {
constexpr int kSwapTimeoutMs = 3000;
// The selector program picks the ring; with the rollover flag the kernel itself moves a frame to
// the other member when the selected ring is nearly full (net/packet/af_packet.c,
// fanout_demux_rollover: a V2 ring with less than a quarter of its slots free, a V3 ring with less
// than a quarter of its blocks, packet_rcv_has_room). A worker that is not scheduled cannot switch
// to V3 itself: the kernel fills the V3 ring behind the full V2 one instead of dropping.
// Without rollover a full V2 ring drops (counted) instead; frames keep their order.
// A fanout group has its own packet hook: the members' PACKET_IGNORE_OUTGOING does not apply to it
// (net/packet/af_packet.c fanout_add), so without the group flag every frame sent out of the
// uplink (the engine's own TX, the host stack's) comes back as uplink RX.
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif
int UplinkFanoutMode(bool rollover) {
  return PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_IGNORE_OUTGOING | (rollover ? PACKET_FANOUT_FLAG_ROLLOVER : 0);
}
}  // namespace

RingOptions Engine::UplinkRingOptions(int fanoutGroup) const {
  const EngineOptions& o = opts_;
  RingOptions ro;
  ro.ifname = o.uplink;
  ro.netns = o.netns;
  ro.blockSize = o.uplinkBlockSize;
  ro.blockCount = o.uplinkBlocks;
  ro.txFrameCount = o.uplinkTxFrames;
  ro.promisc = o.promisc;
  ro.qdiscBypass = o.qdiscBypass;
  ro.ignoreOutgoing = true;
  ro.auxVlan = true;
  ro.vnetHdr = true;
  if (o.workers > 1) {
    ro.fanoutGroup = fanoutGroup & 0xffff;
    ro.fanoutMode = PACKET_FANOUT_FLAG_IGNORE_OUTGOING;  // PACKET_FANOUT_HASH; rx 'blocks': PACKET_FANOUT_HASH, both directions of a flow on one worker (else OpenUplink's groups)
  }
  return ro;
}

int Engine::OpenUplink(int worker, int fanoutGroup, Worker::UplinkRings* out, std::string* err) const {
  std::unique_ptr<PacketRing>* v3 = &out->v3;
  std::unique_ptr<FrameRing>* v2 = &out->v2;
  RingOptions ro = UplinkRingOptions(fanoutGroup);
  const char* step = nullptr;
  // More than one worker: each its own pair in a group of its own, each member keeping only its
  // worker's flows (rx_flow_filter.h).
  const std::vector<sock_filter> flows =
      opts_.workers > 1 ? WorkerFlowFilter(uint32_t(worker), uint32_t(opts_.workers)) : std::vector<sock_filter>();
  if (opts_.rxMode != 3) {
    // The V2 ring joins first (member 0) with a group id the kernel picks; the V3 ring joins it.
    FrameRingOptions fo;
    fo.filter = flows;
    fo.ifname = opts_.uplink;
    fo.netns = opts_.netns;
    fo.slots = opts_.uplinkSlots;
    fo.promisc = opts_.promisc;
    fo.vnetHdr = true;
    fo.fanoutUniqueId = true;
    fo.fanoutMode = UplinkFanoutMode(opts_.uplinkRollover);
    int rc = FrameRing::Open(fo, v2, &step);
    if (rc == 0) {
      rc = SetFanoutTarget((*v2)->fd(), 0);
      if (rc < 0) step = "setsockopt(PACKET_FANOUT_DATA)";
    }
    if (rc < 0) {
      *err = std::string("uplink \"") + opts_.uplink + "\" (V2 ring): " + (step ? step : "open");
      v2->reset();
      return rc;
    }
    ro.fanoutGroup = (*v2)->fanoutId();
    ro.fanoutMode = UplinkFanoutMode(opts_.uplinkRollover);
    // Between bind() and the fanout join the V3 socket would receive copies of what the V2 ring
    // receives: it drops everything until it is in the group.
    ro.filter = {sock_filter{BPF_RET | BPF_K, 0, 0, 0}};
  }
  int rc = PacketRing::Open(ro, v3, &step);
  if (rc == 0 && *v2) {  // in the group now: its worker's flows (or everything)
    rc = (*v3)->AttachFilter(flows.empty() ? nullptr : flows.data(), uint16_t(flows.size()));
    step = "setsockopt(SO_ATTACH_FILTER)";
  }
  if (rc == 0) {
    rc = PacketRing::Open(SenderOptions(ro), &out->sender, &step);
    if (rc < 0) step = "send socket";
  }
  if (rc < 0) {
    *err = std::string("uplink \"") + opts_.uplink + "\": " + (step ? step : "open");
    v3->reset();
    v2->reset();
    return rc;
  }
  return 0;
}

void Engine::AdaptUplink(Worker& w, int v2Frames, int v3Frames, bool v2Capped, uint64_t nowUs) {
  const RxModeController::Action a = w.rxc.Pass(v2Frames, v3Frames, v2Capped, nowUs);
  if (a == RxModeController::kNone) return;
  if (SetFanoutTarget(w.uplinkFast->fd(), w.rxc.target()) < 0) return;  // retried on the next switch
  // Frames of one flow must leave in the order they came (a reordered TCP flow retransmits
  // spuriously). Into V3: the V2 ring's leftovers are older, and the worker drains V2 before each
  // V3 drain (Run). Back to V2: the V3 block the kernel was filling becomes visible only when its
  // retire timer closes it (tp_retire_blk_tov, net/packet/af_packet.c prb_retire_rx_blk_timer_expired),
  // so V2 waits that long (its ring holds ringMs of frames); the V3 ring is drained meanwhile.
  if (w.rxc.mode() == RxModeController::kFrames) w.holdV2UntilUs = nowUs + (uint64_t(w.uplink->options().retireTovMs) + 1) * 1000;
  Bump(w.wc[a == RxModeController::kSwitch ? kWRxModeSwitches : kWRxRemaps]);
  __atomic_store_n(&w.wc[kWRxMode], uint64_t(w.rxc.mode()), __ATOMIC_RELAXED);
}

// On the worker: swap in the rings the control thread prepared (uplink RX and TX are this
// worker's alone, so no other thread touches them).
void Engine::TakeNextUplink(Worker& w) {
  Worker::UplinkRings* next = w.nextUplink.exchange(nullptr, std::memory_order_acq_rel);
  if (!next) return;
  FlushAll(w);
  if (w.uplinkArmed) epoll_ctl(w.epfd, EPOLL_CTL_DEL, w.uplink->fd(), nullptr);
  if (w.uplinkFast && w.uplinkFastArmed) epoll_ctl(w.epfd, EPOLL_CTL_DEL, w.uplinkFast->fd(), nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagUplink;
  w.uplinkArmed = epoll_ctl(w.epfd, EPOLL_CTL_ADD, next->v3->fd(), &ev) == 0;
  if (next->v2) {
    ev.data.u64 = kTagUplinkFast;
    w.uplinkFastArmed = epoll_ctl(w.epfd, EPOLL_CTL_ADD, next->v2->fd(), &ev) == 0;
  }
  std::swap(w.uplink, next->v3);
  std::swap(w.uplinkFast, next->v2);
  std::swap(w.uplinkSender, next->sender);
  XskSwapIn(w, next);
  w.rxc = RxModeController();  // the new group starts on its V2 member
  w.oldUplink.store(next, std::memory_order_release);
  Bump(w.wc[kWUplinkSwaps]);
  Emit({FdEventKind::kUplinkReplaced, 0, -1, 0, w.idx});
}

int Engine::ReplaceUplink(std::string* err) {
  std::lock_guard<std::mutex> g(controlMu_);
  // The old rings' fanout group may still name the deleted device (fanout_add matches on
  // prot_hook.dev): the new rings form a group of their own.
  const uint32_t gen = ++uplinkGeneration_;
  const int group = int((uint32_t(opts_.fanoutGroup) + gen * 7919u) & 0xffff);
  std::vector<std::unique_ptr<Worker::UplinkRings>> rings(workers_.size());
  for (size_t i = 0; i < workers_.size(); i++) {
    rings[i].reset(new Worker::UplinkRings());
    const int rc = OpenUplink(int(i), group, rings[i].get(), err);
    if (rc < 0) return rc;  // the rings opened so far close here; the engine is unchanged
  }
  uplinkMtu_ = rings[0]->v3->mtu();
  if (xdp_) {
    const int xrc = XdpReplaceUplink(&rings, err);
    if (xrc < 0) return xrc;
  }
  if (!running_) {
    for (size_t i = 0; i < workers_.size(); i++) {
      Worker& w = *workers_[i];
      w.nextUplink.store(rings[i].release());
      TakeNextUplink(w);
      delete w.oldUplink.exchange(nullptr);
    }
    return 0;
  }
  for (size_t i = 0; i < workers_.size(); i++) {
    workers_[i]->nextUplink.store(rings[i].release(), std::memory_order_release);
    uint64_t one = 1;
    (void)!write(workers_[i]->evfd, &one, sizeof(one));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSwapTimeoutMs);
  int rc = 0;
  for (auto& w : workers_) {
    while (w->nextUplink.load(std::memory_order_acquire) != nullptr) {
      if (std::chrono::steady_clock::now() > deadline) {
        rc = -ETIMEDOUT;
        *err = "a worker did not take the new uplink rings in time";
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    delete w->oldUplink.exchange(nullptr, std::memory_order_acq_rel);
  }
  return rc;
}

}  // namespace mdx
