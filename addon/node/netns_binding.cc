// closeFd and netnsCheck for TypeScript.
#include <errno.h>
#include <unistd.h>

#include "io/netns.h"
#include "node/modules.h"
#include "node/napi_args.h"

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
