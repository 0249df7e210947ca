// Small helpers shared by the binding files.
#pragma once
#include <napi.h>

#include <cstdint>

inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// Argument i as a string, or "" when absent/undefined.
inline std::string OptString(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsString()) return std::string();
  return info[i].As<Napi::String>().Utf8Value();
}

// Argument i as an int, or dflt when absent/undefined.
inline int64_t OptInt(const Napi::CallbackInfo& info, size_t i, int64_t dflt) {
  if (info.Length() <= i || !info[i].IsNumber()) return dflt;
  return info[i].As<Napi::Number>().Int64Value();
}
