// The per-worker flow filter (dataplane/rx_flow_filter.h), run by a classic BPF interpreter for the
// instructions it uses (the kernel's semantics: a load past the frame's end returns 0 = refuse).
#include "dataplane/rx_flow_filter.h"

#include <cstring>
#include <vector>

#include "test/harness.h"

namespace {

uint32_t RunFilter(const std::vector<sock_filter>& p, const std::vector<uint8_t>& f) {
  uint32_t a = 0, x = 0;
  for (size_t pc = 0; pc < p.size(); pc++) {
    const sock_filter& i = p[pc];
    switch (i.code) {
      case BPF_LD | BPF_H | BPF_ABS:
        if (i.k + 2 > f.size()) return 0;
        a = uint32_t(f[i.k]) << 8 | f[i.k + 1];
        break;
      case BPF_LD | BPF_W | BPF_ABS:
        if (i.k + 4 > f.size()) return 0;
        a = uint32_t(f[i.k]) << 24 | uint32_t(f[i.k + 1]) << 16 | uint32_t(f[i.k + 2]) << 8 | f[i.k + 3];
        break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_ALU | BPF_XOR | BPF_X: a ^= x; break;
      case BPF_ALU | BPF_RSH | BPF_K: a >>= i.k; break;
      case BPF_ALU | BPF_MOD | BPF_K: a %= i.k; break;
      case BPF_JMP | BPF_JA: pc += i.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
      case BPF_RET | BPF_K: return i.k;
      default: return 0xdead;  // an instruction this interpreter does not know: fails the checks
    }
  }
  return 0xdead;  // fell off the end
}

std::vector<uint8_t> Ipv4(uint32_t src, uint32_t dst) {
  std::vector<uint8_t> f(60, 0);
  const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
  memcpy(f.data(), macs, 12);
  f[12] = 0x08;
  f[14] = 0x45;
  for (int b = 0; b < 4; b++) {
    f[26 + b] = uint8_t(src >> (24 - 8 * b));
    f[30 + b] = uint8_t(dst >> (24 - 8 * b));
  }
  return f;
}

// The worker (0..n-1) whose filter accepts f; -1 none, -2 more than one.
int Owner(const std::vector<uint8_t>& f, uint32_t n) {
  int owner = -1;
  for (uint32_t w = 0; w < n; w++) {
    const uint32_t r = RunFilter(mdx::WorkerFlowFilter(w, n), f);
    if (r == 0xdead) return -3;
    if (r == 0) continue;
    owner = owner == -1 ? int(w) : -2;
  }
  return owner;
}

}  // namespace

TEST("flow filter: every IPv4 frame has exactly one worker, the same for both directions") {
  for (uint32_t n : {2u, 3u, 4u, 7u}) {
    std::vector<int> per(n, 0);
    for (uint32_t i = 0; i < 256; i++) {
      const uint32_t a = 0x0a000001u + i * 7919u, b = 0x0a5d0032u + (i % 5);
      const int o = Owner(Ipv4(a, b), n);
      CHECK(o >= 0);
      CHECK_EQ(o, Owner(Ipv4(b, a), n));
      if (o >= 0) per[size_t(o)]++;
    }
    for (uint32_t w = 0; w < n; w++) CHECK(per[w] > 256 / int(n) / 3);  // every worker gets a share
  }
}

TEST("flow filter: IPv6 and non-IP frames have one worker; a frame too short for its loads none") {
  std::vector<uint8_t> v6(80, 0);
  v6[12] = 0x86;
  v6[13] = 0xdd;
  v6[37] = 1;
  v6[53] = 2;
  CHECK(Owner(v6, 3) >= 0);
  std::vector<uint8_t> arp(42, 0);
  arp[5] = 9;
  arp[12] = 0x08;
  arp[13] = 0x06;
  CHECK(Owner(arp, 3) >= 0);
  std::vector<uint8_t> runt = Ipv4(1, 2);
  runt.resize(30);
  CHECK_EQ(Owner(runt, 2), -1);
}
