// A minimal native relay between two AF_PACKET ports (both directions, one thread): every frame
// received on one side is sent out of the other. With vnetHdr the virtio_net_hdr travels with the
// frame, so GSO super-frames and CHECKSUM_PARTIAL frames (a real TCP stream over veth) are relayed
// intact instead of being truncated or dropped (EMSGSIZE). Used by tests and as a reference for
// the engine: RxDrain -> TxPush(Vnet) -> one Flush per drained batch.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "io/packet_ring.h"
#include "io/stop_event.h"

struct RelayStats {
  uint64_t forwarded[2] = {0, 0}, dropped[2] = {0, 0};  // [0]: A -> B, [1]: B -> A
  int error = 0;                                         // positive errno that stopped the thread
};

class Relay {
 public:
  // Opens both sockets and starts the thread. 0 or -errno; *step names the failing step.
  static int Start(RingOptions a, RingOptions b, std::unique_ptr<Relay>* out, const char** step);
  ~Relay() { Stop(); }
  void Stop();  // idempotent: signal, join
  // After Stop: close both sockets now (promisc, receive hooks).
  void CloseRings();
  RelayStats Stats() const;  // after Stop
  PacketRing* side(int i) const { return side_[i].get(); }

 private:
  Relay() = default;
  int Pump(int from);
  void Run();
  std::unique_ptr<PacketRing> side_[2];
  StopEvent stop_;
  std::thread thread_;
  std::atomic<int> error_{0};
  uint64_t forwarded_[2] = {0, 0}, dropped_[2] = {0, 0};  // written by the thread, read after join
  std::vector<uint8_t> tmp_;
};
