// SPDX-License-Identifier: GPL-2.0
// The XDP fast path of the uplink: the forwarding decision of addon/demux.h (Decide for a frame
// received on the lower device, drivers/net/macvlan.c macvlan_handle_frame) for the cases the kernel
// can finish on its own, from maps the engine keeps in sync with its port table:
//   - unicast to a port on a kernel device: redirect through the mdx_tx devmap;
//   - broadcast/multicast from outside to a VLAN whose members are all kernel devices: one devmap per
//     VLAN domain with BPF_F_BROADCAST (net/core/filter.c, dev_map_enqueue_multi clones per entry);
//   - drops with the engine's reasons.
// Everything else goes to userspace, where the engine decides with the same Decide(): an AF_XDP
// socket when one is bound to the RX queue (mdx_xsks), otherwise XDP_PASS, which hands the frame to
// the stack and so to the engine's AF_PACKET ring on the uplink. That covers JS and tap ports, the
// source mode, frames reflected back from our own ports, declared multicast groups, learning-mode
// misses.
//
// Built by scripts/build-xdp.sh into demux.skel.h (bpftool gen skeleton -L), which is committed.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdp_maps.h"

#define MODE_PRIVATE 1
#define MODE_VEPA 2
#define MODE_BRIDGE 4
#define MODE_PASSTHRU 8
#define MODE_SOURCE 16

#define DROP_RUNT 1
#define DROP_OVERSIZED 2
#define DROP_MALFORMED 3
#define DROP_UNKNOWN_UNICAST 4
#define DROP_UNKNOWN_VLAN 5
#define DROP_NO_RECEIVER 6
#define DROP_PAUSE 7

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MDX_XDP_MAX_PORTS);
  __type(key, __u64);
  __type(value, struct mdx_xdp_port);
} mdx_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, MDX_XDP_UCAST_SIZE);
  __type(key, __u32);
  __type(value, struct mdx_xdp_ucast);
} mdx_ucast SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MDX_XDP_MAX_SOURCES);
  __type(key, __u64);
  __type(value, __u32);
} mdx_sources SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, struct mdx_xdp_domain);
} mdx_domains SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mdx_xdp_config);
} mdx_config SEC(".maps");

// slot -> ifindex of the port's kernel device. An array devmap (slots are dense small integers):
// its lookup in bpf_redirect_map is an index (kernel/bpf/devmap.c __dev_map_lookup_elem), where the
// hash variant hashes and walks a bucket per frame.
struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP);
  __uint(max_entries, MDX_XDP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, __u32);
} mdx_tx SEC(".maps");

#define FLOOD_MAP(n)                                \
  struct {                                          \
    __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);         \
    __uint(max_entries, MDX_XDP_FLOOD_PORTS);       \
    __type(key, __u32);                             \
    __type(value, __u32);                           \
  } mdx_flood##n SEC(".maps")
FLOOD_MAP(0);
FLOOD_MAP(1);
FLOOD_MAP(2);
FLOOD_MAP(3);
FLOOD_MAP(4);
FLOOD_MAP(5);
FLOOD_MAP(6);
FLOOD_MAP(7);
FLOOD_MAP(8);
FLOOD_MAP(9);
FLOOD_MAP(10);
FLOOD_MAP(11);
FLOOD_MAP(12);
FLOOD_MAP(13);
FLOOD_MAP(14);
FLOOD_MAP(15);

struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, MDX_XDP_MAX_QUEUES);
  __type(key, __u32);
  __type(value, __u32);
} mdx_xsks SEC(".maps");

// one entry: all counters of a CPU in one value (one lookup per frame)
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mdx_xdp_stats);
} mdx_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MDX_XDP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct mdx_xdp_tx);
} mdx_slot_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MDX_XDP_FLOOD_MAPS);
  __type(key, __u32);
  __type(value, struct mdx_xdp_tx);
} mdx_flood_stats SEC(".maps");

