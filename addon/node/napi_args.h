// The binding convention, for every addon/node/*.cc file:
// - Arguments and option objects are read with the helpers below (types coerced, defaults for
//   absent values); TypeScript validated them already (src/io, src/dataplane).
// - Handles are Napi::External<T>; Unwrap<T>(value) gives the T* or nullptr.
// - A fallible call returns a count/handle or -errno and never throws. It writes the failing step
//   ("bind", "setsockopt(PACKET_RX_RING)", "slot already attached", ...) into the optional error
//   detail object the caller passed (its `step` property): per call, nothing global (globals
//   would be shared by every worker_thread that loads the addon).
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

inline Napi::Number Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// ---- positional arguments ----

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

// The T behind an External argument/value, or nullptr.
template <class T>
T* Unwrap(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  return v.As<Napi::External<T>>().Data();
}
template <class T>
T* Unwrap(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i ? Unwrap<T>(info[i]) : nullptr;
}

// A typed array view (argument or property) of the given element type: data and element count.
template <class T>
bool TypedView(const Napi::Value& v, napi_typedarray_type type, T** data, size_t* count) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (ta.TypedArrayType() != type) return false;
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  *data = reinterpret_cast<T*>(static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset());
  *count = ta.ElementLength();
  return true;
}
template <class T>
bool TypedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, T** data, size_t* count) {
  return info.Length() > i && TypedView(info[i], type, data, count);
}

// ---- option object properties ----

inline uint32_t GetU32(const Napi::Object& o, const char* k, uint32_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : d;
}
inline int64_t GetI64(const Napi::Object& o, const char* k, int64_t d) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : d;
}
inline bool GetBool(const Napi::Object& o, const char* k, bool d) {
  Napi::Value v = o.Get(k);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : d;
}
inline std::string GetStr(const Napi::Object& o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
template <class T>
bool GetTyped(const Napi::Object& o, const char* k, napi_typedarray_type type, T** data, size_t* count) {
  return TypedView(o.Get(k), type, data, count);
}

// ---- error detail ----

// Writes the failing step into the error detail object at argument i (when the caller passed one).
inline void SetErrorDetail(const Napi::CallbackInfo& info, size_t i, const std::string& step) {
  if (info.Length() > i && info[i].IsObject() && !step.empty()) info[i].As<Napi::Object>().Set("step", step);
}
inline void SetErrorDetail(const Napi::CallbackInfo& info, size_t i, const char* step) {
  SetErrorDetail(info, i, std::string(step ? step : ""));
}
