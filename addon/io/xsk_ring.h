// The four rings of an AF_XDP socket (fill, completion, RX, TX), seen from userspace: single
// producer / single consumer rings of 2^n entries whose producer and consumer indexes run freely
// (uint32 wrap-around) and are shared with the kernel through mmap (net/xdp/xsk_queue.h). A side
// reads the other side's index with acquire and publishes its own with release, so an entry is
// written before the index that hands it over (xsk_queue.h: "smp_load_acquire / smp_store_release").
// Header-only and free of syscalls, so the C++ unit tests (addon/test/xsk_ring_test.cc) drive both
// sides over plain memory.
#pragma once
#include <cstdint>

namespace mdx {

template <class T>
class XskRing {
 public:
  XskRing() = default;
  // producer/consumer/flags/entries point into the ring's mapping (struct xdp_ring_offset); size
  // is a power of two.
  void Init(uint32_t* producer, uint32_t* consumer, uint32_t* flags, T* entries, uint32_t size) {
    prod_ = producer;
    cons_ = consumer;
    flags_ = flags;
    entries_ = entries;
    size_ = size;
    mask_ = size - 1;
    cachedProd_ = __atomic_load_n(prod_, __ATOMIC_ACQUIRE);
    cachedCons_ = __atomic_load_n(cons_, __ATOMIC_ACQUIRE);
  }
  uint32_t size() const { return size_; }
  T& at(uint32_t idx) { return entries_[idx & mask_]; }
  bool needWakeup() const { return flags_ && (__atomic_load_n(flags_, __ATOMIC_RELAXED) & 1u); }

  // Consumer side (RX, completion). Entries ready to read, up to max; *idx = the first.
  uint32_t Peek(uint32_t max, uint32_t* idx) {
    uint32_t ready = cachedProd_ - cachedCons_;
    if (ready < max) {
      cachedProd_ = __atomic_load_n(prod_, __ATOMIC_ACQUIRE);
      ready = cachedProd_ - cachedCons_;
    }
    if (ready > size_) ready = 0;  // a producer index the kernel cannot have written: read nothing
    const uint32_t n = ready < max ? ready : max;
    *idx = cachedCons_;
    return n;
  }
  // Hand n peeked entries back to the producer.
  void Release(uint32_t n) {
    cachedCons_ += n;
    __atomic_store_n(cons_, cachedCons_, __ATOMIC_RELEASE);
  }

  // Producer side (fill, TX). Free entries, up to max; *idx = the first to write.
  uint32_t Reserve(uint32_t max, uint32_t* idx) {
    uint32_t free = size_ - (cachedProd_ - cachedCons_);
    if (free < max) {
      cachedCons_ = __atomic_load_n(cons_, __ATOMIC_ACQUIRE);
      free = size_ - (cachedProd_ - cachedCons_);
    }
    if (free > size_) free = 0;
    const uint32_t n = free < max ? free : max;
    *idx = cachedProd_;
    return n;
  }
  // Publish n reserved (and written) entries.
  void Submit(uint32_t n) {
    cachedProd_ += n;
    __atomic_store_n(prod_, cachedProd_, __ATOMIC_RELEASE);
  }

 private:
  uint32_t* prod_ = nullptr;
  uint32_t* cons_ = nullptr;
  uint32_t* flags_ = nullptr;
  T* entries_ = nullptr;
  uint32_t size_ = 0, mask_ = 0;
  uint32_t cachedProd_ = 0, cachedCons_ = 0;
};

}  // namespace mdx
