// The uplink's XDP program (demux.bpf.c, embedded as a light skeleton): load, attach to a device,
// keep its maps in sync with a port table snapshot, run it on a frame (BPF_PROG_RUN), read its
// per-CPU counters. No libbpf: bpf() syscalls only.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/port_table.h"
#include "xdp_maps.h"

namespace mdx {

struct XdpStats {
  uint64_t words[MDX_ST_COUNT] = {};  // summed over CPUs (indexes: xdp_maps.h MDX_ST_*)
};

class XdpProgram {
 public:
  // Returns 0, or -errno (-EPERM: CAP_BPF missing) with *err saying what failed.
  static int Load(std::unique_ptr<XdpProgram>* out, std::string* err);
  ~XdpProgram();

  // Bring the maps to table t. kernelIfindex[slot] is the device a port's frames may be redirected to
  // by the kernel (0: the port is served by userspace). Must run in the devices' network namespace
  // (devmap entries resolve ifindexes in the caller's namespace: kernel/bpf/devmap.c
  // __dev_map_alloc_node). While it runs the program hands every frame to userspace, so a frame never
  // meets a half-written table. Returns 0 or -errno (-E2BIG: the table does not fit the maps).
  // portFlags[slot] (backend 'tc', optional): MDX_PORT_* for the port's entries.
  int Sync(const PortTable& t, const std::vector<uint32_t>& kernelIfindex, bool learning, std::string* err,
           const std::vector<uint8_t>* portFlags = nullptr);
  // Hand every frame to userspace (XDP_PASS / AF_XDP) without touching the other maps.
  int SetEnabled(bool on);
  // Whether the program may act at all (the engine is running); Sync enables it only when live.
  int SetLive(bool live) {
    live_ = live;
    return SetEnabled(live && synced_);
  }

  // Attach to ifindex (in the caller's namespace) with a BPF link, native mode unless generic.
  // -EBUSY: another XDP program is attached; -EEXIST: one in the other mode; -ERANGE: the device's
  // MTU is too large for the driver's XDP; -EOPNOTSUPP: the driver has no native XDP.
  int Attach(int ifindex, bool generic, std::string* err);
  // Backend 'tc': attach the tc program (mdx_tc_ingress) to ifindex's ingress with a tcx link
  // (BPF_TCX_INGRESS, no qdisc; kernel 6.6+: -EINVAL/-EOPNOTSUPP before). Detach releases it too.
  int AttachTc(int ifindex, std::string* err);
  // Backend 'tc': put the uplink filter (mdx_uplink_filter) on a packet socket (SO_ATTACH_BPF; it
  // replaces any classic filter there). Returns 0 or -errno.
  int AttachUplinkFilter(int sockFd) const;
  void Detach();
  // Backend 'tc', the reverse direction: the port program (mdx_tc_port_ingress) on the ingress of
  // the kernel device of `slot` (tcx link, closed by DetachTcPort or the destructor), and the uplink
  // it redirects to (applied with the next Sync/SetEnabled).
  int AttachTcPort(uint32_t slot, int ifindex, std::string* err);
  void DetachTcPort(uint32_t slot);
  void SetUplinkIfindex(uint32_t ifindex) { config_.uplinkIfindex = ifindex; }
  // What the port program took from a port (packets, bytes), summed over CPUs.
  int ReadSlotRx(uint32_t slot, uint64_t* packets, uint64_t* bytes) const;
  bool attached() const { return linkFd_ >= 0; }

  // BPF_PROG_RUN on one frame; *action = XDP_* verdict, *out = the frame as the program left it.
  int TestRun(const uint8_t* frame, uint32_t len, uint32_t* action, std::vector<uint8_t>* out);
  int ReadStats(XdpStats* s) const;
  // Per-slot unicast TX and per-flood-map TX (packets, bytes), summed over CPUs.
  int ReadSlotTx(uint32_t slot, uint64_t* packets, uint64_t* bytes) const;
  int ReadFloodTx(uint32_t map, uint64_t* packets, uint64_t* bytes) const;
  // Flood map of a VLAN domain after the last Sync, or -1 (floods through userspace or nothing).
  int FloodMapOf(uint16_t vlan) const;
  // Slots a flood through map reaches (for counter attribution), after the last Sync.
  const std::vector<uint32_t>& FloodMembers(uint32_t map) const { return floodMembers_[map]; }
  // Register (fd >= 0) or remove (fd < 0) the AF_XDP socket of RX queue `queue` in mdx_xsks, where
  // the program sends what userspace must see (a queue without one passes frames to the stack).
  int SetXsk(uint32_t queue, int fd);
  int progFd() const { return fds_.prog; }
  int xsksFd() const { return fds_.xsks; }

 private:
  XdpProgram() = default;
  int ReadPerCpu(int fd, uint32_t key, uint64_t* sum, uint32_t words) const;

  void* skel_ = nullptr;
  struct Fds {
    int prog = -1, tcProg = -1, tcPortProg = -1, uplinkFilter = -1, portDevs = -1, slotRx = -1, config = -1, domains = -1, sources = -1, ports = -1, tx = -1, xsks = -1, stats = -1,
        slotStats = -1, floodStats = -1;
    int flood[MDX_XDP_FLOOD_MAPS];
    int ucast = -1;
  } fds_;
  int linkFd_ = -1;
  bool live_ = true;
  bool synced_ = false;
  int ncpus_ = 1;
  mdx_xdp_config config_{};
  // What the maps hold (the last Sync), to write only differences.
  std::unordered_map<uint64_t, mdx_xdp_port> ports_;
  std::vector<mdx_xdp_ucast> ucast_ = std::vector<mdx_xdp_ucast>(MDX_XDP_UCAST_SIZE);  // mdx_ucast
  std::unordered_map<uint64_t, uint32_t> sources_;
  std::vector<mdx_xdp_domain> domains_ = std::vector<mdx_xdp_domain>(4096);
  std::map<uint32_t, uint32_t> tx_;
  std::map<uint32_t, mdx_tc_port> portDevs_;  // ifindex -> port (mdx_port_devs)
  std::map<uint32_t, int> portLinks_;         // slot -> tcx link fd
  std::map<uint32_t, uint32_t> flood_[MDX_XDP_FLOOD_MAPS];
  int32_t floodOwner_[MDX_XDP_FLOOD_MAPS];  // VLAN owning each flood map, -1 = free
  std::vector<uint32_t> floodMembers_[MDX_XDP_FLOOD_MAPS];
};

}  // namespace mdx
