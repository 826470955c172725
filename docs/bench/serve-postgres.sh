#!/usr/bin/env bash
# The PostgreSQL figures of BENCHMARKS.md: one or two `healthscore serve` processes on a fresh
# database, flooded by one `healthscore bench webhooks` whose senders alternate between them.
# Prints events/s and latency, each process's CPU seconds and how idle the machine was. The bench fails on any answer
# that is not 2xx, so a finished run had none.
# Usage: docs/bench/serve-postgres.sh DATABASE_URL [instances: 1 or 2] [path/to/healthscore]
# DATABASE_URL names a database this script empties (it drops and recreates schema public).
set -euo pipefail
url=$1
instances=${2:-1}
bin=${3:-target/release/healthscore}
dir=$(mktemp -d)
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT
psql -q "$url" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' 2>/dev/null
export HUBSPOT_CLIENT_SECRET=bench-secret HEALTHSCORE_PUBLIC_URL=https://bench.example.com \
  HEALTHSCORE_SECRET_KEY=$(head -c 32 /dev/zero | base64) DATABASE_URL=$url RUST_LOG=warn
targets=()
for i in $(seq 1 "$instances"); do
  port=$((18080 + i))
  HEALTHSCORE_BIND=127.0.0.1:$port "$bin" serve >"$dir/serve$i.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  targets+=(--target "http://127.0.0.1:$port")
done
sleep 3  # a fresh server runs its first passes (index, rescore) before the load
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle() { awk '/^cpu /{print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
before=(); for pid in "${servers[@]}"; do before+=("$(cpu "$pid")"); done
read -r idle0 total0 < <(idle)
"$bin" bench webhooks "${targets[@]}" >"$dir/bench.log" 2>&1
read -r idle1 total1 < <(idle)
cat "$dir/bench.log"
echo "machine idle   $(( 100 * (idle1 - idle0) / (total1 - total0) )) % (both cores, during the bench)"
for i in "${!servers[@]}"; do
  echo "serve $((i + 1)) cpu      $(echo "($(cpu "${servers[$i]}") - ${before[$i]}) / 100" | bc -l | cut -c1-5) s"
done
