// TPACKET_V2 receive ring setup (see frame_ring.h). Setup order as packet_ring.cc: socket with
// protocol 0 (no receive hook until bind), version, options, ring, mmap, bind, membership, fanout.
#include "io/frame_ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "io/netns.h"


#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

namespace {

int SetInt(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof(v)); }

struct OpenState {
  const FrameRingOptions* o;
  const char* failed = nullptr;
  int fd = -1, ifindex = 0, fanoutId = -1;
  uint8_t* base = nullptr;
  size_t length = 0;
  uint32_t slotSize = 0, slots = 0;
};

int Fail(OpenState& s, const char* what) {
  const int e = errno ? errno : EINVAL;
  s.failed = what;
  if (s.base) munmap(s.base, s.length);
  s.base = nullptr;
  if (s.fd >= 0) close(s.fd);
  s.fd = -1;
  return -e;
}

int OpenInNamespace(OpenState& s) {
  const FrameRingOptions& o = *s.o;
  s.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) return Fail(s, "socket");
  s.ifindex = o.ifname.size() < IFNAMSIZ ? int(if_nametoindex(o.ifname.c_str())) : 0;
  if (s.ifindex == 0) {
    errno = ENODEV;
    return Fail(s, "if_nametoindex");
  }
  if (SetInt(s.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2) != 0) return Fail(s, "setsockopt(PACKET_VERSION)");
  if (o.vnetHdr && SetInt(s.fd, SOL_PACKET, PACKET_VNET_HDR, 1) != 0) return Fail(s, "setsockopt(PACKET_VNET_HDR)");
  if (o.ignoreOutgoing && SetInt(s.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) != 0)
    return Fail(s, "setsockopt(PACKET_IGNORE_OUTGOING)");
  // The tag of a frame read from the receive queue (TP_STATUS_COPY) comes as a cmsg.
  if (SetInt(s.fd, SOL_PACKET, PACKET_AUXDATA, 1) != 0) return Fail(s, "setsockopt(PACKET_AUXDATA)");
  if (SetInt(s.fd, SOL_PACKET, PACKET_COPY_THRESH, 1) != 0) return Fail(s, "setsockopt(PACKET_COPY_THRESH)");
  // Room for frames queued beside the ring: 512 super-frames (33 MiB, ~27 ms at 10 Gbit/s, as the
  // rings are sized by time). 64 (4 MiB) overflowed whenever the worker was off the CPU for a few
  // ms: iperf3 with 4 streams through the uplink lost 2000-3500 segments in 4 s, none with 512.
  // The memory is the senders' skbs kept alive (tpacket_rcv queues skb_get / a clone), charged
  // only while they wait; each also holds a slot, so a ring of fewer slots never queues more.
  const int rcvbuf = int(o.maxFrame) * 512;
  if (SetInt(s.fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf) != 0) SetInt(s.fd, SOL_SOCKET, SO_RCVBUF, rcvbuf);
  if (!o.filter.empty()) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(o.filter.size());
    prog.filter = const_cast<sock_filter*>(o.filter.data());
    if (o.filter.size() > 4096) errno = EINVAL;
    if (o.filter.size() > 4096 || setsockopt(s.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0)
      return Fail(s, "setsockopt(SO_ATTACH_FILTER)");
  }
  const long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
  uint32_t fs = (o.slotSize < 256 ? 256 : o.slotSize + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1);
  // A block holds whole slots; 64 KiB blocks keep the kernel's page vector short.
  uint32_t bs = uint32_t(page);
  while (bs < fs || (bs < (64u << 10) && bs * 2 >= fs)) bs *= 2;
  const uint32_t perBlock = bs / fs;
  const uint32_t want = o.slots < 16 ? 16 : o.slots;
  const uint32_t blocks = (want + perBlock - 1) / perBlock;
  tpacket_req req{};
  req.tp_block_size = bs;
  req.tp_block_nr = blocks;
  req.tp_frame_size = fs;
  req.tp_frame_nr = blocks * perBlock;
  if (setsockopt(s.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) return Fail(s, "setsockopt(PACKET_RX_RING)");
  s.slotSize = fs;
  s.slots = req.tp_frame_nr;
  s.length = size_t(bs) * blocks;
  void* m = mmap(nullptr, s.length, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
  if (m == MAP_FAILED) return Fail(s, "mmap");
  s.base = static_cast<uint8_t*>(m);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = s.ifindex;
  if (bind(s.fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) return Fail(s, "bind");
  if (o.promisc) {
    packet_mreq mr{};
    mr.mr_ifindex = s.ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(s.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0)
      return Fail(s, "setsockopt(PACKET_ADD_MEMBERSHIP)");
  }
  if (o.fanoutGroup >= 0 || o.fanoutUniqueId) {
    const int flags = o.fanoutUniqueId ? PACKET_FANOUT_FLAG_UNIQUEID : 0;
    const int arg = (o.fanoutUniqueId ? 0 : (o.fanoutGroup & 0xffff)) | ((o.fanoutMode | flags) << 16);
    if (SetInt(s.fd, SOL_PACKET, PACKET_FANOUT, arg) != 0) return Fail(s, "setsockopt(PACKET_FANOUT)");
    int got = 0;
    socklen_t len = sizeof(got);
    s.fanoutId = getsockopt(s.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) == 0 ? (got & 0xffff) : -1;
  }
  return 0;
}

}  // namespace

int FrameRing::Open(const FrameRingOptions& o, std::unique_ptr<FrameRing>* out, const char** failedStep) {
  OpenState s;
  s.o = &o;
  const int r = RunInNetns(o.netns, [&] { return OpenInNamespace(s); });
  if (r < 0) {
    if (failedStep) *failedStep = s.failed ? s.failed : "setns";
    if (s.base) munmap(s.base, s.length);
    if (s.fd >= 0) close(s.fd);
    return r;
  }
  std::unique_ptr<FrameRing> ring(new FrameRing());
  ring->opts_ = o;
  ring->fd_ = s.fd;
  ring->ifindex_ = s.ifindex;
  ring->fanoutId_ = s.fanoutId;
  ring->base_ = s.base;
  ring->length_ = s.length;
  ring->slotSize_ = s.slotSize;
  ring->slots_ = s.slots;
  ring->copyBuf_.resize(o.maxFrame + PacketRing::kVnetHdrLen);
  *out = std::move(ring);
  return 0;
}

FrameRing::~FrameRing() {
  if (base_) munmap(base_, length_);
  if (fd_ >= 0) close(fd_);
}

bool FrameRing::ReadCopy(RxFrameInfo* fi) {
  iovec iov{copyBuf_.data(), copyBuf_.size()};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(tpacket_auxdata))];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctrl;
  mh.msg_controllen = sizeof(ctrl);
  const ssize_t n = recvmsg(fd_, &mh, MSG_DONTWAIT);
  const uint32_t vnet = opts_.vnetHdr ? PacketRing::kVnetHdrLen : 0;
  if (n < ssize_t(vnet + 14) || (mh.msg_flags & MSG_TRUNC)) return false;
  fi->frame = copyBuf_.data() + vnet;
  fi->len = uint32_t(n) - vnet;
  fi->wireLen = fi->len;
  fi->vlanTci = PacketRing::kNoVlan;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
    tpacket_auxdata aux;
    memcpy(&aux, CMSG_DATA(c), sizeof(aux));
    if (aux.tp_status & TP_STATUS_VLAN_VALID) {
      const uint32_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid : 0x8100;
      fi->vlanTci = (aux.tp_vlan_tci & 0xffff) | (tpid << 16);
    }
    fi->status = aux.tp_status | TP_STATUS_COPY;
  }
  fi->offset = 0;
  return true;
}

int FrameRing::UpdateKernelStats() {
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return -errno;
  if (st.tp_drops) __atomic_fetch_add(&counters_->rxDrops, st.tp_drops, __ATOMIC_RELAXED);
  return 0;
}

int FrameRing::PendingError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

int SetFanoutTarget(int fd, uint32_t k) {
  sock_filter insn = {BPF_RET | BPF_K, 0, 0, k};
  sock_fprog prog{1, &insn};
  return setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof(prog)) == 0 ? 0 : -errno;
}

int64_t FanoutRollovers(int fd) {
  tpacket_rollover_stats st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd, SOL_PACKET, PACKET_ROLLOVER_STATS, &st, &len) != 0) return -errno;
  return int64_t(st.tp_all);
}
