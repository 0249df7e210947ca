// The demux engine: worker threads that poll the uplink and the ports' RX queues, parse, decide
// (decision.h), hand frames to the egress backends and flush them once per pass.
//
// Threads and ownership:
// - Each worker owns one uplink PacketRing (all workers' uplink rings form one PACKET_FANOUT group
//   when workers > 1) and transmits to the uplink on it, so uplink TX needs no lock.
// - Port backends (backends/port_backend.h) live in a registry indexed by slot. RX queue q of slot s
//   is polled by worker (s + q) % workers; TX may be used by any worker under the backend's lock.
// - The port table is an immutable snapshot (TableHolder); workers read it between quiescent points
//   (Epochs). Detaching a port unpublishes it, waits for quiescence, then closes it.
// - Counters: engine_counters.h (single writer per worker block, relaxed stores).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/backends/port_backend.h"
#include "dataplane/decision.h"
#include "dataplane/engine_counters.h"
#include "dataplane/epochs.h"
#include "dataplane/fdb.h"
#include "dataplane/frame.h"
#include "dataplane/port_table.h"
#include "dataplane/rx_mode.h"
#include "dataplane/soft_offload.h"
#include "io/frame_ring.h"
#include "io/packet_ring.h"
#include "io/tap_queue.h"
#include "io/xsk_socket.h"
#include "xdp/xdp_program.h"

