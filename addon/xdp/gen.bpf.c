// SPDX-License-Identifier: GPL-2.0
// Benchmark generator (the way xdp-trafficgen works): run with BPF_PROG_RUN and
// BPF_F_TEST_XDP_LIVE_FRAMES, a repetition of the frame is redirected out of mdx_gen_out[0], so
// it reaches the veth peer as an XDP frame (veth_xdp_xmit), as from a NIC whose driver runs XDP.
// Paced mode (mdx_gen_pace.interval > 0): a repetition is sent only once its due time has come
// (one every interval ns, by bpf_ktime_get_ns), the others are dropped (recycled at once), and none
// after `limit` were sent: the run spins until the next frame is due, so frames leave evenly spaced
// instead of in bursts.
// A frame that carries the test payload (addon/tools/generator.h TestPayload: magic "MDX1" right
// after the Ethernet header) gets a sequence number and its CLOCK_MONOTONIC send time written, so
// the native sink measures one-way latency.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} mdx_gen_out SEC(".maps");

struct mdx_gen_pace {
  __u64 interval;  // ns between frames; 0 = every repetition
  __u64 next;      // due time of the next frame
  __u64 sent;      // frames redirected so far
  __u64 limit;     // stop sending after this many (paced mode)
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mdx_gen_pace);
} mdx_gen_pace SEC(".maps");

static __always_inline void put_be64(__u8* p, __u64 v) {
#pragma unroll
  for (int i = 7; i >= 0; i--) {
    p[i] = (__u8)v;
    v >>= 8;
  }
}

SEC("xdp")
int mdx_gen(struct xdp_md* ctx) {
  __u8* data = (__u8*)(long)ctx->data;
  __u8* end = (__u8*)(long)ctx->data_end;
  __u32 zero = 0;
  struct mdx_gen_pace* p = bpf_map_lookup_elem(&mdx_gen_pace, &zero);
  if (!p) return XDP_ABORTED;
  // one generator on one CPU: no atomics needed
  if (p->interval) {
    if (p->sent >= p->limit) return XDP_DROP;
    const __u64 now = bpf_ktime_get_ns();
    if (now < p->next) return XDP_DROP;
    // Late (the CPU ran something else): catch up, but by at most 64 frames at line rate; further
    // behind, the schedule restarts from now.
    p->next = (now - p->next > 64 * p->interval ? now : p->next) + p->interval;
  }
  if (data + 14 + 24 <= end && data[14] == 'M' && data[15] == 'D' && data[16] == 'X' && data[17] == '1') {
    put_be64(data + 14 + 8, p->sent);
    put_be64(data + 14 + 16, bpf_ktime_get_ns());
  }
  p->sent++;
  return bpf_redirect_map(&mdx_gen_out, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
