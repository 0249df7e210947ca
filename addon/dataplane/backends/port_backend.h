// The interface every port backend implements (AF_PACKET ring, AF_PACKET with copied TX, tap
// queues, JavaScript): the engine polls its RX queues and hands it frames to transmit, without
// knowing what is behind it. One file per backend next to this one (the JS backend lives in
// addon/node/ because it needs Node.js).
//
// Threading: RX queue q of the port in slot s is polled by one worker ((s + q) % workers); TX may be
// called by any worker, always under Lock() (Send and Flush of one backend never run concurrently).
#pragma once
#include <atomic>
#include <cstdint>

#include "dataplane/frame.h"
#include "dataplane/vlan_tag.h"

namespace mdx {

// What a TX call did, for the engine's per-slot counters.
struct TxTally {
  uint64_t packets = 0;  // frames handed to the kernel / JS
  uint64_t bytes = 0;
  uint64_t dropped = 0;  // frames refused (ring full after a kick, send error, JS queue full)
};

// Receives the frames a backend reads (with their offload state). tci: VLAN TCI | TPID << 16 the
// kernel delivered as metadata, or kNoVlanTci.
class RxVisitor {
 public:
  virtual void Visit(const Frame& f, uint32_t tci) = 0;

 protected:
  ~RxVisitor() = default;
};

// An RxVisitor over a callable (the engine's worker passes a lambda).
template <class F>
class RxVisitorFn final : public RxVisitor {
 public:
  explicit RxVisitorFn(const F& f) : f_(f) {}
  void Visit(const Frame& f, uint32_t tci) override { f_(f, tci); }

 private:
  const F& f_;
};

// RX blocks / reads taken from one queue per poll round, so one busy queue cannot starve the others.
constexpr int kMaxRxBlocksPerPoll = 4;
constexpr int kMaxRxFramesPerPoll = 128;  // V2 rings (frames, not blocks)

class PortBackend {
 public:
  virtual ~PortBackend() = default;

  // ---- RX ----
  virtual uint32_t rxQueues() const { return 0; }
  virtual int rxFd(uint32_t /*q*/) const { return -1; }
  // Visit the frames ready on queue q (a bounded batch). Returns frames visited.
  virtual int Receive(uint32_t /*q*/, RxVisitor& /*v*/) { return 0; }
  // Cumulative kernel RX drops (ring overflow), refreshed by this call (a few times a second).
  virtual uint64_t RefreshRxDrops() { return 0; }
  // Queue q's fd reported EPOLLERR: read and clear its pending error (SO_ERROR). A positive errno
  // means the error was cleared and the fd may be polled on (a socket whose device went down);
  // 0 means nothing to clear (a tap whose device is gone): the engine stops polling it.
  virtual int TakeRxError(uint32_t /*q*/) { return 0; }

  // ---- TX (under Lock()) ----
  // Whether Send takes frames with offload work left (CHECKSUM_PARTIAL, GSO) and hands the
  // virtio_net_hdr to the kernel. When false, the engine completes them in software first
  // (soft_offload.h) and Send only sees plain frames.
  virtual bool carriesVnetHdr() const = 0;
  // Queue or send one frame; account for what happened now in *t (frames queued for a later
  // Flush are accounted by that Flush).
  virtual void Send(const Frame& f, TxTally* t) = 0;
  // Hand everything queued to the kernel / JS (once per worker pass).
  virtual void Flush(TxTally* t) = 0;

  void Lock() {
    while (lock_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void Unlock() { lock_.clear(std::memory_order_release); }

 private:
  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
};

}  // namespace mdx
