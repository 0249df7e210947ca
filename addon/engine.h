// The demux engine: worker threads that poll the uplink and the port rings, parse, decide
// (demux.h), append to per-egress TX batches and flush once per batch.
//
// Threads and ownership:
// - Each worker owns one uplink PacketRing (all workers' uplink rings form one PACKET_FANOUT group
//   when workers > 1) and transmits to the uplink on it, so uplink TX needs no lock.
// - Port backends (Egress) live in a registry indexed by slot. A port's RX is polled by one worker
//   (slot % workers); its TX may be used by any worker under the egress's spinlock.
// - The port table is an immutable snapshot (TableHolder); workers read it between quiescent points
//   (Epochs). Detaching a port unpublishes it, waits for quiescence, then closes it.
// - Counters live in one uint64 array (shared memory, viewed from TypeScript as a BigUint64Array):
//   a header, then per worker a block of worker counters followed by per-slot counters. Each worker
//   writes only its own block (single writer, relaxed stores); TypeScript sums the blocks.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "demux.h"
#include "packet_ring.h"
#include "port_table.h"
#include "tap_queue.h"

namespace mdx {

// Counter layout (keep in sync with src/dataplane/counters.ts).
constexpr uint32_t kHeaderWords = 8;  // magic, version, workers, maxSlots, workerWords, slotWords, 0, 0
constexpr uint32_t kWorkerWords = 32;
enum WorkerField : uint32_t {
  kWLoops = 0,
  kWRxFrames = 1,
  kWForwarded = 2,
  kWEgressCopies = 3,
  kWTxDropped = 4,
  kWTableSwaps = 5,
  kWFdbLearned = 6,
  kWDrops = 8,  // kDropCount words: drops by reason
  // Links that come and go (engine_links.cc)
  kWFdErrors = 24,    // EPOLLERR on a ring whose pending error was read and cleared (ENETDOWN: link down)
  kWFdDisarmed = 25,  // fds taken out of the poll set (a persistent error or EPOLLHUP: device gone)
  kWUplinkSwaps = 26, // uplink rings replaced (the uplink device was re-created)
};
constexpr uint32_t kSlotWords = 8;
enum SlotField : uint32_t {
  kSRxPackets = 0,
  kSRxBytes = 1,
  kSTxPackets = 2,
  kSTxBytes = 3,
  kSTxDropped = 4,
  kSRxDropped = 5,
  kSForwarded = 6,
  kSRingDrops = 7,  // kernel ring drops (PACKET_STATISTICS tp_drops) of this slot's RX ring
};

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
};

class Engine;

// epoll tags: a port ring is its slot; a tap queue is slot | (queue + 1) << 32.
constexpr uint64_t kTagUplink = 0xffffffffull;
constexpr uint64_t kTagEvent = 0xfffffffeull;

// What a worker tells the control plane about an fd (engineOnEvent in engine_binding.cc).
enum class FdEventKind : int32_t { kError = 1, kDisarmed = 2, kUplinkReplaced = 3 };
struct FdEvent {
  FdEventKind kind;
  uint32_t slot;   // 0 = uplink
  int32_t queue;   // tap queue, or -1
  int32_t error;   // positive errno (SO_ERROR), 0 when none was pending
  int32_t worker;
};

// A JS port: frames go to a ThreadSafeFunction in batches.
struct JsBatch {
  std::vector<uint8_t> data;
  std::vector<uint32_t> offsets, lengths;
};

enum class EgressKind { kPacket, kJs, kTap };

