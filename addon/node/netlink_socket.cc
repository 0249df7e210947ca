// A netlink socket for the TypeScript netlink code (NETLINK_ROUTE for rtnetlink, NETLINK_GENERIC
// for genetlink families such as "ethtool"): open (optionally inside a network namespace), send
// one request, receive one datagram. Message encoding and decoding live in src/netlink/; this
// file only moves bytes.
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node/modules.h"
#include "node/napi_args.h"
#include "io/netns.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

static int OpenNetlinkSocket(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  int one = 1;
  // Extended ack: the kernel's error text ("Invalid number of transmit queues", ...).
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  int bufsz = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

// Open the socket inside a namespace on the calling thread: enter it, create the socket (which
// keeps that namespace for its life), and go back. setns(CLONE_NEWNET) changes only the calling
// thread (nsproxy is per task; kernel/nsproxy.c) and this runs synchronously, so no other code on
// this thread ever runs in the other namespace. io/netns.cc's RunInNetns does the same on a fresh
// thread, which costs a thread create + join per socket: most of a small request's cost when `up`
// makes thousands of requests in thousands of namespaces.
static int OpenNetlinkSocketIn(const std::string& ns, int protocol) {
  if (ns.empty()) return OpenNetlinkSocket(protocol);
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return -errno;
  int target = open(ResolveNetnsPath(ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = -errno;
    close(home);
    return e;
  }
  int fd;
  if (setns(target, CLONE_NEWNET) != 0) {
    fd = -errno;
  } else {
    fd = OpenNetlinkSocket(protocol);
    if (setns(home, CLONE_NEWNET) != 0) {
      // Cannot happen (the thread's own namespace, entered with the capability just used); if it
      // did, every later socket of this thread would silently live in the wrong namespace.
      perror("macdemux: setns back to the thread's own network namespace");
      abort();
    }
  }
  close(target);
  close(home);
  return fd;
}

// nlOpen(netns?: string, protocol?: number): fd or -errno. protocol: NETLINK_ROUTE (default) or
// NETLINK_GENERIC; anything else is -EPROTONOSUPPORT.
static Napi::Value NlOpen(const Napi::CallbackInfo& info) {
  int protocol = static_cast<int>(OptInt(info, 1, NETLINK_ROUTE));
  if (protocol != NETLINK_ROUTE && protocol != NETLINK_GENERIC) return Num(info.Env(), -EPROTONOSUPPORT);
  return Num(info.Env(), OpenNetlinkSocketIn(OptString(info, 0), protocol));
}

// nlSend(fd, buf: Uint8Array): bytes sent or -errno.
static Napi::Value NlSend(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n = sendto(fd, buf.Data(), buf.ByteLength(), 0, reinterpret_cast<sockaddr*>(&kernel),
                     sizeof kernel);
  return Num(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

// nlRecv(fd, buf: Uint8Array, timeoutMs): bytes received, -ETIMEDOUT, or -errno.
static Napi::Value NlRecv(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  int timeoutMs = static_cast<int>(OptInt(info, 2, 5000));
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Num(info.Env(), -errno);
  if (r == 0) return Num(info.Env(), -ETIMEDOUT);
  ssize_t n;
  do {
    n = recv(fd, buf.Data(), buf.ByteLength(), 0);
  } while (n < 0 && errno == EINTR);
  return Num(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

void InitNetlinkSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("nlOpen", Napi::Function::New(env, NlOpen, "nlOpen"));
  exports.Set("nlSend", Napi::Function::New(env, NlSend, "nlSend"));
  exports.Set("nlRecv", Napi::Function::New(env, NlRecv, "nlRecv"));
}
