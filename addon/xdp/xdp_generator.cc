// Benchmark generator of XDP frames: BPF_PROG_RUN of gen.bpf.c with BPF_F_TEST_XDP_LIVE_FRAMES
// (net/bpf/test_run.c xdp_test_run_batch: each repetition is a real xdp_frame, redirected out of the
// device in the program's devmap, i.e. veth_xdp_xmit into the peer), the way xdp-trafficgen sends.
// xdpGenerate(netns, ifname, frame, count, batchSize) -> { ns } (elapsed) | { errno }: blocks the
// calling thread for the whole run (use it from a child process).
#include <linux/bpf.h>
#include <net/if.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/netns.h"
#include "node/modules.h"
#include "node/napi_args.h"
#include "xdp_skel.h"

namespace {

Napi::Value Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object res = Napi::Object::New(env);
  if (info.Length() < 4 || !info[2].IsTypedArray()) {
    res.Set("errno", Num(env, -EINVAL));
    return res;
  }
  Napi::TypedArray ta = info[2].As<Napi::TypedArray>();
  const uint8_t* frame = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  const uint32_t len = uint32_t(ta.ByteLength());
  const uint32_t count = uint32_t(OptInt(info, 3, 1));
  const uint32_t batch = uint32_t(OptInt(info, 4, 64));
  const std::string ifname = OptString(info, 1);
  int progFd = -1, mapFd = -1, err = 0;
  void* skel = mdx_gen_skel_load(&progFd, &mapFd, &err);
  if (!skel) {
    res.Set("errno", Num(env, err));
    return res;
  }
  uint64_t ns = 0;
  const int rc = RunInNetns(OptString(info, 0), [&]() -> int {
    const uint32_t ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) return -ENODEV;
    bpf_attr a;
    memset(&a, 0, sizeof(a));
    const uint32_t zero = 0;
    a.map_fd = uint32_t(mapFd);
    a.key = uint64_t(uintptr_t(&zero));
    a.value = uint64_t(uintptr_t(&ifindex));
    if (syscall(__NR_bpf, BPF_MAP_UPDATE_ELEM, &a, sizeof(a)) < 0) return -errno;
    memset(&a, 0, sizeof(a));
    a.test.prog_fd = uint32_t(progFd);
    a.test.data_in = uint64_t(uintptr_t(frame));
    a.test.data_size_in = len;
    a.test.repeat = count;
    a.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    a.test.batch_size = batch;
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (syscall(__NR_bpf, BPF_PROG_TEST_RUN, &a, sizeof(a)) < 0) return -errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ns = uint64_t(t1.tv_sec - t0.tv_sec) * 1000000000ull + uint64_t(t1.tv_nsec) - uint64_t(t0.tv_nsec);
    return 0;
  });
  mdx_gen_skel_destroy(skel);
  if (rc < 0) {
    res.Set("errno", Num(env, rc));
    return res;
  }
  res.Set("ns", Num(env, double(ns)));
  return res;
}

}  // namespace

void InitXdpGenerator(Napi::Env env, Napi::Object exports) {
  exports.Set("xdpGenerate", Napi::Function::New(env, Generate, "xdpGenerate"));
}
