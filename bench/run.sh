#!/usr/bin/env bash
# bench/run.sh -- every benchmark of gcd against its reference, side by side
# in one run: collection throughput vs CPython's gc, pauses during a
# collection, operation rates vs Redis and multiprocessing.managers, and
# scale. Prints one line per figure with its ratio (docs/performance.md).
#
# Environment: BENCH_SCALE (default 1) multiplies every size; BENCH_REPS
# (default 3) repetitions, of which the median is shown, BENCH_COLLECT_REPS
# (default 5) those of the collection cases and BENCH_OPS_REPS (default 5)
# those against Redis; BENCH_HEAP_N
# (default 10000000 * BENCH_SCALE) the large heap; BENCH_OUT a file to
# keep the raw "key value" results in.
set -euo pipefail

PY=${BENCH_PYTHON:-/usr/bin/python3}
dir=""
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${BENCH_SCALE:-1}
REPS=${BENCH_REPS:-3}
COLLECT_REPS=${BENCH_COLLECT_REPS:-5}
OPS_REPS=${BENCH_OPS_REPS:-5}
BUILD=$ROOT/build/release

say() { printf '%s\n' "$*" >&2; }
scaled() { "$PY" -c "import sys; print(max(1000, int($1 * float(sys.argv[1]))))" "$SCALE"; }

install_deps() {
  local missing=() sudo=""
  "$ROOT/scripts/install-deps.sh" # the build's own packages
  while read -r pkg; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done <"$ROOT/bench/deps.txt"
  ((${#missing[@]} == 0)) && return
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  say "installing ${missing[*]}"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
  say "building Release in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target gcd gcbench >/dev/null
}

machine() {
  echo "machine.cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/ /_/g')"
  echo "machine.cores $(nproc)"
  echo "machine.ram_kb $(awk '/MemTotal/ {print $2}' /proc/meminfo)"
  echo "machine.kernel $(uname -r)"
  echo "machine.redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
}

# redis-benchmark --csv: "TEST","rps","avg","min","p50","p95","p99","max" (ms).
# SET is one of its tests; DEL is not, so it runs as a command of its own.
redis_bench() {
  local sock=$1 depth=$2 n=$3
  { $PIN redis-benchmark -s "$sock" -t set -d 16 -P "$depth" -c 1 -n "$n" --csv
    $PIN redis-benchmark -s "$sock" -P "$depth" -c 1 -n "$n" --csv del key:__rand_int__
  } 2>/dev/null |
    awk -F, -v d="$depth" '$2 !~ /rps/ { for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
      t = tolower($1) ~ /^del/ ? "del" : tolower($1);
      print "redis." t ".p" d ".ops_per_s " $2;
      print "redis." t ".p" d ".lat.p50_ns " $5 * 1e6;
      print "redis." t ".p" d ".lat.p99_ns " $7 * 1e6 }'
}

# gcd and its reference take turns, repetition by repetition, so that a
# slow spell of the machine falls on both.
collect_cases() {
  local gb=$1 gcd=$2 n shape
  n=$(scaled 1000000)
  for shape in cycles ring random reach frozen; do
    say "collection: $shape, $n objects"
    for _ in $(seq "$COLLECT_REPS"); do
      "$gb" "$gcd" collect "$shape" "$n" 1
      "$PY" "$ROOT/bench/cpython_gc.py" "$shape" "$n" 1
    done
  done
}

# Each side's processes run wherever the scheduler puts them, or, with PIN
# set (taskset -c CPU), all on one CPU: a round trip then has no wakeup of
# another CPU in it, which on a virtual machine can cost more than the
# request itself.
PIN=""

# Each case makes as many requests as its counterpart on the other side
# (100,000 at depth 1, 800,000 at depth 16), so that both run about as
# long: across CPUs, how often the scheduler puts client and server on one
# CPU changes over seconds and sets the rate (docs/performance.md); a short
# run's median would mostly miss those spells. Redis runs there under
# redis-benchmark, and under gcbench's loop, which waits as gcd's client
# does (a blocking send, then recv, polling first for the library's default
# spin-wait, or not at all: gcd's answered cases run both ways too).
ops_cases() {
  local dir=$1 gb=$2 gcd=$3 n
  n=$(scaled 100000)
  rm -f "$dir/redis.sock"
  $PIN redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
    --dir "$dir" --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do [[ -S $dir/redis.sock ]] && break; sleep 0.05; done
  for _ in $(seq "$OPS_REPS"); do
    $PIN "$gb" "$gcd" ops "$(scaled 50000)"
    redis_bench "$dir/redis.sock" 1 "$n"
    $PIN "$gb" - resp "$dir/redis.sock" "$n" 1
    $PIN "$gb" - resp "$dir/redis.sock" "$n" 1 0
    redis_bench "$dir/redis.sock" 16 "$((n * 8))"
    $PIN "$gb" - resp "$dir/redis.sock" "$((n * 8))" 16
    $PIN "$gb" - resp "$dir/redis.sock" "$((n * 8))" 16 0
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# The same cases with gcd, its client, Redis and redis-benchmark all on
# the first CPU this script may use; keys prefixed "cpu1.".
ops_cases_one_cpu() {
  local cpu
  cpu=$("$PY" -c 'import os; print(min(os.sched_getaffinity(0)))')
  PIN="taskset -c $cpu"
  ops_cases "$@" | sed 's/^/cpu1./'
  PIN=""
}

main() {
  install_deps
  build
  local gcd=$BUILD/daemon/gcd gb=$BUILD/bench/gcbench n
  dir=$(mktemp -d /tmp/gcd-bench-XXXXXX)
  trap 'rm -rf "$dir"' EXIT
  local out=${BENCH_OUT:-$dir/results.txt}
  : >"$out"
  machine >>"$out"
  collect_cases "$gb" "$gcd" >>"$out"
  n=$(scaled 1000000)
  say "pause: collecting $n reachable objects under load"
  "$gb" "$gcd" pause "$n" "$REPS" >>"$out"
  say "operations: gcd, Redis"
  ops_cases "$dir" "$gb" "$gcd" >>"$out"
  say "operations: gcd, Redis, each on one CPU"
  ops_cases_one_cpu "$dir" "$gb" "$gcd" >>"$out"
  say "multiprocessing.managers"
  "$PY" "$ROOT/bench/mp_managers.py" "$(scaled 1000)" >>"$out"
  say "scale: 8 processes"
  "$gb" "$gcd" scale 8 "$(scaled 20000)" >>"$out"
  local big=${BENCH_HEAP_N:-$(scaled 10000000)}
  say "heap: $big objects"
  "$gb" "$gcd" heap "$big" >>"$out"
  "$PY" "$ROOT/bench/report.py" "$out"
}

main "$@"
