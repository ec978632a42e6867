#!/usr/bin/env bash
# The whole test suite: a normal build, an ASan+UBSan build and a TSan build
# (clang), each under ctest. A sanitizer report fails the test it occurs in.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
run() { # run BUILD_DIR [CMAKE_ARGS...] [-- CTEST_ARGS...]
  local dir=$1; shift
  local cm=() ct=()
  while (($#)) && [[ $1 != -- ]]; do cm+=("$1"); shift; done
  (($#)) && shift && ct=("$@")
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cm[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${ct[@]}")
}
run build/test
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run build/asan -DGCD_SANITIZE=address
# ThreadSanitizer watches the collector thread against the loop thread. The
# single-threaded heap and allocator tests are left out here (they ran twice
# above and are very slow under TSan), and the chain is shortened.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 GCD_TEST_CHAIN_LEN=200000 \
  run build/tsan -DCMAKE_C_COMPILER=clang -DGCD_SANITIZE=thread \
  -- -E '^unit\.test_(heap|arena|shm)$'
