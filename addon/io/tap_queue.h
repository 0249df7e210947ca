// macvtap (/dev/tapN) and tun/tap queues: one fd per queue, optional virtio_net_hdr before each
// frame, offload flags (TUNSETOFFLOAD), batched nonblocking read/write loops.
#pragma once
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#include "io/port_counters.h"

// TUNSETOFFLOAD bits (linux/if_tun.h).
enum TapOffload : unsigned {
  kTunCsum = 0x01,
  kTunTso4 = 0x02,
  kTunTso6 = 0x04,
  kTunTsoEcn = 0x08,
  kTunUfo = 0x10,
  kTunUso4 = 0x20,
  kTunUso6 = 0x40,
};

struct TapOptions {
  std::string ifname, netns;
  bool tun = false;       // false: open an existing macvtap's /dev/tapN; true: tun/tap by name (TUNSETIFF)
  bool vnetHdr = true;    // IFF_VNET_HDR: each frame is preceded by a virtio_net_hdr
  int vnetHdrSize = 10;   // 10 or 12 (TUNSETVNETHDRSZ)
  int offloads = -1;      // TUNSETOFFLOAD flags; -1 = csum|tso4|tso6 with vnetHdr, untouched without
  int queues = 1;         // fds to open (multiqueue: macvtap opens add queues; tun uses IFF_MULTI_QUEUE)
  // tun: IFF_MULTI_QUEUE in TUNSETIFF: 1 on, 0 off, -1 when queues > 1. It must match the device's
  // flag (drivers/net/tun.c tun_set_iff: EINVAL), so one queue of a multiqueue tap needs 1.
  int multiQueue = -1;
};

class TapQueue {
 public:
  // Opens o.queues queues. 0 or -errno; *failedStep names the failing step.
  static int Open(const TapOptions& o, std::vector<std::unique_ptr<TapQueue>>* out, const char** failedStep);
  ~TapQueue();
  TapQueue(const TapQueue&) = delete;
  TapQueue& operator=(const TapQueue&) = delete;

  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }
  int vnetHdrSize() const { return vnetHdrSize_; }
  // Give up ownership of the fd (e.g. handed to a child process for good). Returns it.
  int Detach();

  // Read up to maxFrames frames (one read() each) into buf, slotSize bytes apart; lens[i] gets each
  // length (vnet header included). Stops at EAGAIN. Returns frames read or -errno (first read only).
  int ReadBatch(uint8_t* buf, uint32_t slotSize, uint32_t maxFrames, uint32_t* lens);
  // Write frames (each one write(), vnet header included when enabled). Stops at EAGAIN.
  // Returns frames written or -errno (when the first write fails).
  int WriteBatch(const uint8_t* const* frames, const uint32_t* lens, uint32_t n);
  // Write one frame after the given virtio_net_hdr bytes (writev; vnet queues only, hdrLen <=
  // the queue's header size: the rest is zeroed). 0 or -errno (-EAGAIN: queue full).
  int WriteVnet(const uint8_t* hdr, uint32_t hdrLen, const uint8_t* frame, uint32_t len);
  int SetOffload(unsigned flags);
  // 0 while the queue's device exists; -ENODEV once it was deleted (TUNGETIFF gives ENOLINK for a
  // macvtap queue whose device is gone: its poll() never says so).
  int CheckDevice();
  // TUNSETQUEUE attach (true) / detach (false) this queue.
  int SetQueueEnabled(bool on);
  PortCounters& counters() { return *counters_; }
  std::shared_ptr<PortCounters> sharedCounters() const { return counters_; }

 private:
  TapQueue() = default;
  int fd_ = -1;
  int ifindex_ = 0;
  int vnetHdrSize_ = 0;
  std::shared_ptr<PortCounters> counters_ = std::make_shared<PortCounters>();
};
