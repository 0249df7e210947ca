// The tcx probe: load a two-instruction SCHED_CLS program (r0 = TC_ACT_OK; exit), which needs
// CAP_BPF and CAP_NET_ADMIN (EPERM otherwise), and ask for a tcx ingress link on ifindex 0.
// kernel/bpf/syscall.c link_create checks the attach type against the program type first: a kernel
// without tcx (before Linux 6.6) refuses BPF_TCX_INGRESS for a SCHED_CLS program with EINVAL; one
// with tcx reaches kernel/bpf/tcx.c tcx_link_attach, whose device lookup fails with ENODEV. So
// ENODEV means supported, and nothing was attached anywhere.
#include "tcx_probe.h"

#include <cstdint>
#include <cstring>

#include "bpf_syscall.h"

namespace mdx {

int ProbeTcx(const char** step) {
  const bpf_insn prog[2] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = 0 (TC_ACT_OK)
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  static const char kLicense[] = "GPL";
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  a.insns = uint64_t(uintptr_t(prog));
  a.insn_cnt = 2;
  a.license = uint64_t(uintptr_t(kLicense));
  const int fd = Bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    *step = "load";
    return fd;
  }
  memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = uint32_t(fd);
  a.link_create.target_ifindex = 0;
  a.link_create.attach_type = bpf_attach_type(MDX_BPF_TCX_INGRESS);
  const int rc = Bpf(BPF_LINK_CREATE, &a);
  close(fd);
  if (rc >= 0) {  // no device has ifindex 0: not expected, but a link is a link
    close(rc);
    return 0;
  }
  if (rc == -ENODEV) return 0;
  *step = "link";
  return rc;
}

}  // namespace mdx
