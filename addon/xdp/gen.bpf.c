// SPDX-License-Identifier: GPL-2.0
// Benchmark generator (the way xdp-trafficgen works): run with BPF_PROG_RUN and
// BPF_F_TEST_XDP_LIVE_FRAMES, every repetition of the frame is redirected out of mdx_gen_out[0], so
// it reaches the veth peer as an XDP frame (veth_xdp_xmit), as from a NIC whose driver runs XDP.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} mdx_gen_out SEC(".maps");

SEC("xdp")
int mdx_gen(struct xdp_md* ctx) {
  (void)ctx;
  return bpf_redirect_map(&mdx_gen_out, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
