// XskRing (io/xsk_ring.h): both sides of an AF_XDP ring over plain memory, the kernel's side played
// by a second XskRing on the same indexes. Entries handed over arrive in order and exactly once,
// a producer never overwrites what the consumer has not released, indexes wrap at 2^32, and an
// index the other side cannot have written (more entries than the ring holds) yields nothing.
#include <cstdint>
#include <vector>

#include "harness.h"
#include "io/xsk_ring.h"

using namespace mdxtest;
using mdx::XskRing;

namespace {

struct Shared {
  uint32_t prod = 0, cons = 0, flags = 0;
  std::vector<uint64_t> e;
  explicit Shared(uint32_t size, uint32_t start = 0) : prod(start), cons(start), e(size, 0) {}
  void Init(XskRing<uint64_t>* r) { r->Init(&prod, &cons, &flags, e.data(), uint32_t(e.size())); }
};

// Producer writes up to `want` entries starting at value *next; returns how many it wrote.
uint32_t Produce(XskRing<uint64_t>& p, uint32_t want, uint64_t* next) {
  uint32_t idx;
  const uint32_t n = p.Reserve(want, &idx);
  for (uint32_t i = 0; i < n; i++) p.at(idx + i) = (*next)++;
  p.Submit(n);
  return n;
}

// Consumer reads up to `want` entries, checks they continue the sequence at *expect.
uint32_t Consume(XskRing<uint64_t>& c, uint32_t want, uint64_t* expect) {
  uint32_t idx;
  const uint32_t n = c.Peek(want, &idx);
  for (uint32_t i = 0; i < n; i++) CHECK_EQ(c.at(idx + i), (*expect)++);
  c.Release(n);
  return n;
}

void RunSequence(uint32_t start) {
  Shared s(8, start);
  XskRing<uint64_t> prod, cons;
  s.Init(&prod);
  s.Init(&cons);
  uint64_t next = 0, expect = 0;
  CHECK_EQ(Produce(prod, 5, &next), 5u);
  CHECK_EQ(Produce(prod, 5, &next), 3u);  // full: 8 entries in flight, no overwrite
  CHECK_EQ(Produce(prod, 1, &next), 0u);
  CHECK_EQ(Consume(cons, 3, &expect), 3u);
  CHECK_EQ(Produce(prod, 10, &next), 3u);  // exactly what was released
  CHECK_EQ(Consume(cons, 100, &expect), 8u);
  CHECK_EQ(Consume(cons, 100, &expect), 0u);  // empty
  // many rounds of odd sizes: everything arrives once and in order
  for (int round = 0; round < 1000; round++) {
    Produce(prod, uint32_t(round % 7) + 1, &next);
    Consume(cons, uint32_t(round % 5) + 1, &expect);
  }
  while (Consume(cons, 8, &expect) > 0) {
  }
  CHECK_EQ(expect, next);
  CHECK_EQ(s.prod, uint32_t(start + uint32_t(next)));
  CHECK_EQ(s.cons, s.prod);
}

}  // namespace

TEST("xsk ring: entries arrive once, in order, never overwritten") { RunSequence(0); }

TEST("xsk ring: indexes wrap at 2^32") { RunSequence(0xfffffffau); }

TEST("xsk ring: a producer index beyond the ring's size yields nothing") {
  Shared s(8);
  XskRing<uint64_t> cons;
  s.Init(&cons);
  s.prod = 9;  // 9 entries ready in an 8-entry ring: not something the kernel writes
  uint32_t idx;
  CHECK_EQ(cons.Peek(16, &idx), 0u);
  s.prod = 8;
  CHECK_EQ(cons.Peek(16, &idx), 8u);
}

TEST("xsk ring: a consumer index ahead of the producer leaves no room") {
  Shared s(8);
  XskRing<uint64_t> prod;
  s.Init(&prod);
  s.cons = 3;  // consumer claims to have read entries never produced
  uint32_t idx;
  CHECK_EQ(prod.Reserve(16, &idx), 0u);
}

TEST("xsk ring: need-wakeup flag") {
  Shared s(8);
  XskRing<uint64_t> r;
  s.Init(&r);
  CHECK(!r.needWakeup());
  s.flags = 1;  // XDP_RING_NEED_WAKEUP
  CHECK(r.needWakeup());
}
