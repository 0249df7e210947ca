// Small helpers for the data-plane threads: CPU pinning and the monotonic clock.
#pragma once
#include <stdint.h>

// Pin the calling thread to a CPU (cpu < 0: no-op). 0 or -errno.
int PinThisThread(int cpu);

// CLOCK_MONOTONIC in nanoseconds.
uint64_t MonoNs();
