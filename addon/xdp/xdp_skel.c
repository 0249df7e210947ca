// Wraps the generated light skeleton (demux.skel.h) for the C++ loader (xdp_program.cc).
#include "xdp_skel.h"

#include <errno.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "demux.skel.h"
#include "gen.skel.h"
#pragma GCC diagnostic pop

void* mdx_xdp_skel_load(struct mdx_xdp_fds* fds, int* err) {
  struct mdx_demux* s = mdx_demux__open();
  if (!s) {
    *err = -ENOMEM;
    return NULL;
  }
  int rc = mdx_demux__load(s);
  if (rc) {
    *err = rc < 0 ? rc : -errno;
    if (*err == 0) *err = -EINVAL;
    mdx_demux__destroy(s);
    return NULL;
  }
  fds->prog = s->progs.mdx_demux.prog_fd;
  fds->tcProg = s->progs.mdx_tc_ingress.prog_fd;
  fds->uplinkFilter = s->progs.mdx_uplink_filter.prog_fd;
  fds->tcPortProg = s->progs.mdx_tc_port_ingress.prog_fd;
  fds->portDevs = s->maps.mdx_port_devs.map_fd;
  fds->slotRx = s->maps.mdx_slot_rx.map_fd;
  fds->config = s->maps.mdx_config.map_fd;
  fds->domains = s->maps.mdx_domains.map_fd;
  fds->sources = s->maps.mdx_sources.map_fd;
  fds->ports = s->maps.mdx_ports.map_fd;
  fds->tx = s->maps.mdx_tx.map_fd;
  fds->xsks = s->maps.mdx_xsks.map_fd;
  fds->stats = s->maps.mdx_stats.map_fd;
  fds->slotStats = s->maps.mdx_slot_stats.map_fd;
  fds->floodStats = s->maps.mdx_flood_stats.map_fd;
  fds->ucast = s->maps.mdx_ucast.map_fd;
  const struct bpf_map_desc* flood[MDX_XDP_FLOOD_MAPS] = {
      &s->maps.mdx_flood0,  &s->maps.mdx_flood1,  &s->maps.mdx_flood2,  &s->maps.mdx_flood3,
      &s->maps.mdx_flood4,  &s->maps.mdx_flood5,  &s->maps.mdx_flood6,  &s->maps.mdx_flood7,
      &s->maps.mdx_flood8,  &s->maps.mdx_flood9,  &s->maps.mdx_flood10, &s->maps.mdx_flood11,
      &s->maps.mdx_flood12, &s->maps.mdx_flood13, &s->maps.mdx_flood14, &s->maps.mdx_flood15};
  for (int i = 0; i < MDX_XDP_FLOOD_MAPS; i++) fds->flood[i] = flood[i]->map_fd;
  return s;
}

void mdx_xdp_skel_destroy(void* skel) { mdx_demux__destroy((struct mdx_demux*)skel); }

void* mdx_gen_skel_load(int* progFd, int* outMapFd, int* paceMapFd, int* err) {
  struct mdx_gen* s = mdx_gen__open();
  if (!s) {
    *err = -ENOMEM;
    return NULL;
  }
  int rc = mdx_gen__load(s);
  if (rc) {
    *err = rc < 0 ? rc : (errno ? -errno : -EINVAL);
    mdx_gen__destroy(s);
    return NULL;
  }
  *progFd = s->progs.mdx_gen.prog_fd;
  *outMapFd = s->maps.mdx_gen_out.map_fd;
  *paceMapFd = s->maps.mdx_gen_pace.map_fd;
  return s;
}

void mdx_gen_skel_destroy(void* skel) { mdx_gen__destroy((struct mdx_gen*)skel); }
