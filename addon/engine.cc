// Demux engine: workers, batching, table swaps, backends. See engine.h for the threading model.
#include "engine.h"

#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <algorithm>
#include <cstring>
#include <thread>

namespace mdx {

namespace {

constexpr uint32_t kJsBatchFrames = 256;
constexpr size_t kJsBatchBytes = 256 * 1024;
constexpr size_t kInjectMaxFrames = 1 << 16;
constexpr uint32_t kTapSlotSize = 16384;
constexpr uint32_t kTapBatch = 32;
constexpr int kMaxBlocksPerDrain = 4;  // RX blocks taken from one ring per poll round
constexpr int kQuiesceTimeoutMs = 3000;


inline void Inc(uint64_t& c, uint64_t v = 1) {
  __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

inline uint32_t NowMs() {
  return uint32_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

inline uint64_t Hash64(uint64_t k) {
  k ^= k >> 31;
  k *= 0x9E3779B97F4A7C15ull;
  return k ^ (k >> 29);
}

// Decide() hook for the learning FDB.
struct FdbView {
  static constexpr bool kEnabled = true;
  const Fdb* fdb;
  const PortTable* t;
  uint32_t now;
  int32_t Lookup(uint16_t vlan, uint64_t mac) const {
    const uint32_t s = fdb->LookupSlot(vlan, mac, now);
    if (s == 0) return -1;
    const int32_t idx = t->IndexOfSlot(s);
    if (idx < 0 || t->ports()[idx].vlan != vlan) return -1;
    return idx;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// FDB

void Fdb::Learn(uint16_t vlan, uint64_t mac, uint32_t slot, uint32_t nowMs) {
  const uint64_t key = (1ull << 63) | (uint64_t(vlan & 0xfff) << 48) | mac;
  const uint64_t h = Hash64(key);
  Entry* victim = nullptr;
  for (uint32_t i = 0; i < kProbe; i++) {
    Entry& e = entries_[(h + i) & (kSize - 1)];
    const uint64_t k = e.key.load(std::memory_order_relaxed);
    if (k == key) {
      if (e.slot.load(std::memory_order_relaxed) != slot) e.slot.store(slot, std::memory_order_relaxed);
      if (e.seenMs.load(std::memory_order_relaxed) != nowMs) e.seenMs.store(nowMs, std::memory_order_relaxed);
      return;
    }
    if (!victim && (k == 0 || nowMs - e.seenMs.load(std::memory_order_relaxed) > ageingMs_)) victim = &e;
  }
  if (!victim) victim = &entries_[h & (kSize - 1)];
  victim->key.store(0, std::memory_order_relaxed);
  victim->slot.store(slot, std::memory_order_relaxed);
  victim->seenMs.store(nowMs, std::memory_order_relaxed);
  victim->key.store(key, std::memory_order_release);
}

uint32_t Fdb::LookupSlot(uint16_t vlan, uint64_t mac, uint32_t nowMs) const {
  const uint64_t key = (1ull << 63) | (uint64_t(vlan & 0xfff) << 48) | mac;
  const uint64_t h = Hash64(key);
  for (uint32_t i = 0; i < kProbe; i++) {
    const Entry& e = entries_[(h + i) & (kSize - 1)];
    if (e.key.load(std::memory_order_acquire) == key) {
      if (nowMs - e.seenMs.load(std::memory_order_relaxed) > ageingMs_) return 0;
      return e.slot.load(std::memory_order_relaxed);
    }
  }
  return 0;
}

void Fdb::ForgetSlot(uint32_t slot) {
  for (auto& e : entries_)
    if (e.slot.load(std::memory_order_relaxed) == slot) e.key.store(0, std::memory_order_relaxed);
}

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
  c[0] = 0x4d44584345ull;  // "MDXCE"
  c[1] = 1;
  c[2] = uint64_t(o.workers);
  c[3] = o.maxSlots;
  c[4] = kWorkerWords;
  c[5] = kSlotWords;
  e->egress_ = std::vector<std::atomic<Egress*>>(o.maxSlots);
  for (auto& a : e->egress_) a.store(nullptr);
  if (o.learning) e->fdb_.reset(new Fdb(o.ageingMs));
  for (int i = 0; i < o.workers; i++) {
    std::unique_ptr<Worker> w(new Worker());
    w->idx = i;
    w->wc = c + kHeaderWords + perWorker * i;
    w->sc = w->wc + kWorkerWords;
    w->dirty.assign(o.maxSlots, 0);
    w->scratchIn.resize(65536 + 8);
    w->scratchOut.resize(65536 + 8);
    w->tapBuf.resize(size_t(kTapSlotSize) * kTapBatch);
    w->tapLens.resize(kTapBatch);
    w->reader = e->epochs_.Register();
    if (w->reader < 0) {
      *err = "too many workers for the epoch table";
      return -EINVAL;
    }
    const RingOptions ro = e->UplinkRingOptions(o.fanoutGroup);
    const char* step = nullptr;
    int rc = PacketRing::Open(ro, &w->uplink, &step);
    if (rc < 0) {
      *err = std::string("uplink \"") + o.uplink + "\": " + (step ? step : "open");
      return rc;
    }
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
  *out = std::move(e);
  return 0;
}

Engine::~Engine() {
  Stop();
  if (hasEvents_) events_.Release();
  for (size_t s = 0; s < egress_.size(); s++) {
    Egress* e = egress_[s].exchange(nullptr);
    if (!e) continue;
    if (e->kind == EgressKind::kJs) e->tsfn.Release();
    delete e;
  }
  for (auto& w : workers_) {
    if (w->epfd >= 0) close(w->epfd);
    if (w->evfd >= 0) close(w->evfd);
  }
}

int Engine::Start() {
  std::lock_guard<std::mutex> g(controlMu_);
  if (running_) return -EALREADY;
  stop_.store(false);
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] { Run(wp); });
  }
  running_ = true;
  return 0;
}

int Engine::Stop() {
  std::lock_guard<std::mutex> g(controlMu_);
  if (!running_) return 0;
  stop_.store(true);
  for (auto& w : workers_) {
    uint64_t one = 1;
    (void)!write(w->evfd, &one, sizeof(one));
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
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
  Inc(workers_[0]->wc[kWTableSwaps]);
  return 0;
}

int Engine::AttachPacket(uint32_t slot, const std::string& ifname, uint32_t blockSize, uint32_t blocks,
                         uint32_t txFrames, std::string* err) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) {
    *err = "slot out of range";
    return -EINVAL;
  }
  RingOptions ro;
  ro.ifname = ifname;
  ro.netns = opts_.netns;
  ro.blockSize = blockSize ? blockSize : opts_.portBlockSize;
  ro.blockCount = blocks ? blocks : opts_.portBlocks;
  ro.txFrameCount = txFrames ? txFrames : opts_.portTxFrames;
  ro.promisc = true;
  ro.qdiscBypass = opts_.qdiscBypass;
  ro.ignoreOutgoing = true;
  ro.tx = !opts_.portTxCopy;
  std::unique_ptr<Egress> e(new Egress());
  e->slot = slot;
  e->kind = EgressKind::kPacket;
  if (opts_.portTxCopy) e->mbuf.resize(64 * 2048);
  const char* step = nullptr;
  int rc = PacketRing::Open(ro, &e->ring, &step);
  if (rc < 0) {
    *err = std::string("port \"") + ifname + "\": " + (step ? step : "open");
    return rc;
  }
  std::lock_guard<std::mutex> g(controlMu_);
  if (egress_[slot].load() != nullptr) {
    *err = "slot already attached";
    return -EEXIST;
  }
  e->rxWorker = int(slot % workers_.size());
  Egress* raw = e.release();
  egress_[slot].store(raw, std::memory_order_release);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = slot;
  if (epoll_ctl(workers_[raw->rxWorker]->epfd, EPOLL_CTL_ADD, raw->ring->fd(), &ev) < 0) {
    const int en = errno;
    egress_[slot].store(nullptr);
    epochs_.Synchronize(kQuiesceTimeoutMs);
    delete raw;
    *err = "epoll_ctl";
    return -en;
  }
  return 0;
}

int Engine::AttachJs(uint32_t slot, Napi::ThreadSafeFunction tsfn, std::string* err) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) {
    *err = "slot out of range";
    return -EINVAL;
  }
  std::lock_guard<std::mutex> g(controlMu_);
  if (egress_[slot].load() != nullptr) {
    *err = "slot already attached";
    return -EEXIST;
  }
  Egress* e = new Egress();
  e->slot = slot;
  e->kind = EgressKind::kJs;
  e->tsfn = tsfn;
  egress_[slot].store(e, std::memory_order_release);
  return 0;
}

