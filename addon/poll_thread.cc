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

int FdPoller::Start(Napi::Env env, Napi::Function cb, int fd, std::function<int()> errorOf,
                    std::function<int()> check) {
  if (thread_.joinable()) return -EALREADY;
  if (!stop_.valid() || !arm_.valid()) return -EMFILE;
  fd_ = fd;
  errorOf_ = std::move(errorOf);
  check_ = std::move(check);
  tsfn_ = Napi::ThreadSafeFunction::New(env, cb, "macdemux.poller", 0, 1);
  live_ = true;
  thread_ = std::thread([this] { Run(); });
  return 0;
}

void FdPoller::Stop() {
  stop_.MarkStopped();
  stop_.Signal();
  if (thread_.joinable()) thread_.join();
  if (live_) {
    tsfn_.Release();
    live_ = false;
  }
}

void FdPoller::Ref(Napi::Env env, bool ref) {
  if (!live_) return;
  if (ref)
    tsfn_.Ref(env);
  else
    tsfn_.Unref(env);
}

void FdPoller::Emit(int kind, int arg) {
  auto* data = new int[2]{kind, arg};
  napi_status st = tsfn_.NonBlockingCall(data, [](Napi::Env env, Napi::Function cb, int* d) {
    if (env != nullptr && cb != nullptr) SafeCall(env, cb, {Napi::Number::New(env, d[0]), Napi::Number::New(env, d[1])});
    delete[] d;
  });
  if (st != napi_ok) delete[] data;
}

void FdPoller::Run() {
  bool armed = true;
  uint64_t lastCheck = MonoNs();
  while (!stop_.stopped()) {
    if (check_) {
      uint64_t now = MonoNs();
      if (now - lastCheck >= 200000000ull) {
        lastCheck = now;
        int c = check_();
        if (c < 0) {
          Emit(kError, c);
          break;
        }
      }
    }
    pollfd pfd[3] = {{fd_, static_cast<short>(armed ? POLLIN : 0), 0}, {stop_.fd(), POLLIN, 0}, {arm_.fd(), POLLIN, 0}};
    int pr = poll(pfd, 3, 200);
    if (stop_.stopped()) break;
    if (pr < 0) {
      if (errno == EINTR) continue;
      Emit(kError, -errno);
      break;
    }
    if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      Emit(kError, errorOf_ ? errorOf_() : -EIO);
      break;
    }
    if (pfd[2].revents & POLLIN) {
      arm_.Drain();
      armed = true;
    }
    if (armed && (pfd[0].revents & POLLIN)) {
      armed = false;
      Emit(kReadable, 0);
    }
  }
}
