// A tiny test harness for the core's C++ unit tests (no dependencies): TEST(name) registers a
// case, CHECK / CHECK_EQ record failures and keep going. main() runs every case (or those whose
// name contains argv[1]) and prints TAP, so `npm test` shows each case.
#pragma once
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace mdxtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& Cases() {
  static std::vector<Case> c;
  return c;
}
inline int& Failures() {
  static int f = 0;
  return f;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { Cases().push_back({name, std::move(fn)}); }
};
inline void Fail(const char* file, int line, const std::string& what) {
  Failures()++;
  std::printf("  # FAIL %s:%d: %s\n", file, line, what.c_str());
}

}  // namespace mdxtest

#define MDX_CAT2(a, b) a##b
#define MDX_CAT(a, b) MDX_CAT2(a, b)
#define TEST(name)                                                                     \
  static void MDX_CAT(test_, __LINE__)();                                              \
  static mdxtest::Register MDX_CAT(reg_, __LINE__)(name, MDX_CAT(test_, __LINE__));    \
  static void MDX_CAT(test_, __LINE__)()
#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) mdxtest::Fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)
#define CHECK_EQ(a, b)                                                                              \
  do {                                                                                              \
    const auto va_ = (a);                                                                           \
    const auto vb_ = (b);                                                                           \
    if (!(va_ == vb_))                                                                              \
      mdxtest::Fail(__FILE__, __LINE__,                                                             \
                    std::string(#a " == " #b ": ") + std::to_string(static_cast<long long>(va_)) + \
                        " != " + std::to_string(static_cast<long long>(vb_)));                     \
  } while (0)
