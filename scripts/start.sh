#!/usr/bin/env bash
# Installs what is missing, builds gcd (Release) and runs the daemon in the
# foreground with its defaults. Extra arguments go to gcd (see gcd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc)"
sock=$(build/release/daemon/gcd --print-socket "$@")
cat <<TXT
gcd is starting on $sock (Ctrl-C stops it).
Talk to it from C with libgcclient: gc_connect("$sock", "me", &c),
or set GCD_SOCKET=$sock for clients started elsewhere.
Administer it from another shell: build/release/client/gcctl -s $sock stats
Metrics (unless --metrics-listen says otherwise): http://127.0.0.1:9478/metrics
TXT
exec build/release/daemon/gcd "$@"