int Engine::AttachTap(uint32_t slot, const std::string& ifname, int queues, std::string* err) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) {
    *err = "slot out of range";
    return -EINVAL;
  }
  if (queues < 1 || queues > 64) {
    *err = "queues must be 1..64";
    return -EINVAL;
  }
  TapOptions to;
  to.ifname = ifname;
  to.netns = opts_.netns;
  to.vnetHdr = false;
  to.queues = queues;
  std::unique_ptr<Egress> e(new Egress());
  e->slot = slot;
  e->kind = EgressKind::kTap;
  const char* step = nullptr;
  to.tun = false;
  int rc = TapQueue::Open(to, &e->taps, &step);
  if (rc < 0) {
    e->taps.clear();
    to.tun = true;
    const char* step2 = nullptr;
    rc = TapQueue::Open(to, &e->taps, &step2);
    if (rc < 0) {
      *err = std::string("tap \"") + ifname + "\": not a macvtap (" + (step ? step : "open") + ") and tun/tap failed (" +
             (step2 ? step2 : "open") + ")";
      return rc;
    }
  }
  std::lock_guard<std::mutex> g(controlMu_);
  if (egress_[slot].load() != nullptr) {
    *err = "slot already attached";
    return -EEXIST;
  }
  Egress* raw = e.release();
  egress_[slot].store(raw, std::memory_order_release);
  for (size_t q = 0; q < raw->taps.size(); q++) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = uint64_t(slot) | (uint64_t(q + 1) << 32);
    epoll_ctl(workers_[(slot + q) % workers_.size()]->epfd, EPOLL_CTL_ADD, raw->taps[q]->fd(), &ev);
  }
  return 0;
}

