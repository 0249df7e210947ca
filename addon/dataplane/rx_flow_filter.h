// Which worker receives a frame of the uplink when there are several (adaptive receive, rx_mode.h).
//
// Each worker has its own V2 + V3 pair in a PACKET_FANOUT_CBPF group of its own (the group picks
// the ring), so every group sees every frame; a socket filter on each member keeps the frames of
// its worker's flows: hash(addresses) % workers == worker. The hash XORs source and destination
// (IPv4 addresses, the low 32 bits of IPv6 addresses, else the low 32 bits of the MACs), so both
// directions of a flow land on one worker, as with PACKET_FANOUT_HASH before. A packet socket's
// filter sees the frame from its Ethernet header (net/packet/af_packet.c tpacket_rcv pushes back
// to the MAC header before run_filter); a frame it refuses is not a ring drop (no tp_drops). A frame
// too short for its loads (an IPv4 frame under 34 bytes, IPv6 under 54) is refused by every worker.
#pragma once
#include <linux/filter.h>
#include <stdint.h>

#include <vector>

namespace mdx {

inline std::vector<sock_filter> WorkerFlowFilter(uint32_t worker, uint32_t workers) {
  auto S = [](uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; };
  auto J = [](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return sock_filter{code, jt, jf, k}; };
  return {
      S(BPF_LD | BPF_H | BPF_ABS, 12),             // 0: ethertype
      J(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 4),  // 1: IPv4 -> 2, else -> 6
      S(BPF_LD | BPF_W | BPF_ABS, 26),             // 2: IPv4 source
      S(BPF_MISC | BPF_TAX, 0),                    // 3
      S(BPF_LD | BPF_W | BPF_ABS, 30),             // 4: IPv4 destination
      S(BPF_JMP | BPF_JA, 8),                      // 5: -> 14
      J(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 4),  // 6: IPv6 -> 7, else -> 11
      S(BPF_LD | BPF_W | BPF_ABS, 34),             // 7: IPv6 source, low 32 bits
      S(BPF_MISC | BPF_TAX, 0),                    // 8
      S(BPF_LD | BPF_W | BPF_ABS, 50),             // 9: IPv6 destination, low 32 bits
      S(BPF_JMP | BPF_JA, 3),                      // 10: -> 14
      S(BPF_LD | BPF_W | BPF_ABS, 8),              // 11: source MAC, low 32 bits
      S(BPF_MISC | BPF_TAX, 0),                    // 12
      S(BPF_LD | BPF_W | BPF_ABS, 2),              // 13: destination MAC, low 32 bits
      S(BPF_ALU | BPF_XOR | BPF_X, 0),             // 14: A = source ^ destination
      S(BPF_MISC | BPF_TAX, 0),                    // 15
      S(BPF_ALU | BPF_RSH | BPF_K, 16),            // 16
      S(BPF_ALU | BPF_XOR | BPF_X, 0),             // 17: fold the high half in
      S(BPF_MISC | BPF_TAX, 0),                    // 18
      S(BPF_ALU | BPF_RSH | BPF_K, 8),             // 19
      S(BPF_ALU | BPF_XOR | BPF_X, 0),             // 20
      S(BPF_ALU | BPF_MOD | BPF_K, workers),       // 21
      J(BPF_JMP | BPF_JEQ | BPF_K, worker, 0, 1),  // 22
      S(BPF_RET | BPF_K, 0xffffffffu),             // 23: this worker's: the whole frame
      S(BPF_RET | BPF_K, 0),                       // 24: another worker's
  };
}

}  // namespace mdx
