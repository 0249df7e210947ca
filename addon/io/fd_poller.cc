#include "io/fd_poller.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>

#include "io/thread_util.h"

int FdPoller::Start(FdPollerOptions o, Emit emit) {
  if (thread_.joinable()) return -EALREADY;
  if (!stop_.valid() || !arm_.valid()) return -EMFILE;
  o_ = std::move(o);
  emit_ = std::move(emit);
  thread_ = std::thread([this] { Run(); });
  return 0;
}

void FdPoller::Stop() {
  stop_.MarkStopped();
  stop_.Signal();
  if (thread_.joinable()) thread_.join();
}

void FdPoller::Run() {
  bool armed = true;
  const uint64_t intervalNs = uint64_t(o_.intervalMs) * 1000000ull;
  uint64_t lastCheck = MonoNs();
  while (!stop_.stopped()) {
    if (o_.check) {
      const uint64_t now = MonoNs();
      if (now - lastCheck >= intervalNs) {
        lastCheck = now;
        const int c = o_.check();
        if (c < 0) {
          emit_(kError, c);
          break;
        }
      }
    }
    pollfd pfd[3] = {{o_.fd, static_cast<short>(armed ? POLLIN : 0), 0}, {stop_.fd(), POLLIN, 0}, {arm_.fd(), POLLIN, 0}};
    const int pr = poll(pfd, 3, o_.intervalMs);
    if (stop_.stopped()) break;
    if (pr < 0) {
      if (errno == EINTR) continue;
      emit_(kError, -errno);
      break;
    }
    if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      emit_(kError, o_.errorOf ? o_.errorOf() : -EIO);
      break;
    }
    if (pfd[2].revents & POLLIN) {
      arm_.Drain();
      armed = true;
    }
    const bool has = o_.ready ? o_.ready() : (pfd[0].revents & POLLIN) != 0;
    if (armed && has) {
      armed = false;
      emit_(kReadable, 0);
    }
  }
}
