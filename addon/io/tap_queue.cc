#include "io/tap_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "io/netns.h"

namespace {

int ReadSmallFile(const std::string& path, char* buf, size_t cap) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = read(fd, buf, cap - 1);
  int e = errno;
  close(fd);
  if (n < 0) return -e;
  buf[n] = 0;
  return static_cast<int>(n);
}

struct OpenCtx {
  const TapOptions* o;
  const char* failed = nullptr;
  int ifindex = 0;
  std::vector<int> fds;
};

int Fail(OpenCtx& c, const char* step, int err) {
  c.failed = step;
  for (int fd : c.fds) close(fd);
  c.fds.clear();
  return -err;
}

int ConfigureQueue(OpenCtx& c, int fd) {
  const TapOptions& o = *c.o;
  if (o.vnetHdr && o.vnetHdrSize != 10) {
    int sz = o.vnetHdrSize;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) != 0) return Fail(c, "ioctl(TUNSETVNETHDRSZ)", errno);
  }
  int offl = o.offloads;
  if (offl < 0 && o.vnetHdr) offl = kTunCsum | kTunTso4 | kTunTso6;
  if (offl >= 0 && ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(offl)) != 0)
    return Fail(c, "ioctl(TUNSETOFFLOAD)", errno);
  return 0;
}

// Runs on a dedicated thread that is already in the target network namespace. The thread takes a
// private mount namespace, mounts a sysfs of *this* netns to find the macvtap's char device
// (major:minor from /sys/class/net/IF/tapN/dev; the minor is not the ifindex), and creates the
// device node on a private tmpfs, so nothing is left behind in /dev even if the process dies.
int OpenMacvtapHere(OpenCtx& c) {
  const TapOptions& o = *c.o;
  if (unshare(CLONE_NEWNS) != 0) return Fail(c, "unshare(CLONE_NEWNS)", errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return Fail(c, "mount(MS_PRIVATE)", errno);
  char dir[] = "/tmp/mdx-tap-XXXXXX";
  if (!mkdtemp(dir)) return Fail(c, "mkdtemp", errno);
  int rc = 0;
  char buf[64];
  unsigned maj = 0, min = 0;
  do {
    if (mount("sysfs", dir, "sysfs", MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, nullptr) != 0) {
      rc = Fail(c, "mount(sysfs)", errno);
      break;
    }
    std::string base = std::string(dir) + "/class/net/" + o.ifname;
    int r = ReadSmallFile(base + "/ifindex", buf, sizeof(buf));
    if (r < 0) {
      umount2(dir, MNT_DETACH);
      rc = Fail(c, "if_nametoindex", r == -ENOENT ? ENODEV : -r);
      break;
    }
    c.ifindex = atoi(buf);
    r = ReadSmallFile(base + "/tap" + std::to_string(c.ifindex) + "/dev", buf, sizeof(buf));
    umount2(dir, MNT_DETACH);
    if (r < 0 || sscanf(buf, "%u:%u", &maj, &min) != 2) {
      // Not a macvtap (no tapN entry).
      rc = Fail(c, "macvtap lookup (/sys/class/net/IF/tapN/dev)", r == -ENOENT || r >= 0 ? ENOTTY : -r);
      break;
    }
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=16k,mode=0700") != 0) {
      rc = Fail(c, "mount(tmpfs)", errno);
      break;
    }
    std::string node = std::string(dir) + "/tap";
    if (mknod(node.c_str(), S_IFCHR | 0600, makedev(maj, min)) != 0) {
      rc = Fail(c, "mknod", errno);
      umount2(dir, MNT_DETACH);
      break;
    }
    for (int q = 0; q < o.queues; q++) {
      int fd = open(node.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        rc = Fail(c, "open(/dev/tapN)", errno);
        break;
      }
      c.fds.push_back(fd);
      if (!o.vnetHdr) {
        ifreq ifr{};
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
          rc = Fail(c, "ioctl(TUNSETIFF)", errno);
          break;
        }
      }
      rc = ConfigureQueue(c, fd);
      if (rc < 0) break;
    }
    umount2(dir, MNT_DETACH);
  } while (false);
  rmdir(dir);
  return rc;
}

int OpenTunHere(OpenCtx& c) {
  const TapOptions& o = *c.o;
  const bool mq = o.multiQueue < 0 ? o.queues > 1 : o.multiQueue != 0;
  for (int q = 0; q < o.queues; q++) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return Fail(c, "open(/dev/net/tun)", errno);
    c.fds.push_back(fd);
    ifreq ifr{};
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", o.ifname.c_str());
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (o.vnetHdr ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) return Fail(c, "ioctl(TUNSETIFF)", errno);
    int r = ConfigureQueue(c, fd);
    if (r < 0) return r;
  }
  c.ifindex = static_cast<int>(if_nametoindex(o.ifname.c_str()));
  return 0;
}

}  // namespace

