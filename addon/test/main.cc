// Runs the registered cases and prints TAP (test/unit/native-core.test.ts checks the exit code).
#include <cstring>

#include "harness.h"

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int n = 0, failedCases = 0;
  for (const auto& c : mdxtest::Cases()) {
    if (filter && !std::strstr(c.name, filter)) continue;
    n++;
    const int before = mdxtest::Failures();
    c.fn();
    const bool ok = mdxtest::Failures() == before;
    if (!ok) failedCases++;
    std::printf("%s %d - %s\n", ok ? "ok" : "not ok", n, c.name);
  }
  std::printf("1..%d\n", n);
  if (n == 0) {
    std::printf("# no test matched\n");
    return 2;
  }
  return failedCases ? 1 : 0;
}
