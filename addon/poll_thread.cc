#include "poll_thread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

StopEvent::StopEvent() { fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

StopEvent::~StopEvent() {
  if (fd_ >= 0) close(fd_);
}

void StopEvent::Signal() {
  uint64_t one = 1;
  if (fd_ >= 0) {
    ssize_t r = write(fd_, &one, sizeof(one));
    (void)r;
  }
}

void StopEvent::Drain() {
  uint64_t v;
  if (fd_ >= 0) {
    ssize_t r = read(fd_, &v, sizeof(v));
    (void)r;
  }
}

static void CleanupHook(void* arg) { static_cast<NativeWorker*>(arg)->StopAndJoin(); }

void RegisterWorkerCleanup(napi_env env, NativeWorker* w) { napi_add_env_cleanup_hook(env, CleanupHook, w); }

void UnregisterWorkerCleanup(napi_env env, NativeWorker* w) { napi_remove_env_cleanup_hook(env, CleanupHook, w); }

int PinThisThread(int cpu) {
  if (cpu < 0) return 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int r = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  return r == 0 ? 0 : -r;
}

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