static __always_inline __u64* stats(void) {
  __u32 zero = 0;
  struct mdx_xdp_stats* s = bpf_map_lookup_elem(&mdx_stats, &zero);
  return s ? s->w : 0;
}

// A frame the program finished (redirected or dropped): counted as received by the uplink.
static __always_inline void count_rx(__u64* st, __u32 idx, __u32 len) {
  if (!st) return;
  st[idx & (MDX_ST_COUNT - 1)]++;
  st[MDX_ST_RX_FRAMES]++;
  st[MDX_ST_RX_BYTES] += len;
}

// The XDP path below takes the per-CPU counters once per frame (st, from stats(); 0 only if the
// lookup failed) and passes them down: one lookup for every counter it bumps.
static __always_inline int drop(__u64* st, __u32 reason, __u32 len) {
  count_rx(st, MDX_ST_DROPS + reason, len);
  return XDP_DROP;
}

// A frame in more than one buffer (multi-buffer XDP: jumbo MTU): the linear part ends before the frame.
static __always_inline int multi_buffer(struct xdp_md* ctx) {
  return bpf_xdp_get_buff_len(ctx) != (__u64)(ctx->data_end - ctx->data);
}

static __always_inline int to_user(struct xdp_md* ctx, __u64* st) {
  // The AF_XDP sockets are bound without XDP_USE_SG (one chunk per frame): a multi-buffer frame goes
  // up through the stack to the AF_PACKET ring instead.
  int act = multi_buffer(ctx) ? XDP_PASS : bpf_redirect_map(&mdx_xsks, ctx->rx_queue_index, XDP_PASS);
  if (st) {
    st[MDX_ST_TO_USER]++;
    if (act == XDP_REDIRECT) st[MDX_ST_TO_XSK]++;
  }
  return act;
}

static __always_inline void count_tx(void* map, __u32 idx, __u32 len) {
  struct mdx_xdp_tx* t = bpf_map_lookup_elem(map, &idx);
  if (t) {
    t->packets++;
    t->bytes += len;
  }
}

// Ports see their VLAN's frames untagged (engine.cc Process): drop the inline 802.1Q tag.
static __always_inline int pop_tag(struct xdp_md* ctx) {
  void* data = (void*)(long)ctx->data;
  void* end = (void*)(long)ctx->data_end;
  if (data + 16 > end) return -1;
  __u32 a = ((__u32*)data)[0], b = ((__u32*)data)[1], c = ((__u32*)data)[2];
  if (bpf_xdp_adjust_head(ctx, 4)) return -1;
  data = (void*)(long)ctx->data;
  end = (void*)(long)ctx->data_end;
  if (data + 12 > end) return -1;
  ((__u32*)data)[0] = a;
  ((__u32*)data)[1] = b;
  ((__u32*)data)[2] = c;
  return 0;
}

// The 48-bit MAC at p as a number (most significant byte first), from bytes: also for a stack copy
// (the tc programs' headers), where the verifier refuses misaligned wider loads.
static __always_inline __u64 mac48(const __u8* p) {
  return ((__u64)p[0] << 40) | ((__u64)p[1] << 32) | ((__u64)p[2] << 24) | ((__u64)p[3] << 16) |
         ((__u64)p[4] << 8) | (__u64)p[5];
}

// The same from a packet pointer, in two loads: packet data may be misaligned (x86 and the other
// architectures with efficient unaligned access allow it: kernel/bpf/verifier.c check_pkt_ptr_alignment).
static __always_inline __u64 pkt_mac48(const __u8* p) {
  return ((__u64)bpf_ntohs(*(const __u16*)p) << 32) | (__u64)bpf_ntohl(*(const __u32*)(p + 2));
}

// mdx_ports[key] through its array copy mdx_ucast (xdp_maps.h): inlined lookups, no call unless every
// probe is taken by another key.
static __always_inline const struct mdx_xdp_port* port_of(__u64 key) {
  const __u32 h = mdx_ucast_hash(key);
#pragma unroll
  for (__u32 i = 0; i < MDX_XDP_UCAST_PROBES; i++) {
    const __u32 idx = (h + i) & (MDX_XDP_UCAST_SIZE - 1);
    const struct mdx_xdp_ucast* e = bpf_map_lookup_elem(&mdx_ucast, &idx);
    if (!e || !e->used) return 0;
    if (e->key == key) return &e->port;
  }
  return bpf_map_lookup_elem(&mdx_ports, &key);
}

