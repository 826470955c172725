#!/usr/bin/env bash
# One run of the figure BENCHMARKS.md leads with: a `healthscore serve` process on a fresh
# SQLite file, flooded by `healthscore bench webhooks --target`. Prints events/s and latency,
# the CPU seconds of server and load generator, serve's resident memory, and how far the
# read-model projector is behind the log when the last delivery is answered.
# Usage: docs/bench/serve-sqlite.sh [path/to/healthscore]   (needs sqlite3 and bc)
set -euo pipefail
bin=${1:-target/release/healthscore}
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
HUBSPOT_CLIENT_SECRET=bench-secret HEALTHSCORE_PUBLIC_URL=https://bench.example.com \
  DATABASE_URL="sqlite://$dir/hs.db" HEALTHSCORE_BIND=127.0.0.1:18081 RUST_LOG=warn \
  "$bin" serve >"$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18081/readyz >/dev/null && break; sleep 0.1; done
sleep 3  # a fresh server runs its first passes (index, rescore) before the load
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
server_cpu=$(cpu "$server")
"$bin" bench webhooks --target http://127.0.0.1:18081 >"$dir/bench.log" 2>&1 &
bench=$!
bench_cpu=0
while kill -0 "$bench" 2>/dev/null; do bench_cpu=$(cpu "$bench" 2>/dev/null || echo "$bench_cpu"); sleep 0.2; done
wait "$bench"
server_cpu=$(( $(cpu "$server") - server_cpu ))
behind=$(sqlite3 -readonly "$dir/hs.db" "SELECT (SELECT MAX(position) FROM events) - \
  (SELECT position FROM projector_checkpoints WHERE projector = 'read_models')")
cat "$dir/bench.log"
echo "server cpu       $(echo "$server_cpu / 100" | bc -l | cut -c1-5) s"
echo "bench cpu        $(echo "$bench_cpu / 100" | bc -l | cut -c1-5) s"
grep -E 'VmHWM|VmRSS' "/proc/$server/status"
echo "projector behind $behind events"
