// AF_XDP socket setup and teardown. See xsk_socket.h.
#include "io/xsk_socket.h"

#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "io/netns.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace mdx {

namespace {

bool PowerOfTwo(uint32_t v) { return v && !(v & (v - 1)); }

template <class T>
int MapRing(int fd, const xdp_ring_offset& off, uint32_t size, uint64_t pgoff, XskRing<T>* ring, void** map,
            size_t* len) {
  *len = off.desc + size_t(size) * sizeof(T);
  void* m = mmap(nullptr, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off_t(pgoff));
  if (m == MAP_FAILED) return -errno;
  *map = m;
  uint8_t* b = static_cast<uint8_t*>(m);
  ring->Init(reinterpret_cast<uint32_t*>(b + off.producer), reinterpret_cast<uint32_t*>(b + off.consumer),
             reinterpret_cast<uint32_t*>(b + off.flags), reinterpret_cast<T*>(b + off.desc), size);
  return 0;
}

}  // namespace

int XskSocket::Open(const XskOptions& o, std::unique_ptr<XskSocket>* out, const char** step) {
  if (!PowerOfTwo(o.frames) || !PowerOfTwo(o.frameSize) || o.frameSize < 2048 || o.frameSize > 65536) {
    *step = "options (frames and frameSize must be powers of two, frameSize 2048..65536)";
    return -EINVAL;
  }
  std::unique_ptr<XskSocket> s(new XskSocket());
  s->queue_ = o.queue;
  s->umemLen_ = uint64_t(o.frames) * o.frameSize;
  s->chunkMask_ = ~uint64_t(o.frameSize - 1);
  void* umem = mmap(nullptr, s->umemLen_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) {
    *step = "mmap(UMEM)";
    return -errno;
  }
  s->umem_ = static_cast<uint8_t*>(umem);
  const char* st = nullptr;
  const int rc = RunInNetns(o.netns, [&]() -> int {
    st = "if_nametoindex";
    s->ifindex_ = int(if_nametoindex(o.ifname.c_str()));
    if (s->ifindex_ == 0) return -ENODEV;
    st = "socket(AF_XDP)";
    s->fd_ = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd_ < 0) return -errno;
    return 0;
  });
  if (rc < 0) {
    *step = st ? st : "enter the network namespace";
    return rc;
  }
  const int fd = s->fd_;
  auto opt = [&](int name, const void* v, socklen_t len, const char* what) {
    if (setsockopt(fd, SOL_XDP, name, v, len) == 0) return 0;
    *step = what;
    return -errno;
  };
  xdp_umem_reg reg{};
  reg.addr = uint64_t(uintptr_t(s->umem_));
  reg.len = s->umemLen_;
  reg.chunk_size = o.frameSize;
  reg.headroom = 0;
  int r;
  if ((r = opt(XDP_UMEM_REG, &reg, sizeof(reg), "setsockopt(XDP_UMEM_REG)")) < 0) return r;
  const uint32_t ringSize = o.frames, compSize = 64;  // nothing is transmitted: a small completion ring
  if ((r = opt(XDP_UMEM_FILL_RING, &ringSize, sizeof(ringSize), "setsockopt(XDP_UMEM_FILL_RING)")) < 0) return r;
  if ((r = opt(XDP_UMEM_COMPLETION_RING, &compSize, sizeof(compSize), "setsockopt(XDP_UMEM_COMPLETION_RING)")) < 0)
    return r;
  if ((r = opt(XDP_RX_RING, &ringSize, sizeof(ringSize), "setsockopt(XDP_RX_RING)")) < 0) return r;
  xdp_mmap_offsets off{};
  socklen_t olen = sizeof(off);
  if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0) {
    *step = "getsockopt(XDP_MMAP_OFFSETS)";
    return -errno;
  }
  if (olen != sizeof(off)) {  // a pre-5.4 layout without the flags word
    *step = "getsockopt(XDP_MMAP_OFFSETS): kernel too old";
    return -EOPNOTSUPP;
  }
  if ((r = MapRing(fd, off.fr, ringSize, XDP_UMEM_PGOFF_FILL_RING, &s->fill_, &s->fillMap_, &s->fillMapLen_)) < 0 ||
      (r = MapRing(fd, off.cr, compSize, XDP_UMEM_PGOFF_COMPLETION_RING, &s->comp_, &s->compMap_, &s->compMapLen_)) < 0 ||
      (r = MapRing(fd, off.rx, ringSize, XDP_PGOFF_RX_RING, &s->rx_, &s->rxMap_, &s->rxMapLen_)) < 0) {
    *step = "mmap(XDP rings)";
    return r;
  }
  // Every chunk starts in the fill ring: the kernel may fill them all before we read one.
  uint32_t idx;
  const uint32_t n = s->fill_.Reserve(o.frames, &idx);
  for (uint32_t i = 0; i < n; i++) s->fill_.at(idx + i) = uint64_t(i) * o.frameSize;
  s->fill_.Submit(n);

  sockaddr_xdp sa{};
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = uint32_t(s->ifindex_);
  sa.sxdp_queue_id = o.queue;
  int brc = -EOPNOTSUPP;
  if (o.tryZeroCopy) {
    sa.sxdp_flags = XDP_ZEROCOPY;
    brc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 ? 0 : -errno;
    if (brc == 0) s->zeroCopy_ = true;
  }
  if (brc == -EOPNOTSUPP || brc == -EPROTONOSUPPORT) {  // no zero-copy in this driver: copy mode
    sa.sxdp_flags = XDP_COPY;
    brc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 ? 0 : -errno;
  }
  if (brc < 0) {
    *step = "bind(AF_XDP)";
    return brc;
  }
  *out = std::move(s);
  return 0;
}

XskSocket::~XskSocket() {
  if (rxMap_) munmap(rxMap_, rxMapLen_);
  if (compMap_) munmap(compMap_, compMapLen_);
  if (fillMap_) munmap(fillMap_, fillMapLen_);
  if (fd_ >= 0) close(fd_);
  if (umem_) munmap(umem_, umemLen_);
}

int XskSocket::PendingError() const {
  int e = 0;
  socklen_t len = sizeof(e);
  return getsockopt(fd_, SOL_SOCKET, SO_ERROR, &e, &len) < 0 ? errno : e;
}

uint64_t XskSocket::KernelDrops() const {
  xdp_statistics st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &st, &len) < 0) return 0;
  return st.rx_dropped + st.rx_ring_full;
}

}  // namespace mdx
