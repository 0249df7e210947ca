// Demux engine: workers, batching, table swaps. See engine.h for the threading model.
#include "dataplane/engine.h"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "dataplane/backends/packet_backend.h"
#include "dataplane/backends/packet_ring_backend.h"
#include "io/netns.h"
#include "io/thread_util.h"

namespace mdx {

namespace {

constexpr size_t kInjectMaxFrames = 1 << 16;
constexpr int kQuiesceTimeoutMs = 3000;

inline uint64_t NowUs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

inline uint32_t NowMs() {
  return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

// epoll tag of RX queue q of the port in slot: slot | (q + 1) << 32 (never kTagUplink/kTagEvent).
inline uint64_t PortTag(uint32_t slot, uint32_t q) { return uint64_t(slot) | (uint64_t(q + 1) << 32); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lifecycle

int Engine::Create(const EngineOptions& o, std::unique_ptr<Engine>* out, std::string* err) {
  if (o.workers < 1 || o.workers > 32) {
    *err = "workers must be 1..32";
    return -EINVAL;
  }
  if (o.maxSlots < 2 || o.maxSlots > 65536) {
    *err = "maxSlots must be 2..65536";
    return -EINVAL;
  }
  std::unique_ptr<Engine> e(new Engine());
  e->opts_ = o;
  const size_t perWorker = kWorkerWords + size_t(o.maxSlots) * kSlotWords;
  e->counters_ = std::make_shared<std::vector<uint64_t>>(kHeaderWords + perWorker * o.workers, 0);
  uint64_t* c = e->counters_->data();
  c[0] = kCountersMagic;
  c[1] = 1;
  c[2] = uint64_t(o.workers);
  c[3] = o.maxSlots;
  c[4] = kWorkerWords;
  c[5] = kSlotWords;
  e->ports_ = std::vector<std::atomic<PortBackend*>>(o.maxSlots);
  for (auto& a : e->ports_) a.store(nullptr);
  if (o.learning) e->fdb_.reset(new Fdb(o.ageingMs));
  for (int i = 0; i < o.workers; i++) {
    std::unique_ptr<Worker> w(new Worker());
    w->idx = i;
    w->wc = c + kHeaderWords + perWorker * i;
    w->sc = w->wc + kWorkerWords;
    w->dirty.assign(o.maxSlots, 0);
    w->scratchIn.resize(kMaxFrameBytes + kVlanTagLen);
    w->scratchOut.resize(kMaxFrameBytes + kVlanTagLen);
    w->scratchSoft.resize(kMaxFrameBytes + kVlanTagLen);
    w->reader = e->epochs_.Register();
    if (w->reader < 0) {
      *err = "too many workers for the epoch table";
      return -EINVAL;
    }
    Worker::UplinkRings rings;
    const int rc = e->OpenUplink(i, o.fanoutGroup, &rings, err);
    if (rc < 0) return rc;
    w->uplink = std::move(rings.v3);
    w->uplinkFast = std::move(rings.v2);
    w->uplinkSender = std::move(rings.sender);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->evfd < 0) {
      *err = "epoll_create1/eventfd";
      const int en = errno;
      if (w->epfd >= 0) close(w->epfd);
      if (w->evfd >= 0) close(w->evfd);
      return -en;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTagUplink;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->uplink->fd(), &ev);
    if (w->uplinkFast) {
      ev.data.u64 = kTagUplinkFast;
      epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->uplinkFast->fd(), &ev);
    }
    ev.data.u64 = kTagEvent;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev);
    e->workers_.push_back(std::move(w));
  }
  // An empty table until the control plane publishes one.
  std::unique_ptr<PortTable> empty;
  static const uint8_t kEmptyBlob[16] = {0x4d, 0x44, 0x58, 0x54, 1, 0, 0, 0, 0, 0, 0, 0, 0xea, 0x05, 0, 0};
  std::string berr;
  PortTable::Build(kEmptyBlob, sizeof(kEmptyBlob), o.maxSlots, &empty, &berr);
  e->table_.Swap(std::move(empty), &e->epochs_, kQuiesceTimeoutMs);
  if (!e->workers_.empty()) e->uplinkMtu_ = e->workers_[0]->uplink->mtu();
  if (o.xdp) {
    int rc = e->XdpCreate(err);
    if (rc < 0) return rc;
  }
  *out = std::move(e);
  return 0;
}

Engine::~Engine() {
  Stop();
  for (auto& p : ports_) delete p.exchange(nullptr);
  for (auto& w : workers_) {
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
  }
}

int Engine::Start() {
  std::lock_guard<std::mutex> g(controlMu_);
  if (running_) return -EALREADY;
  if (xdp_) {
    const int rc = xdp_->attached() ? 0 : XdpAttach(&xdpError_);
    if (rc < 0) return rc;
    xdp_->SetLive(true);
  }
  stop_.store(false);
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] { Run(wp); });
  }
  running_ = true;
  if (opts_.realtimePriority > 0) {
    sched_param sp{};
    sp.sched_priority = opts_.realtimePriority;
    for (auto& w : workers_) {
      const int rc = pthread_setschedparam(w->thread.native_handle(), SCHED_FIFO, &sp);
      if (rc != 0) {  // not applied: nothing runs half-configured
        StopLocked();
        return -rc;
      }
    }
  }
  return 0;
}