struct Egress {
  uint32_t slot = 0;
  EgressKind kind = EgressKind::kPacket;
  int rxWorker = -1;
  std::unique_ptr<PacketRing> ring;
  // sendmmsg TX (portTxCopy): frames copied into fixed 2 KiB cells, sent in one call per flush
  std::vector<uint8_t> mbuf;
  uint32_t mlens[64];
  uint32_t mcount = 0;
  std::atomic_flag lock = ATOMIC_FLAG_INIT;
  // tap / macvtap queues (RX of queue q polled by worker (slot + q) % workers; TX round-robin)
  std::vector<std::unique_ptr<TapQueue>> taps;
  uint32_t tapNext = 0;
  // JS
  Napi::ThreadSafeFunction tsfn;
  std::unique_ptr<JsBatch> pending;
  void Lock() {
    while (lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  void Unlock() { lock.clear(std::memory_order_release); }
};

// Learning FDB (optional): fixed-size open-addressing table of (vlan, mac) -> slot with last-seen
// time. Racy by design between workers (a torn update can misdirect a frame until the next one
// refreshes it), never unsafe: every field is an atomic word.
class Fdb {
 public:
  explicit Fdb(uint32_t ageingMs) : ageingMs_(ageingMs), entries_(kSize) {}
  void Learn(uint16_t vlan, uint64_t mac, uint32_t slot, uint32_t nowMs);
  uint32_t LookupSlot(uint16_t vlan, uint64_t mac, uint32_t nowMs) const;  // 0 = none
  void ForgetSlot(uint32_t slot);

 private:
  static constexpr uint32_t kSize = 1 << 16, kProbe = 16;
  struct Entry {
    std::atomic<uint64_t> key{0};
    std::atomic<uint32_t> slot{0};
    std::atomic<uint32_t> seenMs{0};
  };
  uint32_t ageingMs_;
  std::vector<Entry> entries_;
};

struct Worker {
  int idx = 0;
  int epfd = -1;
  int evfd = -1;
  int reader = -1;
  std::unique_ptr<PacketRing> uplink;
  std::thread thread;
  uint64_t* wc = nullptr;  // worker counters
  uint64_t* sc = nullptr;  // slot counters (maxSlots * kSlotWords)
  std::vector<uint8_t> dirty;
  std::vector<uint32_t> dirtyList;
  std::vector<uint32_t> decision;
  std::vector<uint8_t> scratchIn, scratchOut, tapBuf;
  std::vector<uint32_t> tapLens;
  bool uplinkDirty = false;
  // Uplink replacement (ReplaceUplink): the control thread hands a new ring over, the worker
  // swaps it in at the top of its loop and hands the old one back for closing.
  std::atomic<PacketRing*> nextUplink{nullptr};
  std::atomic<PacketRing*> oldUplink{nullptr};
  bool uplinkArmed = true;
};

class Engine {
 public:
  static int Create(const EngineOptions& o, std::unique_ptr<Engine>* out, std::string* err);
  ~Engine();
  int Start();
  int Stop();
  int SetTable(const uint8_t* blob, size_t len, std::string* err);
  int AttachPacket(uint32_t slot, const std::string& ifname, uint32_t blockSize, uint32_t blocks, uint32_t txFrames,
                   std::string* err);
  int AttachJs(uint32_t slot, Napi::ThreadSafeFunction tsfn, std::string* err);
  // A macvtap (/dev/tapN of an existing macvtap NAME) or, failing that, a tun/tap device NAME
  // (created if absent), with `queues` queues; frames without virtio_net_hdr.
  int AttachTap(uint32_t slot, const std::string& ifname, int queues, std::string* err);
  int Detach(uint32_t slot);
  // Open a new uplink ring per worker (the device was re-created: new ifindex) and swap them in
  // while running; the old rings are closed. 0 or -errno (nothing changed on failure).
  int ReplaceUplink(std::string* err);
  // Events about fds (errors, disarmed fds, uplink swaps), delivered to JS. Set before Start().
  void SetEventHandler(Napi::ThreadSafeFunction tsfn);
  // Queue frames from a JS port (processed by worker 0). Returns frames accepted.
  int Inject(uint32_t slot, const uint8_t* data, size_t dataLen, const uint32_t* offsets, const uint32_t* lengths,
             uint32_t n);
  uint64_t* counters() { return counters_->data(); }
  size_t counterWords() const { return counters_->size(); }
  // Keeps the counter memory alive for a JS view that may outlive the engine.
  std::shared_ptr<std::vector<uint64_t>> sharedCounters() const { return counters_; }
  const EngineOptions& options() const { return opts_; }
  bool running() const { return running_; }

 private:
  Engine() = default;
  void Run(Worker* w);
  // An fd reported EPOLLERR/EPOLLHUP: read its pending error, count, tell JS; take it out of the
  // poll set when the condition does not clear. Returns true when the fd may still be read.
  bool OnFdError(Worker& w, uint64_t tag, uint32_t events);
  void Emit(const FdEvent& ev);
  void TakeNextUplink(Worker& w);
  RingOptions UplinkRingOptions(int fanoutGroup) const;
  void DrainInject(Worker& w, const PortTable& t);
  template <class F>
  void Process(Worker& w, const PortTable& t, const F& fdb, const uint8_t* f, uint32_t len, uint32_t tci,
               uint32_t inSlot, uint32_t nowMs);
  void SendToSlot(Worker& w, uint32_t slot, const uint8_t* f, uint32_t len);
  void SendUplink(Worker& w, const uint8_t* f, uint32_t len, uint16_t vlan);
  void FlushAll(Worker& w);
  void FlushJs(Worker& w, Egress* e);    // e locked by caller
  void FlushMmsg(Worker& w, Egress* e);  // e locked by caller
  uint64_t* SlotC(Worker& w, uint32_t slot) { return w.sc + size_t(slot) * kSlotWords; }

  EngineOptions opts_;
  std::shared_ptr<std::vector<uint64_t>> counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::atomic<Egress*>> egress_;
  std::mutex controlMu_;  // serializes control operations (attach/detach/setTable/start/stop)
  TableHolder table_;
  Epochs epochs_;
  std::unique_ptr<Fdb> fdb_;
  std::atomic<bool> stop_{false};
  bool running_ = false;
  Napi::ThreadSafeFunction events_;
  bool hasEvents_ = false;
  uint32_t uplinkGeneration_ = 0;
  // inject queue
  std::mutex injectMu_;
  std::vector<uint8_t> injectData_;
  std::vector<uint32_t> injectOff_, injectLen_, injectSlot_;
};

}  // namespace mdx
