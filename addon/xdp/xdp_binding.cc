// JS exports of the XDP program (types: src/dataplane/xdp-native.ts). Returns -errno or counts;
// the last error text of a handle is read with xdpLastError.
#include <net/if.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "node/modules.h"
#include "node/napi_args.h"
#include "io/netns.h"
#include "io/xsk_socket.h"
#include "dataplane/port_table.h"
#include "tcx_probe.h"
#include "xdp_program.h"

using namespace mdx;

namespace {

struct XdpBox {
  std::unique_ptr<XdpProgram> prog;
  std::string lastError;
  std::vector<std::unique_ptr<XskSocket>> xsks;  // sockets registered with xdpBindXsk
};

XdpBox* BoxArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return nullptr;
  XdpBox* b = info[0].As<Napi::External<XdpBox>>().Data();
  return b->prog ? b : nullptr;
}

bool Bytes(const Napi::Value& v, uint8_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) return false;
  *data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  *len = ta.ElementLength();
  return true;
}

// xdpLoad() -> { handle } | { errno, message }
Napi::Value Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object res = Napi::Object::New(env);
  std::unique_ptr<XdpProgram> p;
  std::string err;
  const int rc = XdpProgram::Load(&p, &err);
  if (rc < 0) {
    res.Set("errno", Num(env, rc));
    res.Set("message", err);
    return res;
  }
  auto* box = new XdpBox{std::move(p), {}, {}};
  res.Set("handle", Napi::External<XdpBox>::New(env, box, [](Napi::Env, XdpBox* b) { delete b; }));
  return res;
}

Napi::Value LastError(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return Napi::String::New(info.Env(), "");
  return Napi::String::New(info.Env(), info[0].As<Napi::External<XdpBox>>().Data()->lastError);
}

// xdpSync(h, netns, tableBlob, kernelIfindexBySlot: Uint32Array, learning, maxSlots) -> 0 | -errno
Napi::Value Sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  XdpBox* b = BoxArg(info);
  uint8_t* blob;
  size_t len;
  if (!b || info.Length() < 6 || !Bytes(info[2], &blob, &len) || !info[3].IsTypedArray()) return Num(env, -EINVAL);
  Napi::TypedArray ta = info[3].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint32_array) return Num(env, -EINVAL);
  const uint32_t* ifx = reinterpret_cast<const uint32_t*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  std::vector<uint32_t> kernelIfindex(ifx, ifx + ta.ElementLength());
  std::unique_ptr<PortTable> t;
  int rc = PortTable::Build(blob, len, uint32_t(OptInt(info, 5, 8192)), &t, &b->lastError);
  if (rc < 0) return Num(env, rc);
  const bool learning = info[4].ToBoolean().Value();
  rc = RunInNetns(OptString(info, 1), [&] { return b->prog->Sync(*t, kernelIfindex, learning, &b->lastError); });
  return Num(env, rc);
}

// xdpAttach(h, netns, ifname, generic) -> 0 | -errno
Napi::Value Attach(const Napi::CallbackInfo& info) {
  XdpBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  const std::string ifname = OptString(info, 2);
  const bool generic = info.Length() > 3 && info[3].ToBoolean().Value();
  const int rc = RunInNetns(OptString(info, 1), [&] {
    const int ifindex = int(if_nametoindex(ifname.c_str()));
    if (ifindex == 0) {
      b->lastError = "no device " + ifname;
      return -ENODEV;
    }
    return b->prog->Attach(ifindex, generic, &b->lastError);
  });
  return Num(info.Env(), rc);
}

// xdpBindXsk(h, netns, ifname, queue) -> 0 | -errno: an AF_XDP socket on ifname's RX queue, registered
// in the program's xskmap and kept open with the program (tests: what the program sends to userspace
// then goes into the socket).
Napi::Value BindXsk(const Napi::CallbackInfo& info) {
  XdpBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  XskOptions o;
  o.netns = OptString(info, 1);
  o.ifname = OptString(info, 2);
  o.queue = uint32_t(OptInt(info, 3, 0));
  std::unique_ptr<XskSocket> x;
  const char* step = "open";
  int rc = XskSocket::Open(o, &x, &step);
  if (rc < 0) {
    b->lastError = std::string("AF_XDP socket: ") + step;
    return Num(info.Env(), rc);
  }
  if ((rc = b->prog->SetXsk(o.queue, x->fd())) < 0) {
    b->lastError = "xskmap update";
    return Num(info.Env(), rc);
  }
  b->xsks.push_back(std::move(x));
  return Num(info.Env(), 0);
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  XdpBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  b->prog->Detach();
  return Num(info.Env(), 0);
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  XdpBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  b->xsks.clear();
  b->prog.reset();
  return Num(info.Env(), 0);
}

