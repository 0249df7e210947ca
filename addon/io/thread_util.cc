#include "io/thread_util.h"

#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int PinThisThread(int cpu) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  return r == 0 ? 0 : -r;
}

namespace {
// include/uapi/linux/sched/types.h struct sched_attr (that header clashes with <sched.h>).
struct SchedAttr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
  uint32_t sched_util_min, sched_util_max;
};
}  // namespace

int SetThisThreadSlice(uint32_t us) {
  SchedAttr a{};
  if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) != 0) return -errno;
  if (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH) return 0;  // real-time: no slice
  a.size = sizeof(a);
  a.sched_flags = 0;
  a.sched_runtime = uint64_t(us) * 1000;
  return syscall(SYS_sched_setattr, 0, &a, 0) == 0 ? 0 : -errno;
}

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