static __always_inline int to_port(struct xdp_md* ctx, __u64* st, const struct mdx_xdp_port* p, int tagged,
                                   __u32 len) {
  const __u32 slot = p->slot;
  if (p->ifindex == 0 || slot >= MDX_XDP_MAX_SLOTS) return to_user(ctx, st);
  if (tagged && pop_tag(ctx)) return to_user(ctx, st);
  int act = bpf_redirect_map(&mdx_tx, slot, 0);
  if (act != XDP_REDIRECT) return to_user(ctx, st);  // not in mdx_tx (a sync in progress): let the engine decide
  count_rx(st, MDX_ST_FORWARDED, len);
  count_tx(&mdx_slot_stats, slot, tagged ? len - 4 : len);
  return act;
}

#define FLOOD_CASE(n) \
  case n:             \
    act = bpf_redirect_map(&mdx_flood##n, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS); \
    break

static __always_inline int flood(struct xdp_md* ctx, __u64* st, __u32 map, int tagged, __u32 len) {
  // A broadcast redirect clones the frame per member (xdpf_clone), which copies one buffer only.
  if (map >= MDX_XDP_FLOOD_MAPS || multi_buffer(ctx)) return to_user(ctx, st);
  if (tagged && pop_tag(ctx)) return to_user(ctx, st);
  int act = XDP_ABORTED;
  switch (map) {
    FLOOD_CASE(0); FLOOD_CASE(1); FLOOD_CASE(2); FLOOD_CASE(3);
    FLOOD_CASE(4); FLOOD_CASE(5); FLOOD_CASE(6); FLOOD_CASE(7);
    FLOOD_CASE(8); FLOOD_CASE(9); FLOOD_CASE(10); FLOOD_CASE(11);
    FLOOD_CASE(12); FLOOD_CASE(13); FLOOD_CASE(14); FLOOD_CASE(15);
  }
  if (act != XDP_REDIRECT) return to_user(ctx, st);
  count_rx(st, MDX_ST_FORWARDED, len);
  count_tx(&mdx_flood_stats, map, tagged ? len - 4 : len);
  return act;
}

// A broadcast/multicast from outside (macvlan_handle_frame's multicast branch; skey = (vlan, source)).
static __always_inline int from_outside_mc(struct xdp_md* ctx, __u64* st, const struct mdx_xdp_domain* dom,
                                           __u64 skey, __u32 et, int tagged, __u32 len) {
  const __u8* data = (const __u8*)(long)ctx->data;
  const __u8* end = (const __u8*)(long)ctx->data_end;
  if (data + 6 > end) return to_user(ctx, st);  // cannot happen: the caller checked 14 bytes
  const struct mdx_xdp_port* s = bpf_map_lookup_elem(&mdx_ports, &skey);
  if (s) {
    // reflected frame of a private/passthru/source port: back to it only
    if (s->mode != MODE_VEPA && s->mode != MODE_BRIDGE) return to_port(ctx, st, s, tagged, len);
    return to_user(ctx, st);  // flood set excluding our own sender: the engine's Broadcast()
  }
  if (et == 0x8808) return drop(st, DROP_PAUSE, len);
  const int bcast = data[0] == 0xff && data[1] == 0xff && data[2] == 0xff && data[3] == 0xff &&
                    data[4] == 0xff && data[5] == 0xff;
  if (!bcast && (dom->flags & MDX_DOM_MC_DECLARED)) return to_user(ctx, st);
  if (dom->floodCount == 0) return drop(st, DROP_NO_RECEIVER, len);
  if (dom->flags & MDX_DOM_FLOOD_USER) return to_user(ctx, st);
  return flood(ctx, st, dom->floodMap, tagged, len);
}

// "xdp.frags": loaded with BPF_F_XDP_HAS_FRAGS, so a device whose MTU needs more than one page per
// frame (jumbo frames) accepts the program (drivers/net/veth.c veth_xdp_set refuses a program without
// it: ERANGE). The headers are in the linear part; the length is the whole frame's.
//
// Per-frame cost (docs/dataplane.md, "XDP: cost per frame"): known unicast takes inlined array
// lookups only (config, VLAN domain, mdx_ucast, the per-CPU counters: one lookup for all global ones,
// one for the slot's) and two calls, bpf_xdp_get_buff_len and the devmap redirect; the source key is
// built only when source-mode MACs exist or for a multicast.
SEC("xdp.frags")
int mdx_demux(struct xdp_md* ctx) {
  const __u8* data = (const __u8*)(long)ctx->data;
  const __u8* end = (const __u8*)(long)ctx->data_end;
  __u32 zero = 0;
  const struct mdx_xdp_config* cfg = bpf_map_lookup_elem(&mdx_config, &zero);
  if (!cfg) return XDP_PASS;
  __u64* st = stats();
  if (!cfg->enabled) return to_user(ctx, st);
  const __u32 len = (__u32)bpf_xdp_get_buff_len(ctx);

  // ParseFrame (addon/frame_parse.h) with parseTag = true and no TCI metadata.
  if (data + 14 > end) return drop(st, DROP_RUNT, len);
  __u32 et = bpf_ntohs(*(const __u16*)(data + 12));
  __u32 vlan = 0;
  int tagged = 0;
  __u32 untagged = len;
  if (__builtin_expect(et == ETH_P_8021Q || et == ETH_P_8021AD, 0)) {
    if (data + 18 > end) return drop(st, DROP_RUNT, len);
    vlan = bpf_ntohs(*(const __u16*)(data + 14)) & 0x0fff;
    et = bpf_ntohs(*(const __u16*)(data + 16));
    tagged = 1;
    untagged = len - 4;
  }
  if (untagged > cfg->maxFrameLen) return drop(st, DROP_OVERSIZED, len);
  if (vlan == 0x0fff) return drop(st, DROP_MALFORMED, len);
  if (data[6] & 1) return drop(st, DROP_MALFORMED, len);

  // Decide, ingress = uplink (demux.h LowerDeviceRx).
  const struct mdx_xdp_domain* dom = bpf_map_lookup_elem(&mdx_domains, &vlan);
  if (!dom || !(dom->flags & MDX_DOM_PRESENT)) return drop(st, DROP_UNKNOWN_VLAN, len);
  const __u64 vkey = (__u64)vlan << 48;
  const int mc = data[0] & 1;
  if (__builtin_expect(mc || cfg->hasSources, 0)) {
    const __u64 skey = vkey | pkt_mac48(data + 6);
    // macvlan_forward_source: source-mode ports listing this sender are served by userspace
    if (cfg->hasSources && bpf_map_lookup_elem(&mdx_sources, &skey)) return to_user(ctx, st);
    if (mc) return from_outside_mc(ctx, st, dom, skey, et, tagged, len);
  }

  const struct mdx_xdp_port* t;
  if (__builtin_expect(dom->flags & MDX_DOM_PASSTHRU, 0)) {
    t = &dom->passthru;
  } else {
    t = port_of(vkey | pkt_mac48(data));
    if (!t) {
      if (cfg->learning) return to_user(ctx, st);  // the engine's FDB, or its unknown-unicast flood
      return drop(st, DROP_UNKNOWN_UNICAST, len);
    }
  }
  if (t->mode == MODE_SOURCE) return drop(st, DROP_UNKNOWN_UNICAST, len);
  return to_port(ctx, st, t, tagged, len);
}

char LICENSE[] SEC("license") = "GPL";

// ---- tc fast path (backend 'tc', addon/dataplane/engine_xdp.cc) ----
// On veth an XDP program sees every skb linearised into a page and loses its GSO and checksum state;
// a tc ingress program (tcx) sees the skb itself, and bpf_redirect to a port device keeps it whole
// (GSO super-frames, CHECKSUM_PARTIAL). It only ever redirects known unicast to a port on a kernel
// device; every other frame (and every drop) is the engine's, as with the packet backend.
//
// The ordering trap: the engine's uplink sockets are ETH_P_ALL taps (ptype_all), which
// __netif_receive_skb_core (net/core/dev.c) runs BEFORE tc ingress, so they would get a copy of
// every frame tc redirects. Their socket filter, mdx_uplink_filter, drops exactly what will be
// redirected. The two programs must never disagree on a frame, also while the engine rewrites the
// maps (a sync is several updates; each program's lookups could see different states). So the
// decision is taken once, by the filter, which runs first: it stores its verdict per CPU
// (mdx_tc_verdicts), and the tc program, which runs next for the same skb on the same CPU (one
// softirq pass, no other frame in between), executes that verdict instead of looking up again. A frame
// in flight during a table swap thus goes to the engine or to its port once, never both and never
// neither. The tc program decides on its own only when no filter verdict matches the frame (no
// engine socket saw it: then it has no userspace copy either).

#define MDX_TC_ACT_OK 0
#define MDX_TC_ACT_REDIRECT 7
#define MDX_PACKET_OUTGOING 4

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mdx_tc_verdict);
} mdx_tc_verdicts SEC(".maps");