int Engine::Detach(uint32_t slot) {
  if (slot == kUplinkSlot || slot >= opts_.maxSlots) return -EINVAL;
  std::lock_guard<std::mutex> g(controlMu_);
  Egress* e = egress_[slot].exchange(nullptr);
  if (!e) return -ENOENT;
  if (e->ring && e->rxWorker >= 0) epoll_ctl(workers_[e->rxWorker]->epfd, EPOLL_CTL_DEL, e->ring->fd(), nullptr);
  for (size_t q = 0; q < e->taps.size(); q++)
    epoll_ctl(workers_[(slot + q) % workers_.size()]->epfd, EPOLL_CTL_DEL, e->taps[q]->fd(), nullptr);
  if (!epochs_.Synchronize(kQuiesceTimeoutMs)) return -ETIMEDOUT;  // leaked rather than freed under a reader
  if (fdb_) fdb_->ForgetSlot(slot);
  if (e->kind == EgressKind::kJs) e->tsfn.Release();
  delete e;
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
  if (!opts_.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(opts_.cpus[size_t(w.idx) % opts_.cpus.size()], &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  }
  epoll_event evs[64];
  bool busy = true;
  uint32_t lastStats = NowMs();
  epochs_.Online(w.reader);
  while (!stop_.load(std::memory_order_relaxed)) {
    int n;
    if (busy) {
      n = epoll_wait(w.epfd, evs, 64, 0);
    } else {
      epochs_.Offline(w.reader);
      n = epoll_wait(w.epfd, evs, 64, 100);
      epochs_.Online(w.reader);
    }
    Inc(w.wc[kWLoops]);
    busy = false;
    if (w.nextUplink.load(std::memory_order_acquire)) TakeNextUplink(w);
    const PortTable* t = table_.Get();
    if (t == nullptr) continue;
    const uint32_t now = NowMs();
    for (int i = 0; i < n; i++) {
      // A quiescent point per ring: a table swap or port removal waits at most one ring's drain.
      // Nothing read under the previous table (t, egress pointers) is used past this point.
      if (i > 0) {
        FlushAll(w);  // batches hold frames for egresses that may go away after the quiescent point
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
      if (tag >> 32) {  // a tap queue: slot | (queue + 1) << 32
        const uint32_t slot = uint32_t(tag);
        const uint32_t q = uint32_t(tag >> 32) - 1;
        Egress* e = egress_[slot].load(std::memory_order_acquire);
        if (!e || q >= e->taps.size()) continue;
        int got = e->taps[q]->ReadBatch(w.tapBuf.data(), kTapSlotSize, kTapBatch, w.tapLens.data());
        for (int k = 0; k < got; k++) {
          const uint8_t* f = w.tapBuf.data() + size_t(k) * kTapSlotSize;
          const uint32_t len = std::min(w.tapLens[k], kTapSlotSize);
          if (fdb_)
            Process(w, *t, FdbView{fdb_.get(), t, now}, f, len, kNoVlanTci, slot, now);
          else
            Process(w, *t, NoFdb{}, f, len, kNoVlanTci, slot, now);
        }
        if (got > 0) busy = true;
        continue;
      }
      PacketRing* ring;
      uint32_t inSlot;
      if (tag == kTagUplink) {
        ring = w.uplink.get();
        inSlot = kUplinkSlot;
      } else {
        Egress* e = egress_[tag].load(std::memory_order_acquire);
        if (!e || !e->ring) continue;
        ring = e->ring.get();
        inSlot = uint32_t(tag);
      }
      int got;
      if (fdb_) {
        FdbView fv{fdb_.get(), t, now};
        got = ring->RxDrain(
            [&](const uint8_t* f, uint32_t len, uint32_t tci, uint32_t) { Process(w, *t, fv, f, len, tci, inSlot, now); },
            kMaxBlocksPerDrain);
      } else {
        NoFdb nf;
        got = ring->RxDrain(
            [&](const uint8_t* f, uint32_t len, uint32_t tci, uint32_t) { Process(w, *t, nf, f, len, tci, inSlot, now); },
            kMaxBlocksPerDrain);
      }
      if (got > 0) busy = true;
    }
    FlushAll(w);
    if (now - lastStats > 200) {
      lastStats = now;
      w.uplink->UpdateKernelStats();
      __atomic_store_n(&SlotC(w, kUplinkSlot)[kSRingDrops], Read(w.uplink->counters().rxDrops), __ATOMIC_RELAXED);
      for (uint32_t slot = 1; slot < opts_.maxSlots; slot++) {  // this worker's port rings
        Egress* e = egress_[slot].load(std::memory_order_acquire);
        if (!e || !e->ring || e->rxWorker != w.idx) continue;
        e->ring->UpdateKernelStats();
        __atomic_store_n(&SlotC(w, slot)[kSRingDrops], Read(e->ring->counters().rxDrops), __ATOMIC_RELAXED);
      }
    }
    epochs_.Quiescent(w.reader);
  }
  epochs_.Offline(w.reader);
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
    if (fdb_) {
      FdbView fv{fdb_.get(), &t, now};
      Process(w, t, fv, data.data() + off[i], len[i], kNoVlanTci, slot[i], now);
    } else {
      Process(w, t, NoFdb{}, data.data() + off[i], len[i], kNoVlanTci, slot[i], now);
    }
  }
}

template <class F>
void Engine::Process(Worker& w, const PortTable& t, const F& fdb, const uint8_t* f, uint32_t len, uint32_t tci,
                     uint32_t inSlot, uint32_t nowMs) {
  uint64_t* in = SlotC(w, inSlot);
  Inc(w.wc[kWRxFrames]);
  Inc(in[kSRxPackets]);
  Inc(in[kSRxBytes], len);
  if (inSlot != kUplinkSlot && tci != kNoVlanTci) {
    // A tag a port's endpoint sent is payload for us (the port's own VLAN applies): put it back.
    if (len >= 12 && len + 4 <= w.scratchIn.size()) {
      uint8_t* s = w.scratchIn.data();
      const uint16_t tpid = (tci >> 16) ? uint16_t(tci >> 16) : kEthPVlan;
      memcpy(s, f, 12);
      s[12] = uint8_t(tpid >> 8);
      s[13] = uint8_t(tpid);
      s[14] = uint8_t(tci >> 8);
      s[15] = uint8_t(tci);
      memcpy(s + 16, f + 12, len - 12);
      f = s;
      len += 4;
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
  if (r == kDropNone) r = ParseFrame(f, len, tci, ingress == kIngressUplink, t.maxFrameLen(), &pf);
  if (r == kDropNone) {
    if (F::kEnabled && ingress >= 0) {
      fdb_->Learn(t.ports()[ingress].vlan, Mac48(pf.src), inSlot, nowMs);
    }
    Decide(t, pf, ingress, &d, fdb);
    if (d.n == 0 && !d.uplink) r = d.reason != kDropNone ? d.reason : kDropNoReceiver;
  }
  if (r != kDropNone) {
    Inc(w.wc[kWDrops + r]);
    Inc(in[kSRxDropped]);
    return;
  }
  Inc(w.wc[kWForwarded]);
  Inc(in[kSForwarded]);
  if (d.n > 0) {
    const uint8_t* pfr = f;
    uint32_t plen = len;
    if (pf.inlineTag) {  // ports see their VLAN's frames untagged
      uint8_t* s = w.scratchOut.data();
      memcpy(s, f, 12);
      memcpy(s + 12, f + 16, len - 16);
      pfr = s;
      plen = len - 4;
    }
    const auto& ports = t.ports();
    for (uint32_t k = 0; k < d.n; k++) SendToSlot(w, ports[d.ports[k]].slot, pfr, plen);
    Inc(w.wc[kWEgressCopies], d.n);
  }
  if (d.uplink) SendUplink(w, f, len, d.uplinkVlan);
}

void Engine::SendToSlot(Worker& w, uint32_t slot, const uint8_t* f, uint32_t len) {
  uint64_t* c = SlotC(w, slot);
  Egress* e = egress_[slot].load(std::memory_order_acquire);
  if (!e) {
    Inc(c[kSTxDropped]);
    Inc(w.wc[kWTxDropped]);
    return;
  }
  bool ok = false;
  e->Lock();
  if (e->kind == EgressKind::kPacket && !e->mbuf.empty()) {
    if (len <= 2048) {
      memcpy(e->mbuf.data() + size_t(e->mcount) * 2048, f, len);
      e->mlens[e->mcount++] = len;
      if (e->mcount == 64) FlushMmsg(w, e);
    } else {  // a jumbo frame: keep the order, send it on its own
      FlushMmsg(w, e);
      if (send(e->ring->fd(), f, len, MSG_DONTWAIT) == ssize_t(len)) {
        Inc(c[kSTxPackets]);
        Inc(c[kSTxBytes], len);
      } else {
        Inc(c[kSTxDropped]);
        Inc(w.wc[kWTxDropped]);
      }
    }
    e->Unlock();
    if (!w.dirty[slot]) {
      w.dirty[slot] = 1;
      w.dirtyList.push_back(slot);
    }
    return;  // counted by FlushMmsg
  } else if (e->kind == EgressKind::kPacket) {
    int rc = e->ring->TxPush(f, len);
    if (rc == -EAGAIN) {
      e->ring->Flush();
      rc = e->ring->TxPush(f, len);
    }
    ok = rc == 0;
  } else if (e->kind == EgressKind::kTap) {
    if (!e->taps.empty()) {
      TapQueue& q = *e->taps[e->tapNext++ % e->taps.size()];
      const uint8_t* frames[1] = {f};
      ok = q.WriteBatch(frames, &len, 1) == 1;
    }
  } else {
    if (!e->pending) {
      e->pending.reset(new JsBatch());
      e->pending->data.reserve(kJsBatchBytes);
      e->pending->offsets.reserve(kJsBatchFrames);
      e->pending->lengths.reserve(kJsBatchFrames);
    }
    JsBatch& b = *e->pending;
    b.offsets.push_back(uint32_t(b.data.size()));
    b.lengths.push_back(len);
    b.data.insert(b.data.end(), f, f + len);
    if (b.offsets.size() >= kJsBatchFrames || b.data.size() >= kJsBatchBytes - 65536) FlushJs(w, e);
    e->Unlock();
    if (!w.dirty[slot]) {
      w.dirty[slot] = 1;
      w.dirtyList.push_back(slot);
    }
    return;  // counted by FlushJs (delivered to the queue, or dropped when it is full)
  }
  e->Unlock();
  if (ok) {
    Inc(c[kSTxPackets]);
    Inc(c[kSTxBytes], len);
    if (!w.dirty[slot]) {
      w.dirty[slot] = 1;
      w.dirtyList.push_back(slot);
    }
  } else {
    Inc(c[kSTxDropped]);
    Inc(w.wc[kWTxDropped]);
  }
}

void Engine::SendUplink(Worker& w, const uint8_t* f, uint32_t len, uint16_t vlan) {
  uint64_t* c = SlotC(w, kUplinkSlot);
  if (vlan != 0) {
    if (len < 12 || len + 4 > w.scratchOut.size()) {
      Inc(c[kSTxDropped]);
      Inc(w.wc[kWTxDropped]);
      return;
    }
    uint8_t* s = w.scratchOut.data();
    memcpy(s, f, 12);
    s[12] = 0x81;
    s[13] = 0x00;
    s[14] = uint8_t((vlan >> 8) & 0x0f);
    s[15] = uint8_t(vlan);
    memcpy(s + 16, f + 12, len - 12);
    f = s;
    len += 4;
  }
  int rc = w.uplink->TxPush(f, len);
  if (rc == -EAGAIN) {
    w.uplink->Flush();
    rc = w.uplink->TxPush(f, len);
  }
  if (rc == 0) {
    Inc(c[kSTxPackets]);
    Inc(c[kSTxBytes], len);
    w.uplinkDirty = true;
  } else {
    Inc(c[kSTxDropped]);
    Inc(w.wc[kWTxDropped]);
  }
}

// Hands one batch to the JS port's handler as (data: Uint8Array, offsets, lengths, count).
// Plain N-API calls with status checks, not node-addon-api wrappers: while a worker thread's
// environment is being torn down every call may fail, and a wrapper would turn that into a fatal
// napi_throw. On any failure the batch is freed and dropped.
static void DeliverJsBatch(napi_env env, napi_value cb, JsBatch* batch) {
  const size_t n = batch->offsets.size();
  const size_t bytes = batch->data.size();
  napi_value offsAb, lensAb, offs, lens, dataAb, data, count, undefined, result;
  void* offsMem;
  void* lensMem;
  if (napi_create_arraybuffer(env, n * 4, &offsMem, &offsAb) != napi_ok ||
      napi_create_arraybuffer(env, n * 4, &lensMem, &lensAb) != napi_ok) {
    delete batch;
    return;
  }
  memcpy(offsMem, batch->offsets.data(), n * 4);
  memcpy(lensMem, batch->lengths.data(), n * 4);
  auto finalize = [](napi_env, void*, void* hint) { delete static_cast<JsBatch*>(hint); };
  if (napi_create_external_arraybuffer(env, batch->data.data(), bytes, finalize, batch, &dataAb) != napi_ok) {
    delete batch;
    return;
  }
  // From here the ArrayBuffer owns the batch.
  if (napi_create_typedarray(env, napi_uint8_array, bytes, dataAb, 0, &data) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, n, offsAb, 0, &offs) != napi_ok ||
      napi_create_typedarray(env, napi_uint32_array, n, lensAb, 0, &lens) != napi_ok ||
      napi_create_double(env, double(n), &count) != napi_ok || napi_get_undefined(env, &undefined) != napi_ok)
    return;
  napi_value args[4] = {data, offs, lens, count};
  napi_call_function(env, undefined, cb, 4, args, &result);
}

void Engine::FlushJs(Worker& w, Egress* e) {
  if (!e->pending || e->pending->offsets.empty()) return;
  JsBatch* b = e->pending.release();
  const size_t frames = b->offsets.size();
  const size_t bytes = b->data.size();
  napi_status st = e->tsfn.NonBlockingCall(b, [](Napi::Env env, Napi::Function cb, JsBatch* batch) {
    if (env == nullptr || cb.IsEmpty()) {
      delete batch;
      return;
    }
    DeliverJsBatch(env, cb, batch);
  });
  uint64_t* c = SlotC(w, e->slot);
  if (st != napi_ok) {
    delete b;
    Inc(c[kSTxDropped], frames);
    Inc(w.wc[kWTxDropped], frames);
  } else {
    Inc(c[kSTxPackets], frames);
    Inc(c[kSTxBytes], bytes);
  }
}

void Engine::FlushMmsg(Worker& w, Egress* e) {
  const uint32_t n = e->mcount;
  if (n == 0) return;
  mmsghdr msgs[64];
  iovec iov[64];
  for (uint32_t i = 0; i < n; i++) {
    iov[i].iov_base = e->mbuf.data() + size_t(i) * 2048;
    iov[i].iov_len = e->mlens[i];
    memset(&msgs[i], 0, sizeof(msgs[i]));
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint32_t sent = 0;
  for (int attempt = 0; attempt < 2 && sent < n; attempt++) {
    const int rc = sendmmsg(e->ring->fd(), msgs + sent, n - sent, MSG_DONTWAIT);
    if (rc <= 0) {
      if (rc < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) break;  // hard error: drop the rest
      continue;
    }
    sent += uint32_t(rc);
  }
  uint64_t* c = SlotC(w, e->slot);
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < sent; i++) bytes += e->mlens[i];
  Inc(c[kSTxPackets], sent);
  Inc(c[kSTxBytes], bytes);
  if (sent < n) {
    Inc(c[kSTxDropped], n - sent);
    Inc(w.wc[kWTxDropped], n - sent);
  }
  e->mcount = 0;
}

void Engine::FlushAll(Worker& w) {
  for (uint32_t slot : w.dirtyList) {
    w.dirty[slot] = 0;
    Egress* e = egress_[slot].load(std::memory_order_acquire);
    if (!e) continue;
    e->Lock();
    if (e->kind == EgressKind::kPacket && !e->mbuf.empty())
      FlushMmsg(w, e);
    else if (e->kind == EgressKind::kPacket)
      e->ring->Flush();
    else if (e->kind == EgressKind::kJs)
      FlushJs(w, e);
    e->Unlock();
  }
  w.dirtyList.clear();
  if (w.uplinkDirty) {
    w.uplink->Flush();
    w.uplinkDirty = false;
  }
}

}  // namespace mdx
