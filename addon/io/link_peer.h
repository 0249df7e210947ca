// What rtnetlink says about a device and its peer (RTM_GETLINK by ifindex), for the tc fast path's
// choice between bpf_redirect and bpf_redirect_peer (dataplane/engine_xdp.cc).
#pragma once

namespace mdx {

struct LinkPeerInfo {
  bool up = false;             // IFF_UP on the device
  bool veth = false;           // IFLA_LINKINFO / IFLA_INFO_KIND "veth"
  bool peerElsewhere = false;  // IFLA_LINK_NETNSID present: the peer lives in another namespace
};

// Query device ifindex in the caller's network namespace. The kernel puts IFLA_LINK_NETNSID in the
// answer exactly when the device's link netns (veth: its peer's, drivers/net/veth.c
// veth_get_link_net) is not the device's own (net/core/rtnetlink.c rtnl_fill_link_netnsid).
// Returns 0 or -errno (-ENODEV: no such device).
int QueryLinkPeer(int ifindex, LinkPeerInfo* out);

}  // namespace mdx
