#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <thread>

#include "modules.h"
#include "napi_util.h"

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

// closeFd(fd): 0 or -errno. Shared by every module that hands fds to TypeScript.
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Num(info.Env(), close(fd) == 0 ? 0 : -errno);
}

// netnsCheck(path): 0 when the namespace can be entered, else -errno.
static Napi::Value NetnsCheck(const Napi::CallbackInfo& info) {
  std::string ns = info[0].As<Napi::String>().Utf8Value();
  return Num(info.Env(), RunInNetns(ns, [] { return 0; }));
}

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("netnsCheck", Napi::Function::New(env, NetnsCheck, "netnsCheck"));
}
