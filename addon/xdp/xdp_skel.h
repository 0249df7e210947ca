// C interface to the light skeleton (demux.skel.h is C: it does void-pointer arithmetic that C++
// rejects, so it is compiled in xdp_skel.c and used through this).
#pragma once
#include "xdp_maps.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mdx_xdp_fds {
  int prog;
  int tcProg, tcPortProg, uplinkFilter, portDevs, slotRx;  // backend 'tc': the tc ingress program and the uplink sockets' filter
  int config, domains, sources, ports, tx, xsks, stats, slotStats, floodStats;
  int flood[MDX_XDP_FLOOD_MAPS];
  int ucast;  // mdx_ucast, the array copy of mdx_ports
};

// Loads the program and creates its maps (bpf() syscalls; needs CAP_BPF, and CAP_NET_ADMIN to attach).
// Returns the skeleton handle and fills *fds, or NULL with *err = -errno.
void* mdx_xdp_skel_load(struct mdx_xdp_fds* fds, int* err);
// Closes every fd of the skeleton (maps and program are freed once nothing else holds them).
void mdx_xdp_skel_destroy(void* skel);

// The benchmark's XDP-frame generator (gen.bpf.c): program fd, its one-entry output devmap and its
// pacing state (struct mdx_gen_pace in gen.bpf.c).
void* mdx_gen_skel_load(int* progFd, int* outMapFd, int* paceMapFd, int* err);
void mdx_gen_skel_destroy(void* skel);

#ifdef __cplusplus
}
#endif