// xdpTestRun(h, frame, out: Uint8Array) -> action (XDP_*) with out's first bytes = the frame as left,
// and the length written to out as { action, length }; -errno as { errno }.
Napi::Value TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object res = Napi::Object::New(env);
  XdpBox* b = BoxArg(info);
  uint8_t *f, *out;
  size_t len, outLen;
  if (!b || info.Length() < 3 || !Bytes(info[1], &f, &len) || !Bytes(info[2], &out, &outLen)) {
    res.Set("errno", Num(env, -EINVAL));
    return res;
  }
  uint32_t action = 0;
  std::vector<uint8_t> buf;
  const int rc = b->prog->TestRun(f, uint32_t(len), &action, &buf);
  if (rc < 0) {
    res.Set("errno", Num(env, rc));
    return res;
  }
  const size_t n = buf.size() < outLen ? buf.size() : outLen;
  memcpy(out, buf.data(), n);
  res.Set("action", Num(env, action));
  res.Set("length", Num(env, double(n)));
  return res;
}

// xdpStats(h) -> number[] (MDX_ST_COUNT words summed over CPUs) | -errno
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  XdpBox* b = BoxArg(info);
  if (!b) return Num(env, -EBADF);
  XdpStats s;
  const int rc = b->prog->ReadStats(&s);
  if (rc < 0) return Num(env, rc);
  Napi::Array a = Napi::Array::New(env, MDX_ST_COUNT);
  for (uint32_t i = 0; i < MDX_ST_COUNT; i++) a.Set(i, Num(env, double(s.words[i])));
  return a;
}

// xdpSlotTx(h, slot) / xdpFloodTx(h, map) -> [packets, bytes] | -errno
template <bool kFlood>
Napi::Value Tx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  XdpBox* b = BoxArg(info);
  if (!b) return Num(env, -EBADF);
  uint64_t p = 0, by = 0;
  const uint32_t k = uint32_t(OptInt(info, 1, 0));
  const int rc = kFlood ? b->prog->ReadFloodTx(k, &p, &by) : b->prog->ReadSlotTx(k, &p, &by);
  if (rc < 0) return Num(env, rc);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(uint32_t(0), Num(env, double(p)));
  a.Set(uint32_t(1), Num(env, double(by)));
  return a;
}

Napi::Value FloodMapOf(const Napi::CallbackInfo& info) {
  XdpBox* b = BoxArg(info);
  if (!b) return Num(info.Env(), -EBADF);
  return Num(info.Env(), b->prog->FloodMapOf(uint16_t(OptInt(info, 1, 0))));
}

// xdpProbeTcx(detail?) -> 0 (tcx links usable) | -errno (detail.step: "load" or "link")
Napi::Value ProbeTcxBinding(const Napi::CallbackInfo& info) {
  const char* step = "";
  const int rc = ProbeTcx(&step);
  if (rc < 0) SetErrorDetail(info, 0, step);
  return Num(info.Env(), rc);
}

}  // namespace

void InitXdp(Napi::Env env, Napi::Object exports) {
  exports.Set("xdpLoad", Napi::Function::New(env, Load, "xdpLoad"));
  exports.Set("xdpLastError", Napi::Function::New(env, LastError, "xdpLastError"));
  exports.Set("xdpSync", Napi::Function::New(env, Sync, "xdpSync"));
  exports.Set("xdpAttach", Napi::Function::New(env, Attach, "xdpAttach"));
  exports.Set("xdpBindXsk", Napi::Function::New(env, BindXsk, "xdpBindXsk"));
  exports.Set("xdpDetach", Napi::Function::New(env, Detach, "xdpDetach"));
  exports.Set("xdpDestroy", Napi::Function::New(env, Destroy, "xdpDestroy"));
  exports.Set("xdpTestRun", Napi::Function::New(env, TestRun, "xdpTestRun"));
  exports.Set("xdpStats", Napi::Function::New(env, Stats, "xdpStats"));
  exports.Set("xdpSlotTx", Napi::Function::New(env, Tx<false>, "xdpSlotTx"));
  exports.Set("xdpFloodTx", Napi::Function::New(env, Tx<true>, "xdpFloodTx"));
  exports.Set("xdpFloodMapOf", Napi::Function::New(env, FloodMapOf, "xdpFloodMapOf"));
  exports.Set("xdpProbeTcx", Napi::Function::New(env, ProbeTcxBinding, "xdpProbeTcx"));
}
