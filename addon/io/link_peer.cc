// RTM_GETLINK of one device. See link_peer.h.
#include "io/link_peer.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mdx {

namespace {

// The attributes of one rtattr chain (each at most once), by type, up to maxType.
void ParseAttrs(const rtattr* a, int len, const rtattr** tb, int maxType) {
  for (int i = 0; i <= maxType; i++) tb[i] = nullptr;
  for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    const int type = a->rta_type & ~NLA_F_NESTED;
    if (type <= maxType) tb[type] = a;
  }
}

}  // namespace

int QueryLinkPeer(int ifindex, LinkPeerInfo* out) {
  *out = LinkPeerInfo{};
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
    char attrs[16];
  } req;
  memset(&req, 0, sizeof(req));
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = 1;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = ifindex;
  // Leave the VF and stats blocks out of the answer (RTEXT_FILTER_SKIP_STATS, Linux 5.x).
  rtattr* ext = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  ext->rta_type = IFLA_EXT_MASK;
  ext->rta_len = RTA_LENGTH(sizeof(uint32_t));
  const uint32_t mask = 1u << 3;  // RTEXT_FILTER_SKIP_STATS
  memcpy(RTA_DATA(ext), &mask, sizeof(mask));
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(ext->rta_len);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    const int e = errno;
    close(fd);
    return -e;
  }
  std::vector<char> buf(32768);
  ssize_t n;
  do {
    n = recv(fd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  const int e = errno;
  close(fd);
  if (n < 0) return -e;
  for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, uint32_t(n)); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      const nlmsgerr* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      return err->error < 0 ? err->error : -EPROTO;
    }
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) continue;
    const ifinfomsg* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    if (ifi->ifi_index != ifindex) continue;
    out->up = (ifi->ifi_flags & IFF_UP) != 0;
    const rtattr* tb[IFLA_MAX + 1];
    ParseAttrs(IFLA_RTA(ifi), int(IFLA_PAYLOAD(h)), tb, IFLA_MAX);
    out->peerElsewhere = tb[IFLA_LINK_NETNSID] != nullptr;
    if (tb[IFLA_LINKINFO]) {
      const rtattr* li[IFLA_INFO_MAX + 1];
      ParseAttrs(static_cast<const rtattr*>(RTA_DATA(tb[IFLA_LINKINFO])), int(RTA_PAYLOAD(tb[IFLA_LINKINFO])), li,
                 IFLA_INFO_MAX);
      const rtattr* kind = li[IFLA_INFO_KIND];
      if (kind) {
        const char* k = static_cast<const char*>(RTA_DATA(kind));
        out->veth = RTA_PAYLOAD(kind) >= 4 && strncmp(k, "veth", RTA_PAYLOAD(kind)) == 0;
      }
    }
    return 0;
  }
  return -EPROTO;
}

}  // namespace mdx