int Engine::Stop() {
  std::lock_guard<std::mutex> g(controlMu_);
  return StopLocked();
}

int Engine::StopLocked() {
  if (!running_) return 0;
  stop_.store(true);
  for (auto& w : workers_) {
    uint64_t one = 1;
    (void)!write(w->evfd, &one, sizeof(one));
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (xdp_) {  // stopped: the uplink's frames wait in the rings again, as without XDP
    xdp_->SetLive(false);
    xdp_->Detach();
  }
  running_ = false;
  return 0;
}

int Engine::SetTable(const uint8_t* blob, size_t len, std::string* err) {
  std::unique_ptr<PortTable> t;
  int rc = PortTable::Build(blob, len, opts_.maxSlots, &t, err);
  if (rc < 0) return rc;
  std::lock_guard<std::mutex> g(controlMu_);
  if (!table_.Swap(std::move(t), &epochs_, kQuiesceTimeoutMs)) {
    *err = "workers did not pass a quiescent point in time (old table leaked)";
    return -ETIMEDOUT;
  }
  Bump(workers_[0]->wc[kWTableSwaps]);
  if (xdp_) XdpSyncLocked(&xdpError_);  // on failure the program passes everything to the rings
  return 0;
}

RingOptions Engine::PortRingOptions(const std::string& ifname, uint32_t blockSize, uint32_t blocks,
                                    uint32_t txFrames) const {
  RingOptions ro;
  ro.ifname = ifname;
  ro.netns = opts_.netns;
  ro.blockSize = blockSize ? blockSize : opts_.portBlockSize;
  ro.blockCount = blocks ? blocks : opts_.portBlocks;
  ro.txFrameCount = txFrames ? txFrames : opts_.portTxFrames;
  ro.promisc = true;
  ro.qdiscBypass = opts_.qdiscBypass;
  ro.ignoreOutgoing = true;
  return ro;
}

FrameRingOptions Engine::PortFrameRingOptions(const std::string& ifname, uint32_t blockSize, uint32_t blocks) const {
  FrameRingOptions fo;
  fo.ifname = ifname;
  fo.netns = opts_.netns;
  // Explicit ring bytes (blockSize x blocks) become slots of 2 KiB.
  fo.slots = blocks ? uint32_t(uint64_t(blocks) * (blockSize ? blockSize : opts_.portBlockSize) / fo.slotSize) : opts_.portSlots;
  fo.promisc = true;
  return fo;
}

TapOptions Engine::PortTapOptions(const std::string& ifname, int queues) const {
  TapOptions to;
  to.ifname = ifname;
  to.netns = opts_.netns;
  to.vnetHdr = true;
  to.queues = queues;
  return to;
}

int Engine::Attach(uint32_t slot, std::unique_ptr<PortBackend> b, std::string* err) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) {
    *err = "slot out of range";
    return -EINVAL;
  }
  std::lock_guard<std::mutex> g(controlMu_);
  if (ports_[slot].load() != nullptr) {
    *err = "slot already attached";
    return -EEXIST;
  }
  if (xdp_ && opts_.tc && b->kernelIfindex() > 0) {
    // The socket filter and the port's tc link, both before the port is published: until the map
    // sync below names the device, the tc program finds no entry and passes every frame (the
    // socket keeps it). A filter without the link would drop what nothing forwards, so a link
    // that cannot be made fails the attach.
    int rc = TcPortAttach(slot, b.get(), true, err);
    if (rc == 0) rc = TcPortAttach(slot, b.get(), false, err);
    if (rc < 0) return rc;
  }
  PortBackend* raw = b.release();
  ports_[slot].store(raw, std::memory_order_release);
  for (uint32_t q = 0; q < raw->rxQueues(); q++) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = PortTag(slot, q);
    if (epoll_ctl(workers_[RxWorkerOf(slot, q)]->epfd, EPOLL_CTL_ADD, raw->rxFd(q), &ev) < 0) {
      const int en = errno;
      for (uint32_t k = 0; k < q; k++) epoll_ctl(workers_[RxWorkerOf(slot, k)]->epfd, EPOLL_CTL_DEL, raw->rxFd(k), nullptr);
      ports_[slot].store(nullptr);
      if (xdp_ && opts_.tc) {
        std::lock_guard<std::mutex> xg(xdpMu_);
        xdp_->DetachTcPort(slot);
      }
      if (epochs_.Synchronize(kQuiesceTimeoutMs)) delete raw;  // else leaked rather than freed under a reader
      *err = "epoll_ctl";
      return -en;
    }
  }
  if (xdp_ && opts_.tc && raw->kernelIfindex() > 0) {  // a re-attached device is probed anew
    uint8_t f = 0;
    RunInNetns(opts_.netns, [&] { return int(f = TcPeerProbe(raw)); });  // not entered: 0 (bpf_redirect)
    tcPeer_[slot] = f;
  }
  if (xdp_ && raw->kernelIfindex() > 0) XdpSyncLocked(&xdpError_);
  return 0;
}