int TapQueue::Open(const TapOptions& o, std::vector<std::unique_ptr<TapQueue>>* out, const char** failedStep) {
  if (o.ifname.empty() || o.ifname.size() >= IFNAMSIZ || o.queues < 1 || o.queues > 256 ||
      (o.vnetHdr && o.vnetHdrSize != 10 && o.vnetHdrSize != 12)) {
    if (failedStep) *failedStep = "options";
    return -EINVAL;
  }
  OpenCtx c;
  c.o = &o;
  int rc = 0;
  // Always a fresh thread: it may change its mount namespace, and enters the network namespace.
  std::thread t([&] {
    if (!o.netns.empty()) {
      int nsfd = open(ResolveNetnsPath(o.netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0) {
        rc = Fail(c, "setns", errno);
        return;
      }
      int r = setns(nsfd, CLONE_NEWNET);
      int e = errno;
      close(nsfd);
      if (r != 0) {
        rc = Fail(c, "setns", e);
        return;
      }
    }
    rc = o.tun ? OpenTunHere(c) : OpenMacvtapHere(c);
  });
  t.join();
  if (rc < 0) {
    if (failedStep) *failedStep = c.failed;
    return rc;
  }
  out->clear();
  for (int fd : c.fds) {
    std::unique_ptr<TapQueue> q(new TapQueue());
    q->fd_ = fd;
    q->ifindex_ = c.ifindex;
    q->vnetHdrSize_ = o.vnetHdr ? o.vnetHdrSize : 0;
    out->push_back(std::move(q));
  }
  return 0;
}

TapQueue::~TapQueue() {
  if (fd_ >= 0) close(fd_);
}

int TapQueue::Detach() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

int TapQueue::ReadBatch(uint8_t* buf, uint32_t slotSize, uint32_t maxFrames, uint32_t* lens) {
  if (fd_ < 0) return -EBADF;
  uint32_t n = 0;
  uint64_t bytes = 0, trunc = 0, runts = 0;
  const uint32_t hdr = static_cast<uint32_t>(vnetHdrSize_);
  while (n < maxFrames) {
    ssize_t r = read(fd_, buf + static_cast<size_t>(n) * slotSize, slotSize);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      Bump(counters_->errors);
      if (n == 0) return -e;
      break;
    }
    if (static_cast<uint32_t>(r) == slotSize) trunc++;  // the kernel silently truncates to the buffer
    uint32_t flen = static_cast<uint32_t>(r) > hdr ? static_cast<uint32_t>(r) - hdr : 0;
    if (flen < 60) runts++;
    bytes += flen;
    lens[n++] = static_cast<uint32_t>(r);
  }
  if (n) {
    Bump(counters_->rxPackets, n);
    Bump(counters_->rxBytes, bytes);
    Bump(counters_->rxBlocks);
  }
  if (trunc) Bump(counters_->truncated, trunc);
  if (runts) Bump(counters_->runts, runts);
  return static_cast<int>(n);
}

int TapQueue::WriteBatch(const uint8_t* const* frames, const uint32_t* lens, uint32_t n) {
  if (fd_ < 0) return -EBADF;
  uint32_t i = 0;
  uint64_t bytes = 0;
  const uint32_t hdr = static_cast<uint32_t>(vnetHdrSize_);
  int err = 0;
  while (i < n) {
    ssize_t r = write(fd_, frames[i], lens[i]);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        Bump(counters_->txBackpressure);
        break;
      }
      Bump(counters_->txDropped);
      err = -e;
      break;
    }
    bytes += lens[i] > hdr ? lens[i] - hdr : 0;
    i++;
  }
  Bump(counters_->kicks);
  if (i) {
    Bump(counters_->txPackets, i);
    Bump(counters_->txBytes, bytes);
  }
  if (i == 0 && err) return err;
  return static_cast<int>(i);
}

int TapQueue::WriteVnet(const uint8_t* hdr, uint32_t hdrLen, const uint8_t* frame, uint32_t len) {
  if (fd_ < 0) return -EBADF;
  if (vnetHdrSize_ == 0 || hdrLen > uint32_t(vnetHdrSize_)) return -EINVAL;
  uint8_t h[16] = {};
  memcpy(h, hdr, hdrLen);
  iovec iov[2] = {{h, size_t(vnetHdrSize_)}, {const_cast<uint8_t*>(frame), len}};
  for (;;) {
    const ssize_t r = writev(fd_, iov, 2);
    if (r >= 0) break;
    const int e = errno;
    if (e == EINTR) continue;
    Bump(e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS ? counters_->txBackpressure : counters_->txDropped);
    return -e;
  }
  Bump(counters_->txPackets);
  Bump(counters_->txBytes, len);
  return 0;
}

int TapQueue::SetOffload(unsigned flags) {
  if (ioctl(fd_, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0) return -errno;
  return 0;
}

int TapQueue::SetQueueEnabled(bool on) {
  ifreq ifr{};
  ifr.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  if (ioctl(fd_, TUNSETQUEUE, &ifr) != 0) return -errno;
  return 0;
}

int TapQueue::CheckDevice() {
  if (fd_ < 0) return -EBADF;
  ifreq ifr{};
  if (ioctl(fd_, TUNGETIFF, &ifr) == 0) return 0;
  int e = errno;
  return (e == ENOLINK || e == EBADFD || e == ENODEV) ? -ENODEV : 0;
}