namespace mdx {

struct EngineOptions {
  std::string uplink, netns;
  int workers = 1;
  uint32_t maxSlots = 8192;
  bool learning = false;
  uint32_t ageingMs = 300000;
  int fanoutGroup = 0;
  bool promisc = true;
  bool qdiscBypass = false;
  uint32_t uplinkBlockSize = 1 << 20, uplinkBlocks = 8, uplinkTxFrames = 1024;
  uint32_t portBlockSize = 1 << 18, portBlocks = 4, portTxFrames = 512;
  bool portTxCopy = false;  // port TX with sendmmsg (copied skbs) instead of the TX ring
  std::vector<int> cpus;  // pin worker i to cpus[i % size] (empty: no pinning)
  // Uplink RX backend: AF_PACKET rings alone, or the XDP program in front of them (engine_xdp.cc):
  // it finishes what the kernel can and passes the rest to the rings. xdpGeneric: skb-mode XDP.
  bool xdp = false;
  bool xdpGeneric = false;
  // Backend 'tc' (with xdp = true, xdpSockets = false): the same program's maps, but its tc ingress
  // program (tcx) forwards known unicast to kernel ports as whole skbs, and the uplink sockets carry
  // its socket filter (engine_xdp.cc). One worker only.
  bool tc = false;
  // Backend 'tc': deliver into a veth port's peer with bpf_redirect_peer where that peer lives in
  // another namespace (engine_xdp.cc TcPeerProbe); false: always bpf_redirect to the port device.
  bool tcPeer = true;
  // With xdp: what userspace must see comes up through an AF_XDP socket per worker (RX queue =
  // worker index, io/xsk_socket.h) instead of XDP_PASS to the AF_PACKET rings.
  bool xdpSockets = true;
  // Receive (rx_mode.h): 0 adaptive (uplink: V2 ring at low rates, V3 blocks once V2 falls
  // behind; each worker its own pair, flows split by rx_flow_filter.h), 2 V2 rings only, 3 V3 only.
  // Ports receive on V2 rings unless rxMode is 3.
  int rxMode = 0;
  uint32_t uplinkSlots = 16384, portSlots = 512;  // V2 ring slots (2 KiB each)
  // Fanout rollover between the uplink's V2 and V3 rings (engine_uplink.cc): frames survive a
  // descheduled worker, but a flow split across the two rings can be delivered out of order.
  bool uplinkRollover = true;
  uint32_t spinUs = 20;  // keep polling without sleeping this long after the last frame
  // Fair-scheduler slice of the workers (SetThisThreadSlice; 0: the kernel's default, ~3 ms): a
  // short slice lets a waking worker preempt CPU hogs on a busy host without real-time priority.
  uint32_t sliceUs = 100;
  // Real-time priority of the workers (SCHED_FIFO 1..99; 0: the normal scheduler). On a busy host
  // a normal-priority worker waits behind other tasks while the kernel keeps filling its rings;
  // a FIFO worker runs as soon as its ring has frames (it sleeps in epoll when idle, and the
  // kernel's RT throttling, sched_rt_runtime_us, leaves other tasks 5% of a CPU it spins on).
  int realtimePriority = 0;
};

// epoll tags: a port's RX queue q is slot | (q + 1) << 32.
constexpr uint64_t kTagUplink = 0xffffffffull;
constexpr uint64_t kTagEvent = 0xfffffffeull;
constexpr uint64_t kTagUplinkFast = 0xfffffffdull;
constexpr uint64_t kTagXsk = 0xfffffffcull;  // the worker's AF_XDP socket (engine_xdp.cc)

// What a worker tells the control plane about an fd (engineOnEvent in node/engine_binding.cc).
enum class FdEventKind : int32_t { kError = 1, kDisarmed = 2, kUplinkReplaced = 3 };
struct FdEvent {
  FdEventKind kind;
  uint32_t slot;   // 0 = uplink
  int32_t queue;   // RX queue, or -1
  int32_t error;   // positive errno (SO_ERROR), 0 when none was pending
  int32_t worker;
};

struct Worker {
  int idx = 0;
  int epfd = -1;
  int evfd = -1;
  int reader = -1;
  std::unique_ptr<PacketRing> uplink;        // PACKET_VNET_HDR, RX ring + TX ring
  std::unique_ptr<PacketRing> uplinkSender;  // send-only socket for frames bigger than a TX slot
  std::thread thread;
  uint64_t* wc = nullptr;  // worker counters
  uint64_t* sc = nullptr;  // slot counters (maxSlots * kSlotWords)
  std::vector<uint8_t> dirty;
  std::vector<uint32_t> dirtyList;
  std::vector<uint32_t> decision;
  std::vector<uint8_t> scratchIn, scratchOut, scratchSoft;  // kMaxFrameBytes + a tag each
  bool uplinkDirty = false;
  std::unique_ptr<FrameRing> uplinkFast;  // adaptive receive: the V2 member of the uplink's group
  RxModeController rxc;
  // In-order hand-over between the uplink's rings (engine_uplink.cc AdaptUplink): after a switch
  // back to V2 the V3 ring's open block still holds older frames until its retire timer closes
  // it, so the V2 ring is left alone until then.
  uint64_t holdV2UntilUs = 0;
  // Uplink replacement (ReplaceUplink): the control thread hands new rings over, the worker
  // swaps them in at the top of its loop and hands the old ones back for closing.
  struct UplinkRings {
    std::unique_ptr<PacketRing> v3, sender;
    std::unique_ptr<FrameRing> v2;
    std::unique_ptr<XskSocket> xsk;  // XDP backend: this worker's AF_XDP socket on the new device
  };
  std::atomic<UplinkRings*> nextUplink{nullptr};
  std::atomic<UplinkRings*> oldUplink{nullptr};
  bool uplinkArmed = true, uplinkFastArmed = true;
  std::unique_ptr<XskSocket> xsk;  // XDP backend: AF_XDP socket of RX queue idx (engine_xdp.cc)
};

class Engine {
 public:
  static int Create(const EngineOptions& o, std::unique_ptr<Engine>* out, std::string* err);
  ~Engine();
  int Start();
  int Stop();
  int SetTable(const uint8_t* blob, size_t len, std::string* err);
  // Ring options for a port's AF_PACKET socket (the engine's netns and defaults; 0 = default).
  RingOptions PortRingOptions(const std::string& ifname, uint32_t blockSize, uint32_t blocks, uint32_t txFrames) const;
  // V2 receive ring for a port (unless rxMode is 3: then the port receives on its V3 ring).
  FrameRingOptions PortFrameRingOptions(const std::string& ifname, uint32_t blockSize, uint32_t blocks) const;
  // Tap options for a port's queues (the engine's netns; IFF_VNET_HDR with csum/TSO offloads).
  TapOptions PortTapOptions(const std::string& ifname, int queues) const;
  // Publish backend b in slot and start polling its RX queues. 0 or -errno (*err says why).
  int Attach(uint32_t slot, std::unique_ptr<PortBackend> b, std::string* err);
  int Detach(uint32_t slot);
  // Open new uplink rings per worker (the device was re-created: new ifindex) and swap them in
  // while running; the old rings are closed. 0 or -errno (nothing changed on failure).
  int ReplaceUplink(std::string* err);
  // Where workers report fd events (called on a worker thread; set before Start()).
  void SetEventHandler(std::function<void(const FdEvent&)> fn);
  // Queue frames from a JS port (processed by worker 0). Returns frames accepted.
  int Inject(uint32_t slot, const uint8_t* data, size_t dataLen, const uint32_t* offsets, const uint32_t* lengths,
             uint32_t n);
  uint64_t* counters() { return counters_->data(); }
  size_t counterWords() const { return counters_->size(); }
  // Keeps the counter memory alive for a JS view that may outlive the engine.
  std::shared_ptr<std::vector<uint64_t>> sharedCounters() const { return counters_; }
  const EngineOptions& options() const { return opts_; }
  // The uplink device's MTU when it was last opened (0 = unknown). Kept here, not read from the
  // worker's ring, which the worker swaps in ReplaceUplink.
  uint32_t uplinkMtu() const { return uplinkMtu_; }
  bool running() const { return running_; }
  // XDP backend state for status: "" (not used), "native"/"generic" (attached, in sync), or the
  // reason the program hands everything to the AF_PACKET rings.
  std::string xdpState();
  // The XDP program's own counters (xdp/xdp_maps.h MDX_ST_*), summed over CPUs; -ENOENT without XDP.
  int XdpStatsRead(XdpStats* s);
  // Backend 'tc': probe a kernel port's device again (is it up, a veth, its peer in another
  // namespace?), or every port's with slot 0, and re-sync the maps if the delivery changed; the
  // control plane calls it on a port's link events (a peer moved between namespaces goes down and
  // up). Returns the number of ports whose delivery changed, or -errno.
  int RefreshTcPeers(uint32_t slot, std::string* err);
  // Backend 'tc': 1 when the tc program delivers into slot's veth peer (bpf_redirect_peer), else 0.
  int TcPeer(uint32_t slot);