int Engine::Detach(uint32_t slot) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) return -EINVAL;
  std::lock_guard<std::mutex> g(controlMu_);
  PortBackend* b = ports_[slot].exchange(nullptr);
  if (!b) return -ENOENT;
  if (xdp_ && opts_.tc) {
    std::lock_guard<std::mutex> xg(xdpMu_);
    xdp_->DetachTcPort(slot);
    tcPeer_[slot] = 0;
  }
  if (xdp_ && b->kernelIfindex() > 0) XdpSyncLocked(&xdpError_);  // no more kernel redirects to it
  for (uint32_t q = 0; q < b->rxQueues(); q++)
    epoll_ctl(workers_[RxWorkerOf(slot, q)]->epfd, EPOLL_CTL_DEL, b->rxFd(q), nullptr);
  if (!epochs_.Synchronize(kQuiesceTimeoutMs)) return -ETIMEDOUT;  // leaked rather than freed under a reader
  if (fdb_) fdb_->ForgetSlot(slot);
  delete b;
  return 0;
}

int Engine::Inject(uint32_t slot, const uint8_t* data, size_t dataLen, const uint32_t* offsets,
                   const uint32_t* lengths, uint32_t n) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) return -EINVAL;
  uint32_t accepted = 0;
  {
    std::lock_guard<std::mutex> g(injectMu_);
    for (uint32_t i = 0; i < n; i++) {
      if (injectLen_.size() >= kInjectMaxFrames) break;
      const uint64_t off = offsets[i];
      const uint32_t len = lengths[i];
      if (off > dataLen || len > dataLen - off || len > 65536) continue;
      injectOff_.push_back(uint32_t(injectData_.size()));
      injectLen_.push_back(len);
      injectSlot_.push_back(slot);
      injectData_.insert(injectData_.end(), data + off, data + off + len);
      accepted++;
    }
  }
  uint64_t one = 1;
  (void)!write(workers_[0]->evfd, &one, sizeof(one));
  return int(accepted);
}

// ---------------------------------------------------------------------------------------------
// Data path

