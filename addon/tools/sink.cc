#include "tools/sink.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "io/thread_util.h"
#include "tools/generator.h"

int LatencyHistogram::Bucket(uint64_t v) {
  if (v < 32) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(v);  // >= 5
  return 32 + (msb - 5) * 32 + static_cast<int>((v >> (msb - 5)) & 31);
}

uint64_t LatencyHistogram::LowerBound(int idx) {
  if (idx < 32) return static_cast<uint64_t>(idx);
  int m = (idx - 32) / 32 + 5, s = (idx - 32) % 32;
  return (1ull << m) | (static_cast<uint64_t>(s) << (m - 5));
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (total_ == 0) return 0;
  uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total_));
  if (want >= total_) want = total_ - 1;
  uint64_t cum = 0;
  for (int i = 0; i < kBuckets; i++) {
    cum += counts_[i];
    if (cum > want) {
      uint64_t lo = LowerBound(i), hi = i + 1 < kBuckets ? LowerBound(i + 1) : lo;
      return lo + (hi - lo) / 2;
    }
  }
  return 0;
}

int Sink::Open(const SinkOptions& o, std::unique_ptr<Sink>* out, const char** failedSyscall) {
  std::unique_ptr<Sink> s(new Sink());
  s->opts_ = o;
  s->opts_.ring.tx = false;
  s->opts_.ring.rx = true;
  if (!s->stop_.valid()) {
    if (failedSyscall) *failedSyscall = "eventfd";
    return -EMFILE;
  }
  int r = PacketRing::Open(s->opts_.ring, &s->ring_, failedSyscall);
  if (r < 0) return r;
  s->counters_ = s->ring_->sharedCounters();
  // Ask the stack to timestamp received skbs (the ring then carries TP_STATUS_TS_SOFTWARE stamps).
  int on = 1;
  setsockopt(s->ring_->fd(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  Sink* raw = s.get();
  s->thread_ = std::thread([raw] { raw->Run(); });
  *out = std::move(s);
  return 0;
}

Sink::~Sink() { StopAndJoin(); }

void Sink::StopAndJoin() {
  stop_.MarkStopped();
  stop_.Signal();
  if (thread_.joinable()) thread_.join();
}

static int64_t RealMinusMonoNs() {
  timespec r, m;
  clock_gettime(CLOCK_MONOTONIC, &m);
  clock_gettime(CLOCK_REALTIME, &r);
  return (static_cast<int64_t>(r.tv_sec) - m.tv_sec) * 1000000000ll + (static_cast<int64_t>(r.tv_nsec) - m.tv_nsec);
}

void Sink::WalkBlock(int b) {
  PacketRing& ring = *ring_;
  const uint64_t now = MonoNs();
  const int64_t off = RealMinusMonoNs();
  ring.RxWalkBlock(b, [&](const RxFrameInfo& fi) {
    uint64_t rx = 0;
    if (fi.status & TP_STATUS_TS_SOFTWARE) {
      const tpacket3_hdr* h = fi.hdr;
      int64_t real = static_cast<int64_t>(h->tp_sec) * 1000000000ll + h->tp_nsec;
      if (real > off) rx = static_cast<uint64_t>(real - off);
    }
    OnFrame(fi.frame, fi.len, fi.wireLen, now, rx);
  });
  ring.RxReleaseBlock(b);
}

void Sink::OnFrame(const uint8_t* f, uint32_t len, uint32_t wireLen, uint64_t nowNs, uint64_t rxNs) {
  uint32_t off = 12;
  uint16_t et = static_cast<uint16_t>(f[12] << 8 | f[13]);
  while ((et == 0x8100 || et == 0x88a8) && len >= off + 6) {
    off += 4;
    et = static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
  }
  if (et != TestPayload::kEtherType) {
    st_.other++;
    return;
  }
  off += 2;
  if (len < off + TestPayload::kSize) {
    st_.malformed++;
    return;
  }
  uint32_t magic, stream;
  uint64_t seq, ts;
  memcpy(&magic, f + off + TestPayload::kOffMagic, 4);
  if (be32toh(magic) != TestPayload::kMagic) {
    st_.other++;
    return;
  }
  memcpy(&stream, f + off + TestPayload::kOffStream, 4);
  memcpy(&seq, f + off + TestPayload::kOffSeq, 8);
  memcpy(&ts, f + off + TestPayload::kOffTs, 8);
  stream = be32toh(stream);
  seq = be64toh(seq);
  ts = be64toh(ts);
  st_.packets++;
  st_.bytes += wireLen;
  uint64_t dst = 0;
  for (int i = 0; i < 6; i++) dst = dst << 8 | f[i];
  perDst_[dst]++;
  if (ts && nowNs >= ts) {
    uint64_t d = nowNs - ts;
    delivery_.Add(d);
    if (d > maxDelivery_) maxDelivery_ = d;
    // Kernel receive stamp when present (and sane), else the delivery time.
    uint64_t lat = (rxNs >= ts && rxNs <= nowNs) ? rxNs - ts : d;
    hist_.Add(lat);
    if (lat > maxLat_) maxLat_ = lat;
  }
  Stream& s = streams_[stream];
  if (s.seen.empty()) s.seen.assign(kWindow / 64, 0);
  auto bit = [&](uint64_t q) -> bool {
    uint64_t i = q % kWindow;
    uint64_t m = 1ull << (i & 63);
    bool was = s.seen[i / 64] & m;
    s.seen[i / 64] |= m;
    return was;
  };
  auto clearRange = [&](uint64_t from, uint64_t to) {  // clear bits for [from, to) (slots being reused)
    if (to - from >= kWindow) {
      std::fill(s.seen.begin(), s.seen.end(), 0);
      return;
    }
    for (uint64_t q = from; q < to; q++) s.seen[(q % kWindow) / 64] &= ~(1ull << ((q % kWindow) & 63));
  };
  if (!s.started) {
    s.started = true;
    // A stream may start mid-way (sink opened late): the first seen number is the baseline.
    s.expected = seq + 1;
    bit(seq);
    return;
  }
  if (seq == s.expected) {
    bit(seq);
    s.expected++;
  } else if (seq > s.expected) {
    st_.lost += seq - s.expected;
    clearRange(s.expected, seq);
    bit(seq);
    s.expected = seq + 1;
  } else {
    if (s.expected - seq >= kWindow) {
      st_.reordered++;  // too old to tell; count as late
      if (st_.lost) st_.lost--;
    } else if (bit(seq)) {
      st_.duplicates++;
    } else {
      st_.reordered++;
      if (st_.lost) st_.lost--;  // it was counted lost when the gap opened
    }
  }
}

void Sink::Run() {
  PinThisThread(opts_.cpu);
  PacketRing& ring = *ring_;
  pollfd pfd[2] = {{ring.fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
  uint64_t lastStats = MonoNs();
  while (!stop_.stopped()) {
    int n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      n = 0;
      for (int b; (b = ring.RxTakeBlock()) >= 0;) {
        n++;
        WalkBlock(b);
      }
    }
    uint64_t now = MonoNs();
    if (now - lastStats > 100000000ull) {
      ring.UpdateKernelStats();
      lastStats = now;
    }
    if (n > 0) continue;
    int pr = poll(pfd, 2, 100);
    if (pr < 0 && errno != EINTR) break;
    if (pfd[1].revents) break;
    if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      int e = ring.PendingError();
      std::lock_guard<std::mutex> lock(mu_);
      st_.error = e ? e : ENETDOWN;
      break;
    }
  }
  // Final drain so that close() sees everything that already reached the ring.
  std::lock_guard<std::mutex> lock(mu_);
  for (int b; (b = ring.RxTakeBlock()) >= 0;) WalkBlock(b);
  ring.UpdateKernelStats();
}

SinkStats Sink::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  SinkStats s = st_;
  for (auto& kv : perDst_) s.perDst[kv.first] = kv.second;
  s.latencyP50Ns = hist_.Percentile(0.50);
  s.latencyP99Ns = hist_.Percentile(0.99);
  s.latencyP999Ns = hist_.Percentile(0.999);
  s.latencyMaxNs = maxLat_;
  // Bucket midpoints can exceed the largest sample: clamp.
  for (uint64_t* v : {&s.latencyP50Ns, &s.latencyP99Ns, &s.latencyP999Ns}) *v = std::min(*v, maxLat_);
  s.latencySamples = hist_.total();
  s.deliveryP50Ns = delivery_.Percentile(0.50);
  s.deliveryP99Ns = delivery_.Percentile(0.99);
  s.deliveryP999Ns = delivery_.Percentile(0.999);
  s.deliveryMaxNs = maxDelivery_;
  for (uint64_t* v : {&s.deliveryP50Ns, &s.deliveryP99Ns, &s.deliveryP999Ns}) *v = std::min(*v, maxDelivery_);
  s.streams = static_cast<uint32_t>(streams_.size());
  PortCounters& c = *counters_;
  s.kernelDrops = Read(c.rxDrops) - base_.rxDrops;
  s.freezes = Read(c.freezes) - base_.freezes;
  s.truncated = Read(c.truncated) - base_.truncated;
  s.malformed += Read(c.malformed) - base_.malformed;
  return s;
}

void Sink::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  int err = st_.error;
  st_ = SinkStats();
  st_.error = err;
  streams_.clear();
  perDst_.clear();
  hist_.Reset();
  delivery_.Reset();
  maxLat_ = 0;
  maxDelivery_ = 0;
  PortCounters& c = *counters_;
  base_.rxDrops = Read(c.rxDrops);
  base_.freezes = Read(c.freezes);
  base_.truncated = Read(c.truncated);
  base_.malformed = Read(c.malformed);
}