// The (vlan, destination) key of an skb at the uplink (headers from the MAC header: tc ingress pushes
// back to it, net/core/dev.c tcx_run; af_packet does before run_filter). The tag is already out of
// the frame (skb_vlan_untag runs before both). Returns -1 for a frame the engine must see anyway.
static __always_inline int skb_key(struct __sk_buff* skb, __u8* hdr, __u64* key) {
  if (bpf_skb_load_bytes(skb, 0, hdr, 12)) return -1;
  if (skb->protocol == bpf_htons(ETH_P_8021Q) || skb->protocol == bpf_htons(ETH_P_8021AD)) return -1;
  const __u32 vlan = skb->vlan_present ? (skb->vlan_tci & 0x0fff) : 0;
  if (vlan == 0x0fff) return -1;
  *key = ((__u64)vlan << 48) | mac48(hdr);
  return 0;
}

// Decide for the skb, as mdx_demux does for known unicast; 1 with *out = the port to redirect to.
// Only the redirect case is decided here: misses, floods, drops, source mode go to the engine.
static __always_inline int skb_fast_target(struct __sk_buff* skb, const __u8* hdr, __u64 key,
                                           struct mdx_xdp_port* out) {
  __u32 zero = 0;
  const struct mdx_xdp_config* cfg = bpf_map_lookup_elem(&mdx_config, &zero);
  if (!cfg || !cfg->enabled) return 0;
  // an oversized frame is the engine's to drop; a GSO super-frame is not one (its segments fit)
  if (skb->gso_size == 0 && skb->len > cfg->maxFrameLen) return 0;
  if ((hdr[0] & 1) || (hdr[6] & 1)) return 0;
  __u32 vlan = (__u32)(key >> 48);
  const struct mdx_xdp_domain* dom = bpf_map_lookup_elem(&mdx_domains, &vlan);
  if (!dom || !(dom->flags & MDX_DOM_PRESENT)) return 0;
  if (cfg->hasSources) {
    __u64 skey = ((__u64)vlan << 48) | mac48(hdr + 6);
    if (bpf_map_lookup_elem(&mdx_sources, &skey)) return 0;
  }
  const struct mdx_xdp_port* t;
  if (dom->flags & MDX_DOM_PASSTHRU) {
    t = &dom->passthru;
  } else {
    t = bpf_map_lookup_elem(&mdx_ports, &key);
    if (!t) return 0;
  }
  if (t->mode == MODE_SOURCE || t->ifindex == 0 || t->slot >= MDX_XDP_MAX_SLOTS) return 0;
  *out = *t;
  return 1;
}