void Engine::Run(Worker* wp) {
  Worker& w = *wp;
  char tname[16];
  snprintf(tname, sizeof(tname), "mdx-worker-%d", w.idx);
  pthread_setname_np(pthread_self(), tname);
  if (!opts_.cpus.empty()) PinThisThread(opts_.cpus[size_t(w.idx) % opts_.cpus.size()]);
  if (opts_.sliceUs) SetThisThreadSlice(opts_.sliceUs);  // best effort: only the latency on a busy host depends on it
  epoll_event evs[64];
  bool busy = true;
  uint32_t lastStats = NowMs();
  uint64_t lastFrameUs = NowUs();
  __atomic_store_n(&w.wc[kWRxMode], uint64_t(w.uplinkFast ? 2 : 3), __ATOMIC_RELAXED);
  epochs_.Online(w.reader);
  while (!stop_.load(std::memory_order_relaxed)) {
    int n;
    // Busy-poll while traffic flows (until spinUs after the last frame: a V2 ring's frame is
    // forwarded within microseconds instead of after a wake-up), then sleep in epoll.
    if (busy || NowUs() - lastFrameUs < opts_.spinUs) {
      n = epoll_wait(w.epfd, evs, 64, 0);
      if (n == 0) Bump(w.wc[kWSpins]);
    } else {
      Bump(w.wc[kWSleeps]);
      epochs_.Offline(w.reader);
      n = epoll_wait(w.epfd, evs, 64, 100);
      epochs_.Online(w.reader);
    }
    Bump(w.wc[kWLoops]);
    busy = false;
    int v2Frames = 0, v3Frames = 0;
    bool v2Capped = false;
    if (w.nextUplink.load(std::memory_order_acquire)) TakeNextUplink(w);
    const PortTable* t = table_.Get();
    if (t == nullptr) continue;
    const uint32_t now = NowMs();
    for (int i = 0; i < n; i++) {
      // A quiescent point per ring: a table swap or port removal waits at most one ring's drain.
      // Nothing read under the previous table (t, backend pointers) is used past this point.
      if (i > 0) {
        FlushAll(w);  // batches hold frames for backends that may go away after the quiescent point
        epochs_.Quiescent(w.reader);
        t = table_.Get();
      }
      const uint32_t cap = DecisionCapacity(*t);
      if (w.decision.size() < cap) w.decision.resize(cap);
      const uint64_t tag = evs[i].data.u64;
      if (tag == kTagEvent) {
        uint64_t v;
        (void)!read(w.evfd, &v, sizeof(v));
        if (w.idx == 0) DrainInject(w, *t);
        continue;
      }
      if ((evs[i].events & (EPOLLERR | EPOLLHUP)) && !OnFdError(w, tag, evs[i].events)) continue;
      int got;
      auto upFn = [&](const Frame& f, uint32_t tci) { Input(w, *t, f, tci, kUplinkSlot, now); };
      RxVisitorFn<decltype(upFn)> up(upFn);  // frames of the uplink's two rings
      // V2: drained until empty, at most a batch per pass.
      auto drainV2 = [&]() {
        const int k = w.uplinkFast->RxDrain([&](const RxFrameInfo& fi) { VisitRxFrame(fi, up); }, kMaxRxFramesPerPoll);
        v2Frames += k;
        v2Capped = k == kMaxRxFramesPerPoll && w.uplinkFast->Ready();
        return k;
      };
      if (tag == kTagUplink) {
        // In V3 mode frames left in the V2 ring are older than the blocks: they go first.
        got = w.uplinkFast && w.rxc.mode() == RxModeController::kBlocks ? drainV2() : 0;
        const int k = w.uplink->RxDrainFrames([&](const RxFrameInfo& fi) { VisitRxFrame(fi, up); }, kMaxRxBlocksPerPoll);
        v3Frames += k;
        got += k;
      } else if (tag == kTagUplinkFast) {
        if (w.holdV2UntilUs != 0 && NowUs() < w.holdV2UntilUs) {
          busy = true;  // keep polling: V2 is taken once the V3 ring's last block is out
          continue;
        }
        w.holdV2UntilUs = 0;
        got = drainV2();
      } else if (tag == kTagXsk) {  // XDP backend: what the program sent up (engine_xdp.cc)
        got = XskReceive(w, *t, now);
      } else {  // RX queue of a port: slot | (queue + 1) << 32
        const uint32_t slot = uint32_t(tag);
        const uint32_t q = uint32_t(tag >> 32) - 1;
        PortBackend* b = ports_[slot].load(std::memory_order_acquire);
        if (!b || q >= b->rxQueues()) continue;
        auto fn = [&](const Frame& f, uint32_t tci) { Input(w, *t, f, tci, slot, now); };
        RxVisitorFn<decltype(fn)> v(fn);
        got = b->Receive(q, v);
      }
      if (got > 0) busy = true;
    }
    FlushAll(w);
    if (busy) lastFrameUs = NowUs();
    if (w.uplinkFast && opts_.rxMode == 0) AdaptUplink(w, v2Frames, v3Frames, v2Capped, lastFrameUs);
    if (now - lastStats > 200) {
      lastStats = now;
      RefreshRingDrops(w);
      if (xdp_ && w.idx == 0) XdpFoldCounters(w);
    }
    epochs_.Quiescent(w.reader);
  }
  epochs_.Offline(w.reader);
}

