// strerror(3) for TypeScript, so error messages read like the C library's: "EEXIST (File exists)".
#include <string.h>

#include "node/modules.h"

static Napi::Value StrError(const Napi::CallbackInfo& info) {
  int e = info[0].As<Napi::Number>().Int32Value();
  char buf[256];
  const char* text = strerror_r(e < 0 ? -e : e, buf, sizeof buf);  // GNU variant returns the text
  return Napi::String::New(info.Env(), text);
}

void InitErrnoText(Napi::Env env, Napi::Object exports) {
  exports.Set("strerror", Napi::Function::New(env, StrError, "strerror"));
}
