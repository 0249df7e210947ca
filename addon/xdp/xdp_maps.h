// Map layouts shared by the XDP program (demux.bpf.c) and its loader (xdp_program.cc).
// Plain C (the BPF side is compiled by clang -target bpf): fixed-size integer fields only.
#pragma once
#ifdef __bpf__
#include <linux/types.h>
typedef __u8 mdx_u8;
typedef __u32 mdx_u32;
typedef __u64 mdx_u64;
#else
#include <stdint.h>
typedef uint8_t mdx_u8;
typedef uint32_t mdx_u32;
typedef uint64_t mdx_u64;
#endif

// Capacities (the program is loaded once with these; the loader refuses a table that does not fit).
#define MDX_XDP_MAX_PORTS 16384   // (vlan, mac) entries in mdx_ports
#define MDX_XDP_MAX_SOURCES 16384 // (vlan, source mac) entries in mdx_sources
#define MDX_XDP_MAX_SLOTS 8192    // slots (counters, unicast devmap keys)
#define MDX_XDP_FLOOD_MAPS 16     // VLAN domains that can flood in the kernel (one devmap each)
#define MDX_XDP_FLOOD_PORTS 4096  // devices per flood devmap
#define MDX_XDP_MAX_QUEUES 64     // AF_XDP sockets (one per uplink RX queue)

// Key of mdx_ports and mdx_sources: (vlan & 0xfff) << 48 | 48-bit MAC (big-endian order), as in
// addon/port_table.h. Value of mdx_ports: one port.
struct mdx_xdp_port {
  mdx_u32 slot;
  mdx_u32 ifindex;  // kernel device the program may redirect to (mdx_tx[slot]); 0 = userspace port
  mdx_u32 mode;     // enum macvlan_mode bit (addon/port_table.h PortMode)
  mdx_u32 flags;    // MDX_PORT_* (backend 'tc'); 0 for the XDP program
};
// The port's device is UP and a veth whose peer is in another network namespace: the tc program
// delivers into the peer with bpf_redirect_peer (demux.bpf.c, "tc fast path"; engine_xdp.cc).
#define MDX_PORT_PEER 1

// mdx_ucast: a copy of mdx_ports in an array, for the XDP unicast path. The verifier inlines an array
// lookup (kernel/bpf/arraymap.c array_map_gen_lookup) where a hash map lookup is three calls
// (__htab_map_lookup_elem, htab_map_hash, lookup_nulls_elem_raw), each return through the CPU's
// return-thunk mitigation: about 20 ns a frame here. Open addressing: a key sits in one of the
// MDX_XDP_UCAST_PROBES entries from mdx_ucast_hash(key) on; the loader rebuilds the array from
// mdx_ports at every sync (keys in ascending order, each in the first free entry), so an unused entry
// on the way means the key is in neither map, and a key that found no free entry is looked up in
// mdx_ports (all probes used, no match).
#define MDX_XDP_UCAST_BITS 15  // 32768 entries: load <= 0.5 at MDX_XDP_MAX_PORTS
#define MDX_XDP_UCAST_SIZE (1u << MDX_XDP_UCAST_BITS)
#define MDX_XDP_UCAST_PROBES 4
struct mdx_xdp_ucast {
  mdx_u64 key;  // as in mdx_ports
  struct mdx_xdp_port port;
  mdx_u32 used;
};
static inline mdx_u32 mdx_ucast_hash(mdx_u64 key) {
  return (mdx_u32)((key * 0x9E3779B97F4A7C15ull) >> (64 - MDX_XDP_UCAST_BITS));  // Fibonacci hashing
}

// Value of mdx_domains, indexed by VLAN id (0..4095).
#define MDX_DOM_PRESENT 1      // some port is bound to this VLAN
#define MDX_DOM_MC_DECLARED 2  // a member declared its multicast groups: group traffic goes to userspace
#define MDX_DOM_PASSTHRU 4     // `passthru` receives every unicast frame of the VLAN
#define MDX_DOM_FLOOD_USER 8   // a broadcast reaches a userspace port (or no flood map was free)
struct mdx_xdp_domain {
  mdx_u32 flags;
  mdx_u32 floodCount;  // members a multicast from outside reaches (every mode but source)
  mdx_u32 floodMap;    // index of its flood devmap (when !MDX_DOM_FLOOD_USER and floodCount > 0)
  struct mdx_xdp_port passthru;
};

// mdx_config[0]
struct mdx_xdp_config {
  mdx_u32 maxFrameLen;  // untagged length limit (PortTable maxFrameLen)
  mdx_u32 learning;     // learning mode: unicast misses go to userspace (the engine's FDB)
  mdx_u32 enabled;      // 0: every frame to userspace (before the first sync, during a sync)
  mdx_u32 hasSources;   // mdx_sources is not empty (else its lookup is skipped)
  mdx_u32 uplinkIfindex;  // backend 'tc': where the ports' tc program redirects (0: not attached)
};

// Backend 'tc': mdx_port_devs, ifindex of a port's kernel device -> the port (its tc ingress program
// sends unicast to the uplink per the port's mode).
struct mdx_tc_port {
  mdx_u32 slot;
  mdx_u32 vlan;  // 0: untagged on the uplink
  mdx_u32 mode;
};

// mdx_tc_verdict (per CPU, one entry): the uplink socket filter's decision for the frame it just saw,
// which the tc program on the same CPU follows (demux.bpf.c, "tc fast path").
struct mdx_tc_verdict {
  mdx_u64 key;      // (vlan, destination MAC) as in mdx_ports
  mdx_u32 len;      // skb->len when the filter ran
  mdx_u32 ifindex;  // device the frame arrived on
  mdx_u32 valid;    // set by the filter, cleared by the tc program that consumes it
  mdx_u32 target;   // ifindex to redirect to (the filter dropped the frame), 0: the engine has it
  mdx_u32 slot;     // the target port's slot (counters)
  mdx_u32 flags;    // the target port's MDX_PORT_* (mdx_xdp_port.flags)
};

// mdx_stats (per CPU) indexes: drops by reason (addon/frame_parse.h DropReason) 0..15, then these.
#define MDX_ST_DROPS 0
#define MDX_ST_RX_FRAMES 16    // frames the program finished (redirected or dropped)
#define MDX_ST_RX_BYTES 17
#define MDX_ST_FORWARDED 18    // frames redirected to ports
#define MDX_ST_TO_USER 19      // frames handed to userspace (AF_XDP socket, or the stack: XDP_PASS)
#define MDX_ST_TO_XSK 20       // of those, redirected to an AF_XDP socket
#define MDX_ST_UP_TX_FRAMES 21 // backend 'tc': frames the ports' tc program redirected to the uplink
#define MDX_ST_UP_TX_BYTES 22
#define MDX_ST_COUNT 32  // a power of two (the program masks indexes with it)

// The one value of mdx_stats (per CPU).
struct mdx_xdp_stats {
  mdx_u64 w[MDX_ST_COUNT];
};

// mdx_slot_rx (per CPU, MDX_XDP_MAX_SLOTS: what the ports' tc program took from each port),
// mdx_slot_stats (per CPU, MDX_XDP_MAX_SLOTS) and mdx_flood_stats (per CPU, MDX_XDP_FLOOD_MAPS)
struct mdx_xdp_tx {
  mdx_u64 packets;
  mdx_u64 bytes;
};