 private:
  Engine() = default;
  void Run(Worker* w);
  int StopLocked();  // controlMu_ held
  // An fd reported EPOLLERR/EPOLLHUP: read its pending error, count, report; take it out of the
  // poll set when the condition does not clear. Returns true when the fd may still be read.
  bool OnFdError(Worker& w, uint64_t tag, uint32_t events);
  void Emit(const FdEvent& ev);
  // The uplink's rings for one worker (engine_uplink.cc): a V3 ring (RX + TX) and, in adaptive
  // or V2 mode with one worker, a V2 ring in one CBPF fanout group with it. 0 or -errno.
  RingOptions UplinkRingOptions(int fanoutGroup) const;
  // Also the send socket for frames bigger than a TX ring slot.
  int OpenUplink(int worker, int fanoutGroup, Worker::UplinkRings* out, std::string* err) const;
  void TakeNextUplink(Worker& w);
  // Adaptive receive: feed the pass to the worker's controller and retarget the fanout group.
  void AdaptUplink(Worker& w, int v2Frames, int v3Frames, bool v2Capped, uint64_t nowUs);
  void RefreshRingDrops(Worker& w);
  // XDP backend (engine_xdp.cc)
  int XdpCreate(std::string* err);
  int XdpAttach(std::string* err);
  int TcFilterRings(PacketRing* v3, FrameRing* v2, std::string* err);  // backend 'tc'
  int TcPortAttach(uint32_t slot, PortBackend* b, bool filterOnly, std::string* err);  // backend 'tc'
  uint8_t TcPeerProbe(const PortBackend* b) const;  // backend 'tc', in the switch's netns: MDX_PORT_PEER or 0

  int XdpSyncLocked(std::string* err);  // controlMu_ held
  void XdpFoldCounters(Worker& w);      // worker 0: the program's counters into its block
  // AF_XDP sockets: one per worker whose index is an RX queue of the uplink (queue 0 always).
  int XskOpen(int worker, std::unique_ptr<XskSocket>* out, std::string* err) const;
  int XskReceive(Worker& w, const PortTable& t, uint32_t nowMs);  // on the worker
  void XskSwapIn(Worker& w, Worker::UplinkRings* next);           // on the worker (TakeNextUplink)
  // ReplaceUplink: re-attach the program to the new device and open the workers' new sockets.
  int XdpReplaceUplink(std::vector<std::unique_ptr<Worker::UplinkRings>>* rings, std::string* err);
  void DrainInject(Worker& w, const PortTable& t);
  // Process one frame with or without the learning FDB.
  void Input(Worker& w, const PortTable& t, Frame f, uint32_t tci, uint32_t inSlot, uint32_t nowMs);
  template <class F>
  void Process(Worker& w, const PortTable& t, const F& fdb, Frame f, uint32_t tci, uint32_t inSlot, uint32_t nowMs);
  void SendToSlot(Worker& w, uint32_t slot, const Frame& f);
  void SendUplink(Worker& w, Frame f, uint16_t vlan);
  void Account(Worker& w, uint32_t slot, const TxTally& t);
  void MarkDirty(Worker& w, uint32_t slot);
  void FlushAll(Worker& w);
  int RxWorkerOf(uint32_t slot, uint32_t q) const { return int((slot + q) % workers_.size()); }
  uint64_t* SlotC(Worker& w, uint32_t slot) { return w.sc + size_t(slot) * kSlotWords; }

  EngineOptions opts_;
  std::shared_ptr<std::vector<uint64_t>> counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::atomic<PortBackend*>> ports_;
  std::mutex controlMu_;  // serializes control operations (attach/detach/setTable/start/stop)
  TableHolder table_;
  Epochs epochs_;
  std::unique_ptr<Fdb> fdb_;
  std::unique_ptr<XdpProgram> xdp_;
  std::mutex xdpMu_;  // Sync vs XdpFoldCounters
  XdpStats xdpLast_;
  std::string xdpError_;
  std::vector<uint64_t> xdpSlotLast_;  // packets, bytes per slot
  std::vector<uint64_t> xdpSlotRxLast_;  // backend 'tc': per slot, taken by the ports' program
  std::vector<uint8_t> tcPeer_;          // backend 'tc': per slot, MDX_PORT_PEER or 0 (controlMu_)
  uint64_t xdpFloodLast_[MDX_XDP_FLOOD_MAPS][2] = {};
  std::atomic<bool> stop_{false};
  bool running_ = false;
  std::function<void(const FdEvent&)> onEvent_;
  uint32_t uplinkGeneration_ = 0;
  uint32_t uplinkMtu_ = 0;  // controlMu_ (Create, ReplaceUplink)
  // inject queue
  std::mutex injectMu_;
  std::vector<uint8_t> injectData_;
  std::vector<uint32_t> injectOff_, injectLen_, injectSlot_;
};

}  // namespace mdx