// Kernel ring drops of the uplink and of the ports whose first RX queue this worker polls.
void Engine::RefreshRingDrops(Worker& w) {
  w.uplink->UpdateKernelStats();
  const uint64_t v3Drops = Read(w.uplink->counters().rxDrops);
  uint64_t v2Drops = 0;
  if (w.uplinkFast) {
    w.uplinkFast->UpdateKernelStats();
    v2Drops = Read(w.uplinkFast->counters().rxDrops);
    // Rollover counts are kept by the member frames were moved away from: sum both.
    const int64_t a = FanoutRollovers(w.uplinkFast->fd()), b = FanoutRollovers(w.uplink->fd());
    __atomic_store_n(&w.wc[kWRxRollovers], uint64_t(a > 0 ? a : 0) + uint64_t(b > 0 ? b : 0),
                     __ATOMIC_RELAXED);
  }
  __atomic_store_n(&w.wc[kWRxV2Drops], v2Drops, __ATOMIC_RELAXED);
  __atomic_store_n(&w.wc[kWRxV3Drops], v3Drops, __ATOMIC_RELAXED);
  const uint64_t xskDrops = w.xsk ? w.xsk->KernelDrops() : 0;  // XDP backend's AF_XDP socket
  __atomic_store_n(&SlotC(w, kUplinkSlot)[kSRingDrops], v2Drops + v3Drops + xskDrops, __ATOMIC_RELAXED);
  for (uint32_t slot = 1; slot < opts_.maxSlots; slot++) {
    PortBackend* b = ports_[slot].load(std::memory_order_acquire);
    if (!b || b->rxQueues() == 0 || RxWorkerOf(slot, 0) != w.idx) continue;
    __atomic_store_n(&SlotC(w, slot)[kSRingDrops], b->RefreshRxDrops(), __ATOMIC_RELAXED);
  }
}

void Engine::DrainInject(Worker& w, const PortTable& t) {
  std::vector<uint8_t> data;
  std::vector<uint32_t> off, len, slot;
  {
    std::lock_guard<std::mutex> g(injectMu_);
    data.swap(injectData_);
    off.swap(injectOff_);
    len.swap(injectLen_);
    slot.swap(injectSlot_);
  }
  const uint32_t now = NowMs();
  for (size_t i = 0; i < off.size(); i++) {
    Frame f;  // from JavaScript: complete checksums, no GSO
    f.data = data.data() + off[i];
    f.len = len[i];
    Input(w, t, f, kNoVlanTci, slot[i], now);
  }
}

void Engine::Input(Worker& w, const PortTable& t, Frame f, uint32_t tci, uint32_t inSlot, uint32_t nowMs) {
  if (fdb_)
    Process(w, t, FdbView{fdb_.get(), &t, nowMs}, f, tci, inSlot, nowMs);
  else
    Process(w, t, NoFdb{}, f, tci, inSlot, nowMs);
}

template <class F>
void Engine::Process(Worker& w, const PortTable& t, const F& fdb, Frame f, uint32_t tci, uint32_t inSlot,
                     uint32_t nowMs) {
  uint64_t* in = SlotC(w, inSlot);
  Bump(w.wc[kWRxFrames]);
  Bump(in[kSRxPackets]);
  Bump(in[kSRxBytes], f.len);
  if (inSlot != kUplinkSlot && tci != kNoVlanTci) {
    // A tag a port's endpoint sent is payload for us (the port's own VLAN applies): put it back.
    if (f.len >= 12 && f.len + kVlanTagLen <= w.scratchIn.size()) {
      f.len = InsertVlanTag(w.scratchIn.data(), f.data, f.len, AuxTpid(tci), uint16_t(tci));
      f.data = w.scratchIn.data();
      ShiftVnetHdr(&f.vh, int(kVlanTagLen));
    }
    tci = kNoVlanTci;
  }
  int32_t ingress = kIngressUplink;
  DropReason r = kDropNone;
  if (inSlot != kUplinkSlot) {
    ingress = t.IndexOfSlot(inSlot);
    if (ingress < 0) r = kDropIngressGone;
  }
  ParsedFrame pf;
  Decision d;
  d.ports = w.decision.data();
  if (r == kDropNone)
    r = ParseFrame(f.data, f.len, tci, ingress == kIngressUplink, t.maxFrameLen(), &pf, f.gso() ? GsoSegmentLen(f) : 0);
  if (r == kDropNone) {
    if (F::kEnabled && ingress >= 0) {
      fdb_->Learn(t.ports()[ingress].vlan, Mac48(pf.src), inSlot, nowMs);
    }
    Decide(t, pf, ingress, &d, fdb);
    if (d.n == 0 && !d.uplink) r = d.reason != kDropNone ? d.reason : kDropNoReceiver;
  }
  if (r != kDropNone) {
    Bump(w.wc[kWDrops + r]);
    Bump(in[kSRxDropped]);
    return;
  }
  Bump(w.wc[kWForwarded]);
  Bump(in[kSForwarded]);
  if (d.n > 0) {
    Frame pfr = f;
    if (pf.inlineTag) {  // ports see their VLAN's frames untagged
      pfr.len = StripVlanTag(w.scratchOut.data(), f.data, f.len);
      pfr.data = w.scratchOut.data();
      ShiftVnetHdr(&pfr.vh, -int(kVlanTagLen));
    }
    const auto& ports = t.ports();
    for (uint32_t k = 0; k < d.n; k++) SendToSlot(w, ports[d.ports[k]].slot, pfr);
    Bump(w.wc[kWEgressCopies], d.n);
  }
  if (d.uplink) SendUplink(w, f, d.uplinkVlan);
}

