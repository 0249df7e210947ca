// Benchmark generator of XDP frames: BPF_PROG_RUN of gen.bpf.c with BPF_F_TEST_XDP_LIVE_FRAMES
// (net/bpf/test_run.c xdp_test_run_batch: each repetition is a real xdp_frame, redirected out of the
// device in the program's devmap, i.e. veth_xdp_xmit into the peer), the way xdp-trafficgen sends.
// xdpGenerate(netns, ifname, frame, count, batchSize, ratePps?) -> { ns, runNs } | { errno }: ns is the
// elapsed wall time, runNs the time the runs were on the CPU (the kernel's own measure, test.duration x
// repetitions: net/bpf/test_run.c bpf_test_timer stops its clock while the task is rescheduled), which
// includes what the redirect triggers in the same softirq (the forwarder's XDP, the sink's NAPI);
// blocks the calling thread for the whole run (use it from a child process). With ratePps the
// program paces itself (gen.bpf.c: one frame per 1/ratePps s, the repetitions in between dropped):
// the run is repeated in slices until count frames went out.
#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bpf_syscall.h"
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
  const double ratePps = info.Length() > 5 && info[5].IsNumber() ? info[5].As<Napi::Number>().DoubleValue() : 0;
  const std::string ifname = OptString(info, 1);
  int progFd = -1, mapFd = -1, paceFd = -1, err = 0;
  void* skel = mdx_gen_skel_load(&progFd, &mapFd, &paceFd, &err);
  if (!skel) {
    res.Set("errno", Num(env, err));
    return res;
  }
  uint64_t ns = 0;
  double runNs = 0;
  const int rc = RunInNetns(OptString(info, 0), [&]() -> int {
    const uint32_t ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) return -ENODEV;
    bpf_attr a;
    memset(&a, 0, sizeof(a));
    const uint32_t zero = 0;
    a.map_fd = uint32_t(mapFd);
    a.key = uint64_t(uintptr_t(&zero));
    a.value = uint64_t(uintptr_t(&ifindex));
    if (const int r = mdx::Bpf(BPF_MAP_UPDATE_ELEM, &a); r < 0) return r;
    struct Pace {  // gen.bpf.c struct mdx_gen_pace
      uint64_t interval, next, sent, limit;
    } pace{ratePps > 0 ? uint64_t(1e9 / ratePps) : 0, 0, 0, count};
    auto pace_rw = [&](int cmd) -> int {
      memset(&a, 0, sizeof(a));
      a.map_fd = uint32_t(paceFd);
      a.key = uint64_t(uintptr_t(&zero));
      a.value = uint64_t(uintptr_t(&pace));
      return std::min(mdx::Bpf(cmd, &a), 0);
    };
    if (const int r = pace_rw(BPF_MAP_UPDATE_ELEM); r < 0) return r;
    auto run = [&](uint32_t n) -> int {
      memset(&a, 0, sizeof(a));
      a.test.prog_fd = uint32_t(progFd);
      a.test.data_in = uint64_t(uintptr_t(frame));
      a.test.data_size_in = len;
      a.test.repeat = n;
      a.test.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
      a.test.batch_size = batch;
      if (const int r = mdx::Bpf(BPF_PROG_TEST_RUN, &a); r < 0) return r;
      runNs += double(a.test.duration) * n;  // duration: mean ns per repetition
      return 0;
    };
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ratePps <= 0) {
      const int r = run(count);
      if (r < 0) return r;
    } else {
      // Slices of ~2^20 repetitions (each call sets up its page pool: net/bpf/test_run.c
      // xdp_test_run_setup), until the program has sent them all.
      do {
        int r = run(1u << 20);
        if (r < 0) return r;
        if ((r = pace_rw(BPF_MAP_LOOKUP_ELEM)) < 0) return r;
      } while (pace.sent < count);
    }
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
  res.Set("runNs", Num(env, runNs));
  return res;
}

}  // namespace

void InitXdpGenerator(Napi::Env env, Napi::Object exports) {
  exports.Set("xdpGenerate", Napi::Function::New(env, Generate, "xdpGenerate"));
}
