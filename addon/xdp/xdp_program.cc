// XDP program loader and map sync. See xdp_program.h.
#include "xdp_program.h"

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "bpf_syscall.h"
#include "xdp_skel.h"

namespace mdx {

namespace {

inline uint64_t Ptr(const void* p) { return uint64_t(uintptr_t(p)); }

int Update(int fd, const void* key, const void* val) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = uint32_t(fd);
  a.key = Ptr(key);
  a.value = Ptr(val);
  a.flags = BPF_ANY;
  return Bpf(BPF_MAP_UPDATE_ELEM, &a);
}

int Delete(int fd, const void* key) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = uint32_t(fd);
  a.key = Ptr(key);
  const int rc = Bpf(BPF_MAP_DELETE_ELEM, &a);
  return rc == -ENOENT ? 0 : rc;
}

int Lookup(int fd, const void* key, void* val) {
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = uint32_t(fd);
  a.key = Ptr(key);
  a.value = Ptr(val);
  return Bpf(BPF_MAP_LOOKUP_ELEM, &a);
}

// Possible CPUs ("0-1", "0,2-3"): per-CPU map values have one element per possible CPU.
int PossibleCpus() {
  FILE* f = fopen("/sys/devices/system/cpu/possible", "r");
  if (!f) return 1;
  char buf[256] = {0};
  const size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  int maxCpu = 0;
  for (char* p = buf; *p;) {
    char* e;
    long a = strtol(p, &e, 10);
    if (e == p) break;
    long b = a;
    if (*e == '-') b = strtol(e + 1, &e, 10);
    if (b > maxCpu) maxCpu = int(b);
    p = (*e == ',') ? e + 1 : e;
    if (*p == '\n') break;
  }
  return maxCpu + 1;
}

inline uint64_t Key(uint16_t vlan, uint64_t mac) { return (uint64_t(vlan & 0x0fff) << 48) | mac; }

std::string Errno(int rc) { return strerror(-rc); }

}  // namespace

