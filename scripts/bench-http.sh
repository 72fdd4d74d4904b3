#!/usr/bin/env bash
# Measures the foundation's HTTP baseline: time from process start to a 200 on
# /readyz (fresh data dir: migrations + demo seeding; and a warm restart), and
# wrk throughput/latency on /healthz, /readyz and /metrics, and readings per
# second through POST /api/v1/readings (scripts/readings.lua). Loopback only.
#
#   scripts/bench-http.sh [RUNS]        (needs: wrk, curl; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p yufu
bin="$target/release/yufu"
port=18090
dir="$(mktemp -d)"
pid=
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then echo "port $port is busy; stop whatever serves it" >&2; exit 1; fi
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

start_ms() {  # starts yufu demo, sets $ms to the ms until /readyz is 200, leaves it running as $pid
  local t0 t1
  t0=$(date +%s%N)
  YUFU_DATA_DIR="$dir/data" YUFU_HTTP_ADDR="127.0.0.1:$port" YUFU_MQTT_ADDR=127.0.0.1:0 \
    YUFU_DLT645_ADDR=127.0.0.1:0 YUFU_LOG=warn "$bin" demo >"$dir/out.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.005; done
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  until grep -q "API token" "$dir/out.log"; do sleep 0.01; done
  token=$(grep -o 'yufu_pat_[0-9a-f]*' "$dir/out.log" | head -1)
}

stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

echo "== start to ready (ms), $runs runs each"
for i in $(seq "$runs"); do
  rm -rf "$dir/data"
  start_ms; fresh=$ms; stop
  start_ms; warm=$ms; stop
  echo "run $i: fresh (migrate + seed) ${fresh} ms, warm restart ${warm} ms"
done

start_ms
for path in /healthz /readyz /metrics; do
  echo "== wrk -t2 -c32 -d10s $path, $runs runs"
  for i in $(seq "$runs"); do
    wrk -t2 -c32 -d10s --latency "http://127.0.0.1:$port$path" \
      | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "run: %s req/s, p50 %s, p99 %s\n", rps, p50, p99}'
  done
done
stop

# Readings over HTTP: a fresh demo per run (its 96 meters), two wrk threads
# with one connection each (a meter's readings must arrive in order), 10
# readings per meter per request = 480 readings per request.
echo "== wrk -t2 -c2 -d10s POST /api/v1/readings (480 readings per request), $runs runs"
for i in $(seq "$runs"); do
  rm -rf "$dir/data"
  start_ms
  auth="Authorization: Bearer $token"
  meters=$(curl -s -H "$auth" "http://127.0.0.1:$port/api/v1/organisations" | sed -E 's/.*"id":"([^"]+)".*/\1/' \
    | xargs -I{} curl -s -H "$auth" "http://127.0.0.1:$port/api/v1/organisations/{}/meters?limit=500" \
    | grep -o '"id":"[^"]*","organisation_id"' | sed -E 's/"id":"([^"]+)".*/"\1"/' | paste -sd, -)
  { echo "METERS = {$meters}"; echo "STEPS = 10"; echo "NTHREADS = 2"; echo "TOKEN = \"$token\""; cat scripts/readings.lua; } > "$dir/readings.lua"
  wrk -t2 -c2 -d10s --latency -s "$dir/readings.lua" "http://127.0.0.1:$port" \
    | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /readings accepted/ {acc=$0} END {printf "run: %s req/s, p50 %s, p99 %s; %s\n", rps, p50, p99, acc}'
  stop
done
