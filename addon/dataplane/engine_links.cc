// Links that come and go: what the engine does when a ring or tap fd reports an error, and the
// uplink's replacement when its device is re-created. See engine.h for the threading model.
//
// Kernel facts (net/packet/af_packet.c, packet_notifier): NETDEV_DOWN and NETDEV_UNREGISTER of
// the bound device unhook the socket and set sk_err = ENETDOWN, which poll() reports as EPOLLERR
// until SO_ERROR reads (and clears) it; NETDEV_UP re-hooks the socket when po->ifindex still
// matches, so a socket survives down/up of the same device by itself. After NETDEV_UNREGISTER
// po->ifindex is -1: the socket never receives again and a new one must be bound to the new
// device (the control plane sees RTM_DELLINK/RTM_NEWLINK and calls ReplaceUplink or re-attaches
// the port). A tun/tap or macvtap fd whose device is gone reports EPOLLERR/EPOLLHUP for good
// (drivers/net/tun.c tun_chr_poll, drivers/net/tap.c tap_poll): it is taken out of the poll set.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "dataplane/backends/packet_backend.h"
#include "dataplane/engine.h"

namespace mdx {

namespace {
constexpr int kSwapTimeoutMs = 3000;
}  // namespace

void Engine::SetEventHandler(std::unique_ptr<EngineEvents> events) {
  std::lock_guard<std::mutex> g(controlMu_);
  events_ = std::move(events);
}

void Engine::Emit(const FdEvent& ev) {
  if (events_) events_->OnFdEvent(ev);
}

bool Engine::OnFdError(Worker& w, uint64_t tag, uint32_t events) {
  int fd = -1;
  int error = -1;  // -1: the condition never clears
  uint32_t slot = 0;
  int32_t queue = -1;
  if (tag == kTagUplink) {
    fd = w.uplink->fd();
    error = w.uplink->PendingError();  // reads and clears sk_err
  } else {
    slot = uint32_t(tag);
    const uint32_t q = uint32_t(tag >> 32) - 1;
    PortBackend* b = ports_[slot].load(std::memory_order_acquire);
    if (b && q < b->rxQueues()) {
      fd = b->rxFd(q);
      error = b->TakeRxError(q);
      if (error < 0) queue = int32_t(q);  // tap queues are named by queue, rings by slot
    }
  }
  if (fd < 0) return false;  // detached meanwhile: Detach removes it from the poll set
  if (error > 0 && !(events & EPOLLHUP)) {
    // Link down or device unregistered: the error is cleared, the socket stays in the poll set
    // (quiet until the device is up again; a deleted device never wakes it).
    Bump(w.wc[kWFdErrors]);
    Emit({FdEventKind::kError, slot, queue, error, w.idx});
    return true;
  }
  // Nothing to clear (EPOLLHUP, a tap whose device is gone, an error queue): stop polling it.
  epoll_ctl(w.epfd, EPOLL_CTL_DEL, fd, nullptr);
  if (tag == kTagUplink) w.uplinkArmed = false;
  Bump(w.wc[kWFdDisarmed]);
  Emit({FdEventKind::kDisarmed, slot, queue, error > 0 ? error : 0, w.idx});
  return false;
}

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
    ro.fanoutMode = 0;  // PACKET_FANOUT_HASH: both directions of a flow on one worker
  }
  return ro;
}

int Engine::OpenUplink(int fanoutGroup, UplinkSockets* out, std::string* err) const {
  const RingOptions ro = UplinkRingOptions(fanoutGroup);
  const char* step = nullptr;
  int rc = PacketRing::Open(ro, &out->ring, &step);
  if (rc == 0) rc = PacketRing::Open(SenderOptions(ro), &out->sender, &step);
  if (rc < 0) *err = std::string("uplink \"") + opts_.uplink + "\": " + (step ? step : "open");
  return rc;
}

// On the worker: swap in the sockets the control thread prepared (uplink RX and TX are this
// worker's alone, so no other thread touches them).
void Engine::TakeNextUplink(Worker& w) {
  UplinkSockets* next = w.nextUplink.exchange(nullptr, std::memory_order_acq_rel);
  if (!next) return;
  FlushAll(w);
  if (w.uplinkArmed) epoll_ctl(w.epfd, EPOLL_CTL_DEL, w.uplink->fd(), nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagUplink;
  w.uplinkArmed = epoll_ctl(w.epfd, EPOLL_CTL_ADD, next->ring->fd(), &ev) == 0;
  std::swap(w.uplink, next->ring);
  std::swap(w.uplinkSender, next->sender);
  w.oldUplink.store(next, std::memory_order_release);  // now holds the old sockets
  Bump(w.wc[kWUplinkSwaps]);
  Emit({FdEventKind::kUplinkReplaced, 0, -1, 0, w.idx});
}

int Engine::ReplaceUplink(std::string* err) {
  std::lock_guard<std::mutex> g(controlMu_);
  // The old rings' fanout group may still name the deleted device (fanout_add matches on
  // prot_hook.dev): the new rings form a group of their own.
  const uint32_t gen = ++uplinkGeneration_;
  const int group = int((uint32_t(opts_.fanoutGroup) + gen * 7919u) & 0xffff);
  std::vector<std::unique_ptr<UplinkSockets>> socks(workers_.size());
  for (size_t i = 0; i < workers_.size(); i++) {
    socks[i].reset(new UplinkSockets());
    const int rc = OpenUplink(group, socks[i].get(), err);
    if (rc < 0) return rc;  // the sockets opened so far close here; the engine is unchanged
  }
  if (!running_) {
    for (size_t i = 0; i < workers_.size(); i++) {
      Worker& w = *workers_[i];
      w.nextUplink.store(socks[i].release());
      TakeNextUplink(w);
      delete w.oldUplink.exchange(nullptr);
    }
    return 0;
  }
  for (size_t i = 0; i < workers_.size(); i++) {
    workers_[i]->nextUplink.store(socks[i].release(), std::memory_order_release);
    uint64_t one = 1;
    (void)!write(workers_[i]->evfd, &one, sizeof(one));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSwapTimeoutMs);
  int rc = 0;
  for (auto& w : workers_) {
    while (w->nextUplink.load(std::memory_order_acquire) != nullptr) {
      if (std::chrono::steady_clock::now() > deadline) {
        rc = -ETIMEDOUT;
        *err = "a worker did not take the new uplink ring in time";
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    delete w->oldUplink.exchange(nullptr, std::memory_order_acq_rel);
  }
  return rc;
}

}  // namespace mdx
