// AF_PACKET socket setup (TPACKET_V3 RX ring + V3 fixed-slot TX ring) and the TX path.
// Setup order follows packet_mmap.rst / libpcap: version, vnet hdr, rings, mmap, bind, membership,
// fanout. Kernel facts used here are from net/packet/af_packet.c and include/uapi/linux/if_packet.h.
#include "io/packet_ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "io/netns.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

RingMapping::~RingMapping() {
  if (base) munmap(base, length);
}

void RingMapping::Orphan() {
  if (!base) return;
  void* m = mmap(base, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return;  // keep the ring mapping (the socket then lives until munmap)
}

namespace {

uint32_t PageSize() {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<uint32_t>(p) : 4096;
}

uint32_t RoundUp(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

struct OpenState {
  const RingOptions* o;
  const char* failed = nullptr;
  int fd = -1;
  int ifindex = 0;
  uint8_t* base = nullptr;
  size_t length = 0;
  uint32_t rxBlockSize = 0, rxBlockCount = 0;
  uint32_t txBlockSize = 0, txFrameSize = 0, txFramesPerBlock = 1, txSlots = 0;
  size_t rxBytes = 0;
  uint32_t mtu = 0;
};

int Fail(OpenState& s, const char* what) {
  int e = errno ? errno : EINVAL;
  s.failed = what;
  if (s.fd >= 0) close(s.fd);
  s.fd = -1;
  return -e;
}

int SetInt(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof(v)); }

// Everything that depends on the namespace (socket creation, name lookup) happens here, on the
// thread RunInNetns put into that namespace; the rest is namespace-independent but done here too.
int OpenInNamespace(OpenState& s) {
  const RingOptions& o = *s.o;
  const bool rx = o.rx;
  const int proto = rx ? htons(ETH_P_ALL) : 0;  // TX-only: protocol 0, no receive hook
  // Like libpcap: the socket is created with protocol 0 (no receive hook yet) and only bind()
  // installs the ETH_P_ALL hook, for this interface only. A socket created with ETH_P_ALL would
  // receive every interface's frames into its ring until bind().
  s.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) return Fail(s, "socket");
  if (o.ifname.empty() || o.ifname.size() >= IFNAMSIZ) {
    errno = ENODEV;
    return Fail(s, "if_nametoindex");
  }
  s.ifindex = static_cast<int>(if_nametoindex(o.ifname.c_str()));
  if (s.ifindex == 0) {
    errno = ENODEV;
    return Fail(s, "if_nametoindex");
  }
  {
    ifreq ifr{};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.ifname.c_str());
    if (ioctl(s.fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0) s.mtu = static_cast<uint32_t>(ifr.ifr_mtu);
  }
  if (SetInt(s.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3) != 0) return Fail(s, "setsockopt(PACKET_VERSION)");
  if (o.vnetHdr && SetInt(s.fd, SOL_PACKET, PACKET_VNET_HDR, 1) != 0) return Fail(s, "setsockopt(PACKET_VNET_HDR)");
  if (rx && o.ignoreOutgoing && SetInt(s.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1) != 0)
    return Fail(s, "setsockopt(PACKET_IGNORE_OUTGOING)");
  if (o.qdiscBypass && SetInt(s.fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1) != 0)
    return Fail(s, "setsockopt(PACKET_QDISC_BYPASS)");
  if (rx && o.auxVlan && SetInt(s.fd, SOL_PACKET, PACKET_AUXDATA, 1) != 0) return Fail(s, "setsockopt(PACKET_AUXDATA)");

  // PACKET_LOSS (before any ring, else EBUSY): a frame the kernel refuses (WRONG_FORMAT) is
  // skipped instead of stopping the TX ring at that slot until user space rewrites it. TxPush
  // checks the MTU itself and counts refusals in txDropped.
  if (o.tx && SetInt(s.fd, SOL_PACKET, PACKET_LOSS, 1) != 0) return Fail(s, "setsockopt(PACKET_LOSS)");
  const uint32_t page = PageSize();
  if (rx) {
    uint32_t bs = RoundUp(o.blockSize < page ? page : o.blockSize, page);
    uint32_t fs = RoundUp(o.frameSize < 128 ? 128 : o.frameSize, TPACKET_ALIGNMENT);
    if (fs > bs) fs = bs;
    uint32_t bc = o.blockCount < 2 ? 2 : o.blockCount;
    tpacket_req3 req{};
    req.tp_block_size = bs;
    req.tp_block_nr = bc;
    req.tp_frame_size = fs;
    req.tp_frame_nr = (bs / fs) * bc;
    req.tp_retire_blk_tov = o.retireTovMs;
    req.tp_sizeof_priv = 0;
    req.tp_feature_req_word = 0;
    if (setsockopt(s.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) return Fail(s, "setsockopt(PACKET_RX_RING)");
    s.rxBlockSize = bs;
    s.rxBlockCount = bc;
    s.rxBytes = static_cast<size_t>(bs) * bc;
  }
  size_t txBytes = 0;
  if (o.tx) {
    uint32_t fs = RoundUp(o.txFrameSize < 128 ? 128 : o.txFrameSize, TPACKET_ALIGNMENT);
    // A block holds a whole number of slots: at least one page, up to 64 KiB worth of slots.
    uint32_t bs = RoundUp(fs, page);
    while (bs < (64u << 10) && bs * 2 <= (1u << 22) && (bs * 2) / fs > bs / fs && bs * 2 <= fs * 64u) bs *= 2;
    uint32_t fpb = bs / fs;
    uint32_t want = o.txFrameCount < 16 ? 16 : o.txFrameCount;
    uint32_t nb = (want + fpb - 1) / fpb;
    tpacket_req3 req{};
    req.tp_block_size = bs;
    req.tp_block_nr = nb;
    req.tp_frame_size = fs;
    req.tp_frame_nr = nb * fpb;
    if (setsockopt(s.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0) return Fail(s, "setsockopt(PACKET_TX_RING)");
    s.txBlockSize = bs;
    s.txFrameSize = fs;
    s.txFramesPerBlock = fpb;
    s.txSlots = nb * fpb;
    txBytes = static_cast<size_t>(bs) * nb;
    // Every in-flight frame is charged to sk_wmem_alloc: make room for the whole ring.
    int sndbuf = static_cast<int>(txBytes * 2 > (1u << 30) ? (1u << 30) : txBytes * 2);
    if (SetInt(s.fd, SOL_SOCKET, SO_SNDBUFFORCE, sndbuf) != 0) SetInt(s.fd, SOL_SOCKET, SO_SNDBUF, sndbuf);
  }
  s.length = s.rxBytes + txBytes;
  if (s.length > 0) {
    void* m = mmap(nullptr, s.length, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd, 0);
    if (m == MAP_FAILED) return Fail(s, "mmap");
    s.base = static_cast<uint8_t*>(m);
  }
  if (!o.filter.empty()) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(o.filter.size());
    prog.filter = const_cast<sock_filter*>(o.filter.data());
    if (o.filter.size() > 4096 || setsockopt(s.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) {
      if (o.filter.size() > 4096) errno = EINVAL;
      int e = errno;
      if (s.base) munmap(s.base, s.length);
      s.base = nullptr;
      errno = e;
      return Fail(s, "setsockopt(SO_ATTACH_FILTER)");
    }
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = static_cast<uint16_t>(proto);
  sll.sll_ifindex = s.ifindex;
  if (bind(s.fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    int e = errno;
    if (s.base) munmap(s.base, s.length);
    s.base = nullptr;
    errno = e;
    return Fail(s, "bind");
  }
  auto undoMap = [&](const char* what) {
    int e = errno;
    if (s.base) munmap(s.base, s.length);
    s.base = nullptr;
    errno = e;
    return Fail(s, what);
  };
  if (o.promisc) {
    packet_mreq mr{};
    mr.mr_ifindex = s.ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(s.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0)
      return undoMap("setsockopt(PACKET_ADD_MEMBERSHIP)");
  }
  if (rx && o.fanoutGroup >= 0) {
    int arg = (o.fanoutGroup & 0xffff) | (o.fanoutMode << 16);
    if (SetInt(s.fd, SOL_PACKET, PACKET_FANOUT, arg) != 0) return undoMap("setsockopt(PACKET_FANOUT)");
  }
  return 0;
}

}  // namespace

int PacketRing::Open(const RingOptions& o, std::unique_ptr<PacketRing>* out, const char** failedSyscall) {
  OpenState s;
  s.o = &o;
  int r = RunInNetns(o.netns, [&] { return OpenInNamespace(s); });
  if (r < 0) {
    if (failedSyscall) *failedSyscall = s.failed ? s.failed : "setns";
    if (s.fd >= 0) close(s.fd);
    return r;
  }
  std::unique_ptr<PacketRing> ring(new PacketRing());
  ring->opts_ = o;
  ring->fd_ = s.fd;
  ring->ifindex_ = s.ifindex;
  ring->map_ = std::make_shared<RingMapping>();
  ring->map_->base = s.base;
  ring->map_->length = s.length;
  ring->rxBlockSize_ = s.rxBlockSize;
  ring->rxBlockCount_ = s.rxBlockCount;
  ring->txBase_ = s.base ? s.base + s.rxBytes : nullptr;
  ring->txBlockSize_ = s.txBlockSize;
  ring->txFrameSize_ = s.txFrameSize;
  ring->txFramesPerBlock_ = s.txFramesPerBlock ? s.txFramesPerBlock : 1;
  ring->txSlots_ = s.txSlots;
  ring->mtu_ = s.mtu;
  *out = std::move(ring);
  return 0;
}

PacketRing::~PacketRing() {
  // Zero-copy views (JavaScript) may still hold the mapping: detach it from the socket first so
  // that close() releases the socket now. Without other holders map_ is simply unmapped below.
  if (map_ && map_.use_count() > 1) map_->Orphan();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

int PacketRing::UpdateKernelStats() {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return -errno;
  // Atomic adds: this may run on a poll thread while the RX thread also folds stats.
  if (st.tp_drops) __atomic_fetch_add(&counters_->rxDrops, st.tp_drops, __ATOMIC_RELAXED);
  if (st.tp_freeze_q_cnt) __atomic_fetch_add(&counters_->freezes, st.tp_freeze_q_cnt, __ATOMIC_RELAXED);
  return 0;
}

int PacketRing::PendingError() {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

int PacketRing::AttachFilter(const sock_filter* insns, uint16_t n) {
  if (n == 0) {
    int dummy = 0;
    if (setsockopt(fd_, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof(dummy)) != 0 && errno != ENOENT) return -errno;
    return 0;
  }
  sock_fprog prog{};
  prog.len = n;
  prog.filter = const_cast<sock_filter*>(insns);
  if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) return -errno;
  return 0;
}

// ---- TX ----

bool PacketRing::TxSlotFree(uint8_t* slot) {
  auto* h = reinterpret_cast<tpacket3_hdr*>(slot);
  uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
  if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) return false;
  if (st & TP_STATUS_WRONG_FORMAT) Bump(counters_->txDropped);
  return true;
}

uint8_t* PacketRing::TxAcquire(uint32_t* cap) {
  if (txSlots_ == 0) return nullptr;
  uint8_t* slot = txSlot(txIdx_);
  if (!TxSlotFree(slot)) {
    Bump(counters_->txBackpressure);
    return nullptr;
  }
  if (cap) *cap = txSlotCapacity();
  return slot + kTxDataOffset + (opts_.vnetHdr ? kVnetHdrLen : 0);
}

void PacketRing::TxCommit(uint32_t len) {
  uint8_t* slot = txSlot(txIdx_);
  auto* h = reinterpret_cast<tpacket3_hdr*>(slot);
  h->tp_len = len + (opts_.vnetHdr ? kVnetHdrLen : 0);
  h->tp_next_offset = 0;
  h->tp_snaplen = 0;
  __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
  txIdx_ = txIdx_ + 1 == txSlots_ ? 0 : txIdx_ + 1;
  txPendingBytes_ += len;
  Bump(counters_->txPackets);
  Bump(counters_->txBytes, len);
}

bool PacketRing::TxOverMtu(const uint8_t* frame, uint32_t len) const {
  if (mtu_ == 0 || len <= mtu_ + 14) return false;
  // One 802.1Q/802.1ad tag on top is allowed (packet_extra_vlan_len_allowed).
  if (len <= mtu_ + 18 && len >= 14) {
    uint16_t et = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
    if (et == 0x8100 || et == 0x88a8) return false;
  }
  return true;
}

int PacketRing::TxPush(const uint8_t* frame, uint32_t len) {
  if (txSlots_ == 0) return -ENOTSUP;
  if (len > txSlotCapacity() || TxOverMtu(frame, len)) {
    Bump(counters_->txDropped);
    return -EMSGSIZE;
  }
  uint32_t cap = 0;
  uint8_t* p = TxAcquire(&cap);
  if (!p) return -EAGAIN;
  if (opts_.vnetHdr) memset(p - kVnetHdrLen, 0, kVnetHdrLen);
  memcpy(p, frame, len);
  TxCommit(len);
  return 0;
}

int PacketRing::TxPushVnet(const uint8_t* vnetHdr, const uint8_t* frame, uint32_t len) {
  if (!opts_.vnetHdr) return -EINVAL;
  if (txSlots_ == 0) return -ENOTSUP;
  // GSO frames (gso_type != NONE) may exceed the MTU; plain ones may not.
  if (len > txSlotCapacity() || (vnetHdr[1] == 0 && TxOverMtu(frame, len))) {
    Bump(counters_->txDropped);
    return -EMSGSIZE;
  }
  uint32_t cap = 0;
  uint8_t* p = TxAcquire(&cap);
  if (!p) return -EAGAIN;
  memcpy(p - kVnetHdrLen, vnetHdr, kVnetHdrLen);
  memcpy(p, frame, len);
  TxCommit(len);
  return 0;
}

int PacketRing::SendCopy(const uint8_t* vnetHdr, const uint8_t* frame, uint32_t len) {
  if (txSlots_ > 0) return -EINVAL;  // with a TX ring, send() only kicks the ring
  if ((vnetHdr != nullptr) != opts_.vnetHdr) return -EINVAL;
  static uint8_t zero[kVnetHdrLen];
  iovec iov[2];
  int n = 0;
  if (opts_.vnetHdr) iov[n++] = {const_cast<uint8_t*>(vnetHdr ? vnetHdr : zero), kVnetHdrLen};
  iov[n++] = {const_cast<uint8_t*>(frame), len};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = size_t(n);
  if (sendmsg(fd_, &m, MSG_DONTWAIT) < 0) {
    const int e = errno;
    if (e == EAGAIN || e == ENOBUFS)
      Bump(counters_->txBackpressure);
    else
      Bump(counters_->txDropped);
    return -e;
  }
  Bump(counters_->txPackets);
  Bump(counters_->txBytes, len);
  return 0;
}

int PacketRing::Flush() {
  if (txPendingBytes_ <= 0) return 0;
  Bump(counters_->kicks);
  ssize_t r = sendto(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  if (r < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == EINTR) {
      Bump(counters_->txBackpressure);
      return 0;
    }
    Bump(counters_->errors);
    if (e == EINVAL || e == EMSGSIZE) {
      // A slot was marked WRONG_FORMAT; it is reclaimed (and counted) when reused. Keep going.
      txPendingBytes_ = 0;
    }
    return -e;
  }
  // r is the byte sum of the frames the kernel took; 0 means nothing was left to take.
  txPendingBytes_ = (r == 0 || r >= txPendingBytes_) ? 0 : txPendingBytes_ - r;
  return 0;
}

uint32_t PacketRing::TxInFlight() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < txSlots_; i++) {
    auto* h = reinterpret_cast<tpacket3_hdr*>(txSlot(i));
    if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) n++;
  }
  return n;
}
