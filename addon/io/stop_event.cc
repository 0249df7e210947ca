#include "io/stop_event.h"

#include <stdint.h>
#include <sys/eventfd.h>
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
