// Small helpers for the data-plane threads: CPU pinning and the monotonic clock.
#pragma once
#include <stdint.h>

// Pin the calling thread to a CPU (cpu < 0: no-op). 0 or -errno.
int PinThisThread(int cpu);

// Ask the fair scheduler (EEVDF, Linux 6.12+) for a time slice of `us` microseconds for the calling
// thread: its policy and nice value stay; a thread with a slice shorter than the running task's
// preempts it when it wakes (kernel/sched/fair.c, PREEMPT_SHORT; sched_attr.sched_runtime is the
// slice, clamped to 0.1..100 ms). Older kernels accept and ignore it. 0 or -errno.
int SetThisThreadSlice(uint32_t us);

// CLOCK_MONOTONIC in nanoseconds.
uint64_t MonoNs();