int XdpProgram::Load(std::unique_ptr<XdpProgram>* out, std::string* err) {
  std::unique_ptr<XdpProgram> p(new XdpProgram());
  mdx_xdp_fds f;
  int e = 0;
  p->skel_ = mdx_xdp_skel_load(&f, &e);
  if (!p->skel_) {
    *err = "loading the XDP program failed: " + Errno(e) +
           (e == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
    return e;
  }
  p->fds_.prog = f.prog;
  p->fds_.tcProg = f.tcProg;
  p->fds_.uplinkFilter = f.uplinkFilter;
  p->fds_.tcPortProg = f.tcPortProg;
  p->fds_.portDevs = f.portDevs;
  p->fds_.slotRx = f.slotRx;
  p->fds_.config = f.config;
  p->fds_.domains = f.domains;
  p->fds_.sources = f.sources;
  p->fds_.ports = f.ports;
  p->fds_.tx = f.tx;
  p->fds_.xsks = f.xsks;
  p->fds_.stats = f.stats;
  p->fds_.slotStats = f.slotStats;
  p->fds_.floodStats = f.floodStats;
  p->fds_.ucast = f.ucast;
  for (int i = 0; i < MDX_XDP_FLOOD_MAPS; i++) {
    p->fds_.flood[i] = f.flood[i];
    p->floodOwner_[i] = -1;
  }
  p->ncpus_ = PossibleCpus();
  p->config_.maxFrameLen = 1514;
  p->config_.enabled = 0;  // nothing in the maps yet: everything to userspace
  const uint32_t zero = 0;
  const int rc = Update(p->fds_.config, &zero, &p->config_);
  if (rc < 0) {
    *err = "XDP config map: " + Errno(rc);
    return rc;
  }
  *out = std::move(p);
  return 0;
}

XdpProgram::~XdpProgram() {
  Detach();
  for (auto& [slot, fd] : portLinks_) close(fd);
  if (skel_) mdx_xdp_skel_destroy(skel_);
}

int XdpProgram::SetEnabled(bool on) {
  config_.enabled = on ? 1 : 0;
  const uint32_t zero = 0;
  return Update(fds_.config, &zero, &config_);
}

int XdpProgram::Sync(const PortTable& t, const std::vector<uint32_t>& kernelIfindex, bool learning,
                     std::string* err, const std::vector<uint8_t>* portFlags) {
  const auto& ports = t.ports();
  if (ports.size() > MDX_XDP_MAX_PORTS) {
    *err = "XDP: " + std::to_string(ports.size()) + " ports exceed the program's " +
           std::to_string(MDX_XDP_MAX_PORTS);
    return -E2BIG;
  }
  const std::vector<uint64_t> srcKeys = t.SourceKeys();
  if (srcKeys.size() > MDX_XDP_MAX_SOURCES) {
    *err = "XDP: too many source-mode MACs";
    return -E2BIG;
  }
  auto ifOf = [&](uint32_t slot) -> uint32_t {
    return slot < kernelIfindex.size() && slot < MDX_XDP_MAX_SLOTS ? kernelIfindex[slot] : 0;
  };
  // the port's MDX_PORT_* flags, only for a port the kernel redirects to
  auto flagsOf = [&](uint32_t slot) -> uint32_t {
    return portFlags && slot < portFlags->size() && ifOf(slot) ? (*portFlags)[slot] : 0;
  };
  // Desired state.
  std::unordered_map<uint64_t, mdx_xdp_port> wantPorts;
  std::map<uint32_t, uint32_t> wantTx;
  std::map<uint32_t, mdx_tc_port> wantDevs;
  for (const PortInfo& p : ports) {
    mdx_xdp_port v{p.slot, ifOf(p.slot), p.mode, flagsOf(p.slot)};
    wantPorts[Key(p.vlan, p.mac)] = v;
    if (v.ifindex) wantTx[p.slot] = v.ifindex;
    if (v.ifindex) wantDevs[v.ifindex] = mdx_tc_port{p.slot, uint32_t(p.vlan & 0x0fff), p.mode};
  }
  std::vector<mdx_xdp_domain> wantDom(4096);
  std::vector<std::vector<uint32_t>> domFlood(t.domains().size());  // flood members' slots
  std::vector<int32_t> owner(floodOwner_, floodOwner_ + MDX_XDP_FLOOD_MAPS);
  std::vector<bool> vlanUsed(4096, false);
  for (size_t di = 0; di < t.domains().size(); di++) {
    const VlanDomain& d = t.domains()[di];
    mdx_xdp_domain& w = wantDom[d.vlan & 0xfff];
    vlanUsed[d.vlan & 0xfff] = true;
    w.flags = MDX_DOM_PRESENT;
    bool user = false;
    for (uint32_t idx : d.members) {
      const PortInfo& p = ports[idx];
      if (p.flags & kFlagMcDeclared) w.flags |= MDX_DOM_MC_DECLARED;
      if (p.mode == kModeSource) continue;
      w.floodCount++;
      if (!ifOf(p.slot)) user = true;
      domFlood[di].push_back(p.slot);
    }
    if (d.passthru >= 0) {
      const PortInfo& p = ports[d.passthru];
      w.flags |= MDX_DOM_PASSTHRU;
      w.passthru = mdx_xdp_port{p.slot, ifOf(p.slot), p.mode, flagsOf(p.slot)};
    }
    if (user) w.flags |= MDX_DOM_FLOOD_USER;
  }
  // Flood maps: a VLAN keeps its map across syncs; a map is freed when its VLAN no longer floods in
  // the kernel; free maps go to the remaining VLANs in table order, the rest flood through userspace.
  auto floods = [&](const mdx_xdp_domain& w) { return (w.flags & MDX_DOM_PRESENT) && w.floodCount > 0 &&
                                                    !(w.flags & MDX_DOM_FLOOD_USER); };
  for (int m = 0; m < MDX_XDP_FLOOD_MAPS; m++)
    if (owner[m] >= 0 && !floods(wantDom[owner[m]])) owner[m] = -1;
  std::vector<int32_t> mapOf(4096, -1);
  for (int m = 0; m < MDX_XDP_FLOOD_MAPS; m++)
    if (owner[m] >= 0) mapOf[owner[m]] = m;
  for (size_t di = 0; di < t.domains().size(); di++) {
    const uint16_t v = t.domains()[di].vlan & 0xfff;
    mdx_xdp_domain& w = wantDom[v];
    if (!floods(w) || mapOf[v] >= 0) continue;
    int m = 0;
    while (m < MDX_XDP_FLOOD_MAPS && owner[m] >= 0) m++;
    if (m == MDX_XDP_FLOOD_MAPS) {
      w.flags |= MDX_DOM_FLOOD_USER;
      continue;
    }
    owner[m] = v;
    mapOf[v] = m;
  }
  std::map<uint32_t, uint32_t> wantFlood[MDX_XDP_FLOOD_MAPS];
  std::vector<uint32_t> members[MDX_XDP_FLOOD_MAPS];
  for (size_t di = 0; di < t.domains().size(); di++) {
    const uint16_t v = t.domains()[di].vlan & 0xfff;
    if (mapOf[v] < 0) continue;
    wantDom[v].floodMap = uint32_t(mapOf[v]);
    for (uint32_t s : domFlood[di]) wantFlood[mapOf[v]][s] = ifOf(s);
    members[mapOf[v]] = domFlood[di];
  }

  // Apply, with the program handing everything to userspace meanwhile.
  synced_ = false;
  int rc = SetEnabled(false);
  const char* what = "config";
  auto fail = [&](int r) {
    *err = std::string("XDP map sync (") + what + "): " + Errno(r) +
           (r == -EINVAL && std::string(what).find("devmap") != std::string::npos
                ? " (a port device is not in this network namespace)"
                : "");
    // Maps may now be partly written: the program stays disabled (every frame to userspace).
    return r;
  };
  if (rc < 0) return fail(rc);
  what = "unicast devmap";
  for (auto& [slot, ifx] : tx_)
    if (!wantTx.count(slot) && (rc = Delete(fds_.tx, &slot)) < 0) return fail(rc);
  for (auto& [slot, ifx] : wantTx) {
    auto it = tx_.find(slot);
    if ((it == tx_.end() || it->second != ifx) && (rc = Update(fds_.tx, &slot, &ifx)) < 0) return fail(rc);
  }
  tx_ = wantTx;
  what = "port devices";
  for (auto& [ifx, v] : portDevs_)
    if (!wantDevs.count(ifx) && (rc = Delete(fds_.portDevs, &ifx)) < 0) return fail(rc);
  for (auto& [ifx, v] : wantDevs) {
    auto it = portDevs_.find(ifx);
    if ((it == portDevs_.end() || memcmp(&it->second, &v, sizeof(v)) != 0) && (rc = Update(fds_.portDevs, &ifx, &v)) < 0)
      return fail(rc);
  }
  portDevs_ = wantDevs;
  what = "flood devmap";
  for (int m = 0; m < MDX_XDP_FLOOD_MAPS; m++) {
    for (auto& [slot, ifx] : flood_[m])
      if (!wantFlood[m].count(slot) && (rc = Delete(fds_.flood[m], &slot)) < 0) return fail(rc);
    for (auto& [slot, ifx] : wantFlood[m]) {
      auto it = flood_[m].find(slot);
      if ((it == flood_[m].end() || it->second != ifx) && (rc = Update(fds_.flood[m], &slot, &ifx)) < 0)
        return fail(rc);
    }
    flood_[m] = std::move(wantFlood[m]);
    floodMembers_[m] = std::move(members[m]);
    floodOwner_[m] = owner[m];
  }
  what = "ports";
  for (auto& [k, v] : ports_)
    if (!wantPorts.count(k) && (rc = Delete(fds_.ports, &k)) < 0) return fail(rc);
  for (auto& [k, v] : wantPorts) {
    auto it = ports_.find(k);
    if ((it == ports_.end() || memcmp(&it->second, &v, sizeof(v)) != 0) && (rc = Update(fds_.ports, &k, &v)) < 0)
      return fail(rc);
  }
  what = "unicast array";
  {
    // mdx_ucast from the same ports (xdp_maps.h): keys in ascending order, each in the first free
    // entry of its probe sequence; a key with none stays in mdx_ports only.
    std::vector<uint64_t> keys;
    keys.reserve(wantPorts.size());
    for (auto& [k, v] : wantPorts) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    std::vector<mdx_xdp_ucast> want(MDX_XDP_UCAST_SIZE);
    for (uint64_t k : keys) {
      const uint32_t h = mdx_ucast_hash(k);
      for (uint32_t i = 0; i < MDX_XDP_UCAST_PROBES; i++) {
        mdx_xdp_ucast& e = want[(h + i) & (MDX_XDP_UCAST_SIZE - 1)];
        if (e.used) continue;
        e.key = k;
        e.port = wantPorts[k];
        e.used = 1;
        break;
      }
    }
    for (uint32_t idx = 0; idx < MDX_XDP_UCAST_SIZE; idx++) {
      if (memcmp(&want[idx], &ucast_[idx], sizeof(mdx_xdp_ucast)) == 0) continue;
      if ((rc = Update(fds_.ucast, &idx, &want[idx])) < 0) return fail(rc);
      ucast_[idx] = want[idx];
    }
  }
  ports_ = std::move(wantPorts);
  what = "sources";
  std::unordered_map<uint64_t, uint32_t> wantSrc;
  for (uint64_t k : srcKeys) wantSrc[k] = 1;
  for (auto& [k, v] : sources_)
    if (!wantSrc.count(k) && (rc = Delete(fds_.sources, &k)) < 0) return fail(rc);
  for (auto& [k, v] : wantSrc)
    if (!sources_.count(k) && (rc = Update(fds_.sources, &k, &v)) < 0) return fail(rc);
  sources_ = std::move(wantSrc);
  what = "domains";
  for (uint32_t v = 0; v < 4096; v++) {
    if (memcmp(&domains_[v], &wantDom[v], sizeof(mdx_xdp_domain)) == 0) continue;
    if ((rc = Update(fds_.domains, &v, &wantDom[v])) < 0) return fail(rc);
    domains_[v] = wantDom[v];
  }
  what = "config";
  config_.maxFrameLen = t.maxFrameLen();
  config_.learning = learning ? 1 : 0;
  config_.hasSources = sources_.empty() ? 0 : 1;
  synced_ = true;
  if ((rc = SetEnabled(live_)) < 0) return fail(rc);
  return 0;
}

int XdpProgram::SetXsk(uint32_t queue, int fd) {
  if (queue >= MDX_XDP_MAX_QUEUES) return -E2BIG;
  if (fd < 0) return Delete(fds_.xsks, &queue);
  const uint32_t v = uint32_t(fd);
  return Update(fds_.xsks, &queue, &v);
}

int XdpProgram::FloodMapOf(uint16_t vlan) const {
  const mdx_xdp_domain& d = domains_[vlan & 0xfff];
  if (!(d.flags & MDX_DOM_PRESENT) || (d.flags & MDX_DOM_FLOOD_USER) || d.floodCount == 0) return -1;
  return int(d.floodMap);
}

int XdpProgram::Attach(int ifindex, bool generic, std::string* err) {
  if (linkFd_ >= 0) {
    *err = "XDP program already attached";
    return -EALREADY;
  }
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = uint32_t(fds_.prog);
  a.link_create.target_ifindex = uint32_t(ifindex);
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  const int rc = Bpf(BPF_LINK_CREATE, &a);
  if (rc < 0) {
    switch (rc) {
      case -EBUSY:
        *err = "another XDP program is attached to the device (one program per device; detach it first)";
        break;
      case -EEXIST:
        *err = "an XDP program is attached to the device in the other (native/generic) mode";
        break;
      case -ERANGE:
        *err = "the device's MTU is larger than its driver runs XDP at";
        break;
      case -EOPNOTSUPP:
        *err = "the device's driver has no native XDP";
        break;
      case -EPERM:
        *err = "attaching XDP needs CAP_NET_ADMIN and CAP_BPF";
        break;
      default:
        *err = "attaching the XDP program: " + Errno(rc);
    }
    return rc;
  }
  linkFd_ = rc;
  return 0;
}

int XdpProgram::AttachTc(int ifindex, std::string* err) {
  if (linkFd_ >= 0) {
    *err = "tc program already attached";
    return -EALREADY;
  }
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = uint32_t(fds_.tcProg);
  a.link_create.target_ifindex = uint32_t(ifindex);
  a.link_create.attach_type = bpf_attach_type(MDX_BPF_TCX_INGRESS);  // appended after any other tcx program (kernel/bpf/tcx.c)
  const int rc = Bpf(BPF_LINK_CREATE, &a);
  if (rc < 0) {
    if (rc == -EPERM) *err = "attaching the tc program needs CAP_NET_ADMIN and CAP_BPF";
    else if (rc == -EINVAL || rc == -EOPNOTSUPP) *err = "the kernel has no tcx links (Linux 6.6+): " + Errno(rc);
    else *err = "attaching the tc program (tcx ingress): " + Errno(rc);
    return rc;
  }
  linkFd_ = rc;
  return 0;
}

int XdpProgram::AttachTcPort(uint32_t slot, int ifindex, std::string* err) {
  if (portLinks_.count(slot)) return 0;
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = uint32_t(fds_.tcPortProg);
  a.link_create.target_ifindex = uint32_t(ifindex);
  a.link_create.attach_type = bpf_attach_type(MDX_BPF_TCX_INGRESS);
  const int rc = Bpf(BPF_LINK_CREATE, &a);
  if (rc < 0) {
    *err = "attaching the port's tc program (tcx ingress): " + Errno(rc);
    return rc;
  }
  portLinks_[slot] = rc;
  return 0;
}

void XdpProgram::DetachTcPort(uint32_t slot) {
  auto it = portLinks_.find(slot);
  if (it == portLinks_.end()) return;
  close(it->second);
  portLinks_.erase(it);
}

int XdpProgram::ReadSlotRx(uint32_t slot, uint64_t* packets, uint64_t* bytes) const {
  uint64_t v[2];
  const int rc = ReadPerCpu(fds_.slotRx, slot, v, 2);
  if (rc < 0) return rc;
  *packets = v[0];
  *bytes = v[1];
  return 0;
}

int XdpProgram::AttachUplinkFilter(int sockFd) const {
  const int fd = fds_.uplinkFilter;
  if (setsockopt(sockFd, SOL_SOCKET, SO_ATTACH_BPF, &fd, sizeof(fd)) != 0) return -errno;
  return 0;
}

void XdpProgram::Detach() {
  if (linkFd_ >= 0) close(linkFd_);  // the link owns the attachment (net/core/dev.c bpf_xdp_link_release)
  linkFd_ = -1;
}

int XdpProgram::TestRun(const uint8_t* frame, uint32_t len, uint32_t* action, std::vector<uint8_t>* out) {
  out->assign(len + 256, 0);
  bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.test.prog_fd = uint32_t(fds_.prog);
  a.test.data_in = Ptr(frame);
  a.test.data_size_in = len;
  a.test.data_out = Ptr(out->data());
  a.test.data_size_out = uint32_t(out->size());
  a.test.repeat = 1;
  const int rc = Bpf(BPF_PROG_TEST_RUN, &a);
  if (rc < 0) return rc;
  *action = a.test.retval;
  out->resize(a.test.data_size_out);
  return 0;
}

int XdpProgram::ReadPerCpu(int fd, uint32_t key, uint64_t* sum, uint32_t words) const {
  std::vector<uint64_t> v(size_t(ncpus_) * words);
  const int rc = Lookup(fd, &key, v.data());
  if (rc < 0) return rc;
  for (uint32_t w = 0; w < words; w++) sum[w] = 0;
  for (int c = 0; c < ncpus_; c++)
    for (uint32_t w = 0; w < words; w++) sum[w] += v[size_t(c) * words + w];
  return 0;
}

int XdpProgram::ReadStats(XdpStats* s) const { return ReadPerCpu(fds_.stats, 0, s->words, MDX_ST_COUNT); }

int XdpProgram::ReadSlotTx(uint32_t slot, uint64_t* packets, uint64_t* bytes) const {
  uint64_t v[2];
  const int rc = ReadPerCpu(fds_.slotStats, slot, v, 2);
  if (rc < 0) return rc;
  *packets = v[0];
  *bytes = v[1];
  return 0;
}

int XdpProgram::ReadFloodTx(uint32_t map, uint64_t* packets, uint64_t* bytes) const {
  uint64_t v[2];
  const int rc = ReadPerCpu(fds_.floodStats, map, v, 2);
  if (rc < 0) return rc;
  *packets = v[0];
  *bytes = v[1];
  return 0;
}

}  // namespace mdx
