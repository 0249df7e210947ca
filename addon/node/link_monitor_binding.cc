// A link monitor for the control plane: a NETLINK_ROUTE socket subscribed to RTNLGRP_LINK
// (RTM_NEWLINK / RTM_DELLINK of every device of one network namespace) and a thread that blocks in
// poll() and hands each datagram to JavaScript, which decodes it (src/netlink/link-monitor.ts).
// The thread sleeps until the kernel has something to say: an idle monitor costs no CPU.
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "io/netns.h"
#include "io/stop_event.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "node/node_handle.h"

namespace {

struct Datagram {
  std::vector<uint8_t> bytes;
  int error = 0;  // -errno (e.g. -ENOBUFS: the socket overran and events were lost)
};

// Stopped (thread joined, socket closed) by linkMonitorClose, the env cleanup hook or GC.
struct LinkMonitor final : NodeHandle {
  using NodeHandle::NodeHandle;
  ~LinkMonitor() override { Close(); }
  int fd = -1;
  StopEvent stop;
  std::thread thread;

  void Emit(Datagram* d) {
    napi_status st = callback().NonBlockingCall(d, [](Napi::Env env, Napi::Function cb, Datagram* d) {
      if (env != nullptr && cb != nullptr) {
        Napi::Value buf = d->error ? env.Null() : Napi::Buffer<uint8_t>::Copy(env, d->bytes.data(), d->bytes.size());
        SafeCall(env, cb, {buf, Napi::Number::New(env, d->error)});
      }
      delete d;
    });
    if (st != napi_ok) delete d;
  }

  void Run() {
    std::vector<uint8_t> buf(1 << 16);
    while (!stop.stopped()) {
      pollfd p[2] = {{fd, POLLIN, 0}, {stop.fd(), POLLIN, 0}};
      int r = poll(p, 2, -1);
      if (stop.stopped()) break;
      if (r < 0) {
        if (errno == EINTR) continue;
        Emit(new Datagram{{}, -errno});
        break;
      }
      if (!(p[0].revents & (POLLIN | POLLERR))) continue;
      ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        // ENOBUFS: the receive queue overflowed; the socket stays usable, JS re-reads the state.
        Emit(new Datagram{{}, -errno});
        if (errno != ENOBUFS) break;
        continue;
      }
      Emit(new Datagram{std::vector<uint8_t>(buf.begin(), buf.begin() + n), 0});
    }
  }

  void StopNative() override {
    stop.MarkStopped();
    stop.Signal();
    if (thread.joinable()) thread.join();
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

int OpenLinkSocket() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  int bufsz = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

// linkMonitorOpen(netns: string | undefined, cb(datagram: Buffer | null, error: number)) -> handle | -errno
Napi::Value LinkMonitorOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsFunction()) return Num(env, -EINVAL);
  const int fd = RunInNetns(OptString(info, 0), OpenLinkSocket);
  if (fd < 0) return Num(env, fd);
  auto* m = new LinkMonitor(env);
  if (!m->stop.valid()) {
    close(fd);
    delete m;
    return Num(env, -EMFILE);
  }
  m->fd = fd;
  m->SetCallback(env, info[1].As<Napi::Function>(), "macdemux.linkMonitor");
  m->RefCallback(env, false);  // a monitor does not keep the process alive
  m->thread = std::thread([m] { m->Run(); });
  return NodeHandle::Wrap(env, m);
}

// linkMonitorClose(handle) -> 0
Napi::Value LinkMonitorClose(const Napi::CallbackInfo& info) {
  LinkMonitor* m = Unwrap<LinkMonitor>(info, 0);
  if (!m) return Num(info.Env(), -EINVAL);
  m->Close();
  return Num(info.Env(), 0);
}

}  // namespace

void InitLinkMonitor(Napi::Env env, Napi::Object exports) {
  exports.Set("linkMonitorOpen", Napi::Function::New(env, LinkMonitorOpen, "linkMonitorOpen"));
  exports.Set("linkMonitorClose", Napi::Function::New(env, LinkMonitorClose, "linkMonitorClose"));
}
