#include "tools/generator.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <time.h>

#include <cstring>
#include <functional>

#include "io/thread_util.h"

std::vector<uint8_t> BuildTemplateFrame(const GeneratorTemplate& t, uint32_t streamId, uint32_t* payloadOff) {
  const uint32_t size = t.size < 60 ? 60 : t.size;  // room for header + payload, Ethernet minimum
  std::vector<uint8_t> f(size + (t.vlan >= 0 ? 4 : 0), 0);
  memcpy(f.data(), t.dst, 6);
  memcpy(f.data() + 6, t.src, 6);
  uint32_t off = 12;
  if (t.vlan >= 0) {
    f[off] = 0x81;
    f[off + 1] = 0x00;
    f[off + 2] = static_cast<uint8_t>((t.vlan >> 8) & 0x0f);
    f[off + 3] = static_cast<uint8_t>(t.vlan & 0xff);
    off += 4;
  }
  f[off] = TestPayload::kEtherType >> 8;
  f[off + 1] = TestPayload::kEtherType & 0xff;
  off += 2;
  *payloadOff = off;
  uint32_t magic = htobe32(TestPayload::kMagic), stream = htobe32(streamId);
  memcpy(f.data() + off + TestPayload::kOffMagic, &magic, 4);
  memcpy(f.data() + off + TestPayload::kOffStream, &stream, 4);
  for (size_t i = off + TestPayload::kSize; i < f.size(); i++) f[i] = static_cast<uint8_t>(i);
  return f;
}

int Generator::Start(const GeneratorOptions& o, std::function<void()> onDone, std::unique_ptr<Generator>* out,
                     const char** failedSyscall) {
  if (o.templates.empty()) {
    if (failedSyscall) *failedSyscall = "options";
    return -EINVAL;
  }
  std::unique_ptr<Generator> g(new Generator());
  g->opts_ = o;
  g->opts_.ring.rx = false;
  g->opts_.ring.tx = true;
  uint32_t maxSize = 0;
  for (auto& t : o.templates) maxSize = std::max(maxSize, t.size + (t.vlan >= 0 ? 4u : 0u));
  if (g->opts_.ring.txFrameSize < maxSize + 64) g->opts_.ring.txFrameSize = maxSize + 64;
  int r = PacketRing::Open(g->opts_.ring, &g->ring_, failedSyscall);
  if (r < 0) return r;
  g->counters_ = g->ring_->sharedCounters();
  for (size_t i = 0; i < o.templates.size(); i++) {
    uint32_t off = 0;
    g->frames_.push_back(BuildTemplateFrame(o.templates[i], o.streamBase + static_cast<uint32_t>(i), &off));
    g->payloadOff_.push_back(off);
    g->seq_.push_back(0);
  }
  if (g->opts_.burst == 0) g->opts_.burst = 64;
  g->onDone_ = std::move(onDone);
  Generator* raw = g.get();
  g->thread_ = std::thread([raw] { raw->Run(); });
  *out = std::move(g);
  return 0;
}

Generator::~Generator() {
  RequestStop();
  Join();
}

void Generator::Join() {
  if (thread_.joinable()) thread_.join();
}

GeneratorStats Generator::Stats() const {
  GeneratorStats s;
  PortCounters& c = *counters_;
  s.sent = Read(c.txPackets);
  s.bytes = Read(c.txBytes);
  s.backpressure = Read(c.txBackpressure);
  uint64_t st = startNs_.load(std::memory_order_acquire), en = endNs_.load(std::memory_order_acquire);
  s.elapsedNs = st == 0 ? 0 : (en ? en : MonoNs()) - st;
  s.error = error_.load(std::memory_order_acquire);
  return s;
}

static void SleepNs(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
  nanosleep(&ts, nullptr);
}

void Generator::Run() {
  PinThisThread(opts_.cpu);
  PacketRing& ring = *ring_;
  const size_t nt = frames_.size();
  size_t ti = 0;
  uint64_t sent = 0;
  const uint64_t start = MonoNs();
  startNs_.store(start, std::memory_order_release);
  const uint64_t rate = opts_.ratePps, count = opts_.count, dur = opts_.durationNs;
  pollfd pfd{ring.fd(), POLLOUT, 0};
  while (!stop_.load(std::memory_order_relaxed)) {
    if (count && sent >= count) break;
    uint64_t now = MonoNs();
    if (dur && now - start >= dur) break;
    uint64_t budget = opts_.burst;
    if (rate) {
      // Frames due by now; send at most one burst, sleep when ahead of schedule.
      uint64_t due = static_cast<uint64_t>(static_cast<__uint128_t>(now - start) * rate / 1000000000ull);
      if (due <= sent) {
        uint64_t nextAt = start + static_cast<uint64_t>(static_cast<__uint128_t>(sent + 1) * 1000000000ull / rate);
        uint64_t wait = nextAt > now ? nextAt - now : 0;
        if (wait > 20000) SleepNs(wait - 10000 > 500000 ? 500000 : wait - 10000);
        continue;
      }
      if (due - sent < budget) budget = due - sent;
    }
    if (count && count - sent < budget) budget = count - sent;
    uint64_t pushed = 0;
    uint64_t ts = MonoNs();
    for (; pushed < budget; pushed++) {
      uint32_t cap = 0;
      uint8_t* p = ring.TxAcquire(&cap);
      if (!p) break;
      const std::vector<uint8_t>& f = frames_[ti];
      const uint32_t len = static_cast<uint32_t>(f.size());
      memcpy(p, f.data(), len);
      uint64_t seq = htobe64(seq_[ti]++), tsb = htobe64(ts);
      memcpy(p + payloadOff_[ti] + TestPayload::kOffSeq, &seq, 8);
      memcpy(p + payloadOff_[ti] + TestPayload::kOffTs, &tsb, 8);
      ring.TxCommit(len);
      if (++ti == nt) ti = 0;
    }
    sent += pushed;
    int fr = ring.Flush();
    if (fr < 0) {
      error_.store(-fr, std::memory_order_release);
      break;
    }
    if (pushed < budget) {
      // Ring full: wait for the kernel to free a slot (POLLOUT) or 1 ms.
      int pr = poll(&pfd, 1, 1);
      if (pr > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
        int e = ring.PendingError();
        if (e) {
          error_.store(e, std::memory_order_release);
          break;
        }
      }
    }
  }
  // Drain: kick until every queued slot has left the ring (bounded: 1 s).
  const uint64_t drainUntil = MonoNs() + 1000000000ull;
  while (error_.load(std::memory_order_relaxed) == 0 && ring.TxInFlight() > 0 && MonoNs() < drainUntil) {
    int fr = ring.Flush();
    if (fr < 0) {
      error_.store(-fr, std::memory_order_release);
      break;
    }
    SleepNs(50000);
  }
  endNs_.store(MonoNs(), std::memory_order_release);
  finished_.store(true, std::memory_order_release);
  if (onDone_) onDone_();
}