// ---- the reverse direction: a port's kernel device to the uplink ----
// The port's own engine socket is a ptype_all tap too: mdx_uplink_filter is attached to it as well
// (the verdict slot is keyed by ingress ifindex), and mdx_tc_port_ingress on the port's ingress follows.

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MDX_XDP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct mdx_tc_port);
} mdx_port_devs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, MDX_XDP_MAX_SLOTS);
  __type(key, __u32);
  __type(value, struct mdx_xdp_tx);
} mdx_slot_rx SEC(".maps");

// Decide for a frame a port sent (demux.h, ingress = a port; drivers/net/macvlan.c
// macvlan_queue_xmit): unicast leaves through the uplink unless the port is in bridge mode and the
// destination is a port of its VLAN (local delivery: the engine's). 1 with *target = uplink.
static __always_inline int skb_port_target(struct __sk_buff* skb, const __u8* hdr, __u32* target,
                                           struct mdx_tc_port* out) {
  __u32 zero = 0;
  const struct mdx_xdp_config* cfg = bpf_map_lookup_elem(&mdx_config, &zero);
  if (!cfg || !cfg->enabled || cfg->learning || cfg->uplinkIfindex == 0) return 0;
  if (skb->vlan_present) return 0;  // a port sends untagged frames; anything else is the engine's
  if (skb->gso_size == 0 && skb->len > cfg->maxFrameLen) return 0;
  if ((hdr[0] & 1) || (hdr[6] & 1)) return 0;
  __u32 ifx = skb->ifindex;
  const struct mdx_tc_port* p = bpf_map_lookup_elem(&mdx_port_devs, &ifx);
  if (!p || p->slot >= MDX_XDP_MAX_SLOTS) return 0;
  if (p->mode == MODE_SOURCE) return 0;
  if (p->mode == MODE_BRIDGE) {
    __u64 dkey = ((__u64)(p->vlan & 0x0fff) << 48) | mac48(hdr);
    if (bpf_map_lookup_elem(&mdx_ports, &dkey)) return 0;
  }
  *target = cfg->uplinkIfindex;
  *out = *p;
  return 1;
}