void Engine::Account(Worker& w, uint32_t slot, const TxTally& t) {
  uint64_t* c = SlotC(w, slot);
  if (t.packets) {
    Bump(c[kSTxPackets], t.packets);
    Bump(c[kSTxBytes], t.bytes);
  }
  if (t.dropped) {
    Bump(c[kSTxDropped], t.dropped);
    Bump(w.wc[kWTxDropped], t.dropped);
  }
}

void Engine::MarkDirty(Worker& w, uint32_t slot) {
  if (w.dirty[slot]) return;
  w.dirty[slot] = 1;
  w.dirtyList.push_back(slot);
}

namespace {
// Hands the frames software offloads produce to a backend (under its lock).
class BackendOut final : public FrameOut {
 public:
  BackendOut(PortBackend* b, TxTally* t) : b_(b), t_(t) {}
  void Out(const uint8_t* f, uint32_t len) override {
    Frame plain;
    plain.data = f;
    plain.len = len;
    b_->Send(plain, t_);
  }

 private:
  PortBackend* b_;
  TxTally* t_;
};
}  // namespace

void Engine::SendToSlot(Worker& w, uint32_t slot, const Frame& f) {
  TxTally t;
  PortBackend* b = ports_[slot].load(std::memory_order_acquire);
  if (!b) {
    t.dropped = 1;
    Account(w, slot, t);
    return;
  }
  b->Lock();
  if (b->carriesVnetHdr() || !f.needsOffloadWork()) {
    b->Send(f, &t);
  } else {
    SoftOffloadTally st;
    BackendOut out(b, &t);
    if (!SoftwareOffload(f, w.scratchSoft.data(), out, &st)) t.dropped++;
    if (st.csums) Bump(w.wc[kWSoftCsums], st.csums);
    if (st.gsoFrames) Bump(w.wc[kWSoftGsoFrames], st.gsoFrames);
    if (st.segments) Bump(w.wc[kWSoftSegments], st.segments);
    if (st.refused) Bump(w.wc[kWSoftRefused], st.refused);
  }
  b->Unlock();
  MarkDirty(w, slot);
  Account(w, slot, t);
}

void Engine::SendUplink(Worker& w, Frame f, uint16_t vlan) {
  TxTally t;
  if (vlan != 0) {
    if (f.len < 12 || f.len + kVlanTagLen > w.scratchOut.size()) {
      t.dropped = 1;
      Account(w, kUplinkSlot, t);
      return;
    }
    f.len = InsertVlanTag(w.scratchOut.data(), f.data, f.len, kEthPVlan, vlan & 0x0fff);
    f.data = w.scratchOut.data();
    ShiftVnetHdr(&f.vh, int(kVlanTagLen));
  }
  if (RingSend(*w.uplink, *w.uplinkSender, f)) {
    t.packets = 1;
    t.bytes = f.len;
    w.uplinkDirty = true;
  } else {
    t.dropped = 1;
  }
  Account(w, kUplinkSlot, t);
}

void Engine::FlushAll(Worker& w) {
  for (uint32_t slot : w.dirtyList) {
    w.dirty[slot] = 0;
    PortBackend* b = ports_[slot].load(std::memory_order_acquire);
    if (!b) continue;
    TxTally t;
    b->Lock();
    b->Flush(&t);
    b->Unlock();
    Account(w, slot, t);
  }
  w.dirtyList.clear();
  if (w.uplinkDirty) {
    w.uplink->Flush();
    w.uplinkDirty = false;
  }
}

}  // namespace mdx
