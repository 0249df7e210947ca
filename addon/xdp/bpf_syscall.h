// The bpf(2) syscall, as the addon's BPF loaders call it (no libbpf): -errno or the result.
#pragma once

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

// Linux 6.6 include/uapi/linux/bpf.h enum bpf_attach_type (older libc headers lack it).
#ifndef MDX_BPF_TCX_INGRESS
#define MDX_BPF_TCX_INGRESS 46
#endif

namespace mdx {

inline int Bpf(int cmd, bpf_attr* a) {
  const long rc = syscall(__NR_bpf, cmd, a, sizeof(*a));
  return rc < 0 ? -errno : int(rc);
}

}  // namespace mdx
