// Links that come and go: what the engine does when a ring or tap fd reports an error (the
// uplink's replacement when its device is re-created is in engine_uplink.cc). See engine.h for the threading model.
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

#include "dataplane/engine.h"

namespace mdx {

void Engine::SetEventHandler(std::function<void(const FdEvent&)> fn) {
  std::lock_guard<std::mutex> g(controlMu_);
  onEvent_ = std::move(fn);
}

void Engine::Emit(const FdEvent& ev) {
  if (onEvent_) onEvent_(ev);
}

bool Engine::OnFdError(Worker& w, uint64_t tag, uint32_t events) {
  int fd = -1;
  int error = 0;
  uint32_t slot = 0;
  int32_t queue = -1;
  if (tag == kTagXsk) {
    // The AF_XDP socket's device went away (net/xdp/xsk.c xsk_notifier: sk_err = ENETDOWN, unbound
    // for good; kernels whose xsk_poll uses datagram_poll report it as EPOLLERR). Reading SO_ERROR
    // clears it, and an unbound socket is quiet, so it stays in the poll set until ReplaceUplink
    // swaps in a new one (the event may also be a stale one of the socket just swapped out).
    const int e = w.xsk ? w.xsk->PendingError() : 0;
    if (e != 0) {
      Bump(w.wc[kWFdErrors]);
      Emit({FdEventKind::kError, 0, -1, e, w.idx});
    }
    return false;
  }
  if (tag == kTagUplink || tag == kTagUplinkFast) {
    const bool fast = tag == kTagUplinkFast;
    fd = fast ? w.uplinkFast->fd() : w.uplink->fd();
    error = fast ? w.uplinkFast->PendingError() : w.uplink->PendingError();  // reads and clears sk_err
  } else {
    slot = uint32_t(tag);
    queue = int32_t(tag >> 32) - 1;
    PortBackend* b = ports_[slot].load(std::memory_order_acquire);
    if (!b || uint32_t(queue) >= b->rxQueues()) return false;  // detached meanwhile (Detach unpolls it)
    fd = b->rxFd(uint32_t(queue));
    error = b->TakeRxError(uint32_t(queue));
  }
  if (error != 0 && !(events & EPOLLHUP)) {
    // Link down or device unregistered: the error is cleared, the socket stays in the poll set
    // (quiet until the device is up again; a deleted device never wakes it).
    Bump(w.wc[kWFdErrors]);
    Emit({FdEventKind::kError, slot, queue, error, w.idx});
    return true;
  }
  // Nothing to clear (EPOLLHUP, a tap whose device is gone, an error queue): stop polling it.
  epoll_ctl(w.epfd, EPOLL_CTL_DEL, fd, nullptr);
  if (tag == kTagUplink) w.uplinkArmed = false;
  if (tag == kTagUplinkFast) w.uplinkFastArmed = false;
  Bump(w.wc[kWFdDisarmed]);
  Emit({FdEventKind::kDisarmed, slot, queue, error, w.idx});
  return false;
}

}  // namespace mdx
