#include "io/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

std::string ResolveNetnsPath(const std::string& nsPath) {
  if (nsPath.empty() || nsPath.find('/') != std::string::npos) return nsPath;
  return "/run/netns/" + nsPath;
}

int RunInNetns(const std::string& nsPath, const std::function<int()>& fn) {
  if (nsPath.empty()) return fn();
  std::string path = ResolveNetnsPath(nsPath);
  int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return -errno;
  int result = 0;
  // A fresh thread enters the namespace so the calling (JS) thread never changes namespace.
  std::thread worker([&] {
    if (setns(nsfd, CLONE_NEWNET) != 0) {
      result = -errno;
      return;
    }
    result = fn();
  });
  worker.join();
  close(nsfd);
  return result;
}
