// Unix-socket credentials and fd passing for the hypervisor fd hand-off (src/service/fd-handoff.ts):
// SO_PEERCRED names the connected launcher (uid/gid/pid as of connect(), set by the kernel:
// net/unix/af_unix.c), SCM_RIGHTS sends queue fds to it (the receiver gets its own fds on the
// same open files). Node's net module offers neither.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <vector>

#include "node/modules.h"
#include "node/napi_args.h"

// unixPeerCred(fd): [pid, uid, gid] or -errno.
static Napi::Value UnixPeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Num(env, -errno);
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Num(env, cred.pid));
  out.Set(1u, Num(env, cred.uid));
  out.Set(2u, Num(env, cred.gid));
  return out;
}

// unixSendFds(fd, fds: number[], data: Uint8Array): bytes sent or -errno. One sendmsg: the data
// (at least one byte: a message with only ancillary data is not delivered on a stream socket) and
// every fd in one SCM_RIGHTS control message (at most SCM_MAX_FD = 253, include/net/scm.h).
static Napi::Value UnixSendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  Napi::Array arr = info[1].As<Napi::Array>();
  Napi::Uint8Array data = info[2].As<Napi::Uint8Array>();
  std::vector<int> fds(arr.Length());
  if (fds.empty() || fds.size() > 253 || data.ByteLength() == 0) return Num(env, -EINVAL);
  for (uint32_t i = 0; i < arr.Length(); i++) fds[i] = arr.Get(i).As<Napi::Number>().Int32Value();
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()), 0);
  struct iovec iov = {data.Data(), data.ByteLength()};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return Num(env, n < 0 ? -errno : static_cast<double>(n));
}

void InitUnixFdPassing(Napi::Env env, Napi::Object exports) {
  exports.Set("unixPeerCred", Napi::Function::New(env, UnixPeerCred, "unixPeerCred"));
  exports.Set("unixSendFds", Napi::Function::New(env, UnixSendFds, "unixSendFds"));
}