// SO_ATTACH_BPF on the engine's uplink sockets (and, with the reverse direction, its port sockets): 0 drops the frame for this socket (the tc program
// forwards it), anything else keeps it whole (net/packet/af_packet.c run_filter: the snap length).
SEC("socket")
int mdx_uplink_filter(struct __sk_buff* skb) {
  // Frames leaving the device never reach tc ingress. The engine's sockets are opened with
  // PACKET_IGNORE_OUTGOING, but the uplink's rings are a fanout group, whose own hook ignores
  // outgoing frames only with PACKET_FANOUT_FLAG_IGNORE_OUTGOING (net/packet/af_packet.c
  // fanout_add), so the group would see what the ports' tc program redirects out of the uplink.
  if (skb->pkt_type == MDX_PACKET_OUTGOING) return 0;
  __u8 hdr[12];
  __u64 key = 0;
  struct mdx_xdp_port p = {};
  int hit = 0;
  struct mdx_tc_port pp;
  __u32 up = 0;
  if (skb_key(skb, hdr, &key) == 0) {
    // a port device (its socket) or the uplink
    __u32 ifx = skb->ifindex;
    if (bpf_map_lookup_elem(&mdx_port_devs, &ifx)) {
      hit = skb_port_target(skb, hdr, &up, &pp);
      p.ifindex = up;
      p.slot = pp.slot;
    } else {
      hit = skb_fast_target(skb, hdr, key, &p);
    }
  }
  __u32 zero = 0;
  struct mdx_tc_verdict* v = bpf_map_lookup_elem(&mdx_tc_verdicts, &zero);
  if (v) {
    v->key = key;
    v->len = skb->len;
    v->ifindex = skb->ifindex;
    v->target = hit ? p.ifindex : 0;
    v->slot = p.slot;
    v->flags = hit ? p.flags : 0;
    v->valid = 1;
  }
  return hit ? 0 : -1;
}

