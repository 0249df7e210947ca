#!/usr/bin/env bash
# AddressSanitizer + UBSan run of the addon: builds it with MACDEMUX_SANITIZE=ON into build-asan/
# (the normal build/ is untouched) and runs the engine and io integration tests against it, with
# g++'s libasan preloaded into node (node itself is not instrumented; leak checking is off because
# node's own allocations would be reported). Any sanitizer report aborts the test process, so the
# run fails. Used by .ci/run; needs root for the integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
npx cmake-js compile --log-level warn --out build-asan --CDMACDEMUX_SANITIZE=ON >/dev/null
addon=build-asan/Release/macdemux.node
libasan=$(g++ -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "sanitize: libasan.so not found (g++ -print-file-name)" >&2; exit 1; }
# engine-teardown and io-packet-port terminate worker threads with engines, ports, generators and
# sinks running: the env-cleanup paths (addon/node/node_handle.h, the JS port's callback).
# MACDEMUX_SANITIZE_TESTS=... runs another list.
tests=(${MACDEMUX_SANITIZE_TESTS:-test/integration/engine-conformance.test.ts test/integration/engine-fuzz.test.ts test/integration/engine-vlan-js.test.ts test/integration/engine-tap.test.ts test/integration/engine-teardown.test.ts test/integration/io-packet-port.test.ts test/integration/io-tap-queue.test.ts test/integration/io-generator-sink.test.ts})
MACDEMUX_ADDON=$PWD/$addon \
  LD_PRELOAD=$libasan \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "${tests[@]}"
