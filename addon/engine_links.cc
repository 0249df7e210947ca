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

#include "engine.h"

namespace mdx {

namespace {
inline void Add(uint64_t& c, uint64_t v = 1) {
  __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
constexpr int kSwapTimeoutMs = 3000;
}  // namespace

void Engine::SetEventHandler(Napi::ThreadSafeFunction tsfn) {
  std::lock_guard<std::mutex> g(controlMu_);
  if (hasEvents_) events_.Release();
  events_ = tsfn;
  hasEvents_ = true;
}

void Engine::Emit(const FdEvent& ev) {
  if (!hasEvents_) return;
  auto* copy = new FdEvent(ev);
  if (events_.NonBlockingCall(copy, [](Napi::Env env, Napi::Function cb, FdEvent* e) {
        if (env != nullptr && cb != nullptr) {
          napi_value args[5] = {Napi::Number::New(env, int32_t(e->kind)), Napi::Number::New(env, e->slot),
                                Napi::Number::New(env, e->queue), Napi::Number::New(env, e->error),
                                Napi::Number::New(env, e->worker)};
          napi_value undefined, result;
          if (napi_get_undefined(env, &undefined) == napi_ok) napi_call_function(env, undefined, cb, 5, args, &result);
        }
        delete e;
      }) != napi_ok)
    delete copy;
}

bool Engine::OnFdError(Worker& w, uint64_t tag, uint32_t events) {
  int fd = -1;
  int error = 0;
  uint32_t slot = 0;
  int32_t queue = -1;
  PacketRing* ring = nullptr;
  if (tag == kTagUplink) {
    ring = w.uplink.get();
  } else if (tag >> 32) {
    slot = uint32_t(tag);
    queue = int32_t(tag >> 32) - 1;
    Egress* e = egress_[slot].load(std::memory_order_acquire);
    if (e && size_t(queue) < e->taps.size()) fd = e->taps[size_t(queue)]->fd();
  } else {
    slot = uint32_t(tag);
    Egress* e = egress_[slot].load(std::memory_order_acquire);
    if (e && e->ring) ring = e->ring.get();
  }
  if (ring) {
    fd = ring->fd();
    error = ring->PendingError();  // reads and clears sk_err
    if (error != 0 && !(events & EPOLLHUP)) {
      // Link down or device unregistered: the error is cleared, the socket stays in the poll set
      // (quiet until the device is up again; a deleted device never wakes it).
      Add(w.wc[kWFdErrors]);
      Emit({FdEventKind::kError, slot, queue, error, w.idx});
      return true;
    }
  }
  if (fd < 0) return false;  // detached meanwhile: Detach removes it from the poll set
  // Nothing to clear (EPOLLHUP, a tap whose device is gone, an error queue): stop polling it.
  epoll_ctl(w.epfd, EPOLL_CTL_DEL, fd, nullptr);
  if (tag == kTagUplink) w.uplinkArmed = false;
  Add(w.wc[kWFdDisarmed]);
  Emit({FdEventKind::kDisarmed, slot, queue, error, w.idx});
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
  if (o.workers > 1) {
    ro.fanoutGroup = fanoutGroup & 0xffff;
    ro.fanoutMode = 0;  // PACKET_FANOUT_HASH: both directions of a flow on one worker
  }
  return ro;
}

// On the worker: swap in the ring the control thread prepared (uplink RX and TX are this
// worker's alone, so no other thread touches either ring).
void Engine::TakeNextUplink(Worker& w) {
  PacketRing* next = w.nextUplink.exchange(nullptr, std::memory_order_acq_rel);
  if (!next) return;
  FlushAll(w);
  if (w.uplinkArmed) epoll_ctl(w.epfd, EPOLL_CTL_DEL, w.uplink->fd(), nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagUplink;
  w.uplinkArmed = epoll_ctl(w.epfd, EPOLL_CTL_ADD, next->fd(), &ev) == 0;
  w.oldUplink.store(w.uplink.release(), std::memory_order_release);
  w.uplink.reset(next);
  Add(w.wc[kWUplinkSwaps]);
  Emit({FdEventKind::kUplinkReplaced, 0, -1, 0, w.idx});
}

int Engine::ReplaceUplink(std::string* err) {
  std::lock_guard<std::mutex> g(controlMu_);
  // The old rings' fanout group may still name the deleted device (fanout_add matches on
  // prot_hook.dev): the new rings form a group of their own.
  const uint32_t gen = ++uplinkGeneration_;
  const int group = int((uint32_t(opts_.fanoutGroup) + gen * 7919u) & 0xffff);
  std::vector<std::unique_ptr<PacketRing>> rings(workers_.size());
  for (size_t i = 0; i < workers_.size(); i++) {
    const char* step = nullptr;
    const int rc = PacketRing::Open(UplinkRingOptions(group), &rings[i], &step);
    if (rc < 0) {
      *err = std::string("uplink \"") + opts_.uplink + "\": " + (step ? step : "open");
      return rc;  // the rings opened so far close here; the engine is unchanged
    }
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