// The filter's verdict for this skb, consumed: 1 = redirect to *target (the filter dropped it),
// 0 = the engine's socket kept it, -1 = no verdict for this frame (no engine socket saw it).
static __always_inline int take_verdict(struct __sk_buff* skb, __u64 key, __u32* target, __u32* slot,
                                        __u32* flags) {
  __u32 zero = 0;
  struct mdx_tc_verdict* v = bpf_map_lookup_elem(&mdx_tc_verdicts, &zero);
  if (!v || !v->valid || v->key != key || v->len != skb->len || v->ifindex != skb->ifindex) return -1;
  v->valid = 0;
  *target = v->target;
  *slot = v->slot;
  *flags = v->flags;
  return v->target ? 1 : 0;
}

SEC("tc")
int mdx_tc_ingress(struct __sk_buff* skb) {
  __u8 hdr[12];
  __u64 key;
  if (skb_key(skb, hdr, &key)) return MDX_TC_ACT_OK;
  struct mdx_xdp_port p = {};
  const int verdict = take_verdict(skb, key, &p.ifindex, &p.slot, &p.flags);
  if (verdict == 0) return MDX_TC_ACT_OK;  // the engine's socket kept it
  if (verdict < 0 && !skb_fast_target(skb, hdr, key, &p)) return MDX_TC_ACT_OK;
  const __u32 len = skb->len;
  // ports see their VLAN's frames untagged (engine.cc Process)
  if (skb->vlan_present && bpf_skb_vlan_pop(skb)) return MDX_TC_ACT_OK;
  count_rx(stats(), MDX_ST_FORWARDED, len);
  count_tx(&mdx_slot_stats, p.slot, len);
  // A veth port whose peer is in another namespace (the container's end): switch the skb straight
  // to the peer, received in this same __netif_receive_skb_core pass (net/core/filter.c
  // skb_do_redirect, BPF_F_PEER: it counts the peer's RX and scrubs the skb as a netns crossing
  // does). It skips the port device's egress (qdisc, tc egress, taps, its TX counters) and the
  // peer's backlog queue and second softirq pass. The kernel drops the frame if the peer is down (as
  // veth_xmit would) or in the uplink's own namespace; the engine sets the flag only while the peer
  // is elsewhere and the port device is up (engine_xdp.cc TcPeerProbe).
  if (p.flags & MDX_PORT_PEER) return bpf_redirect_peer(p.ifindex, 0);
  return bpf_redirect(p.ifindex, 0);
}

SEC("tc")
int mdx_tc_port_ingress(struct __sk_buff* skb) {
  __u8 hdr[12];
  __u64 key;
  if (skb_key(skb, hdr, &key)) return MDX_TC_ACT_OK;
  struct mdx_tc_port p = {};
  __u32 target = 0, slot = 0, flags = 0;
  const int verdict = take_verdict(skb, key, &target, &slot, &flags);
  if (verdict == 0) return MDX_TC_ACT_OK;  // the engine's socket kept it
  if (verdict > 0) {
    __u32 ifx = skb->ifindex;
    const struct mdx_tc_port* q = bpf_map_lookup_elem(&mdx_port_devs, &ifx);
    if (!q) return MDX_TC_ACT_OK;  // cannot happen while the filter dropped it; keep the stack's copy
    p = *q;
  } else if (!skb_port_target(skb, hdr, &target, &p)) {
    return MDX_TC_ACT_OK;
  }
  const __u32 len = skb->len;
  // the port's VLAN travels tagged on the uplink (engine.cc Process)
  if (p.vlan && bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), (__u16)p.vlan)) return MDX_TC_ACT_OK;
  __u64* st = stats();
  if (st) {
    st[MDX_ST_UP_TX_FRAMES]++;
    st[MDX_ST_UP_TX_BYTES] += p.vlan ? len + 4 : len;
  }
  count_tx(&mdx_slot_rx, p.slot, len);
  return bpf_redirect(target, 0);
}
