#!/usr/bin/env bash
# Console page latency at a large fleet (issue 7: every page < 100 ms p95
# with 1M meters; the device lifecycle pages of issue 8 too). Generates a load-test organisation of N households into a
# fresh SQLite database (`yufu bench fleet`), starts `yufu demo` on it (the
# demo's own 96 simulated meters keep reporting meanwhile), and runs wrk
# against each console page: 4 connections for 10 s, RUNS times, printing
# p50/p95/p99 per run. Pages are read with the load-test organisation's admin
# API token (pages accept a bearer token like the API), the portal with a
# customer's session cookie.
#
#   scripts/bench-console.sh [METERS] [RUNS]    (default 1000000 3; needs wrk, curl)
#   YUFU_BENCH_ONLY='^/(devices|procurement)' scripts/bench-console.sh   (some pages only)
set -euo pipefail
cd "$(dirname "$0")/.."
meters="${1:-1000000}"
runs="${2:-3}"
target="${CARGO_TARGET_DIR:-target}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p yufu
bin="$target/release/yufu"
port=18091
dir="${YUFU_BENCH_DIR:-$(mktemp -d)}"
pid=
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT
export YUFU_DATA_DIR="$dir/data" YUFU_LOG=warn
# A generated fleet never reports: keep it "online" for the whole run rather
# than raising a million communication alarms mid-measurement.
export YUFU_OFFLINE_AFTER=24h

echo "== yufu bench fleet --meters $meters (data in $dir)"
t0=$(date +%s)
fleet=$("$bin" bench fleet --meters "$meters")
echo "$fleet"
echo "generated in $(( $(date +%s) - t0 )) s"
token=$(echo "$fleet" | sed 's/.*"token":"\([^"]*\)".*/\1/')
org=$(echo "$fleet" | sed 's/.*"organisation":"\([^"]*\)".*/\1/')
auth="Authorization: Bearer $token"

echo "== yufu demo start-up with the fleet (engine loads every meter)"
t0=$(date +%s%N)
YUFU_HTTP_ADDR="127.0.0.1:$port" YUFU_MQTT_ADDR=127.0.0.1:0 YUFU_DLT645_ADDR=127.0.0.1:0 \
  "$bin" demo >"$dir/out.log" 2>"$dir/err.log" &
pid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && grep -q "Press Ctrl-C" "$dir/out.log"; do
  kill -0 "$pid" 2>/dev/null || { cat "$dir/err.log"; exit 1; }
  sleep 0.2
done
echo "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms; RSS $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status)"

base="http://127.0.0.1:$port"
# Sample entities from the far end of the fleet (the search page answers a
# single hit with a redirect to it).
last=$(printf '%07d' $(( meters - 7 )))
meter_url=$(curl -s -o /dev/null -w '%{redirect_url}' -H "$auth" "$base/search?q=LT-E-$last" | sed "s#$base##")
account_url=$(curl -s -o /dev/null -w '%{redirect_url}' -H "$auth" "$base/search?q=LT$last" | sed "s#$base##")
site=$(curl -s -H "$auth" "$base/api/v1/organisations/$org/sites?limit=1" | sed 's/.*"id":"\([^"]*\)".*/\1/')
account_id=${account_url##*/}
[ -n "$meter_url" ] && [ -n "$account_id" ] || { echo "could not find sample meter/account" >&2; exit 1; }
curl -sf -X PUT -H "$auth" -H 'Content-Type: application/json' -d '{"password":"load-test-portal-1"}' \
  "$base/api/v1/accounts/$account_id/portal-password"
cookie=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"account_number\":\"LT$last\",\"password\":\"load-test-portal-1\"}" "$base/api/v1/portal/login" \
  | awk -F'[ ;]' 'tolower($1)=="set-cookie:" {print $2}' | head -1)

pages=(
  "/"
  "/search?q=LT-E-$last"
  "/search?q=139$(printf '%08d' $(( meters - 7 )))"
  "$meter_url"
  "$meter_url?range=month"
  "$account_url"
  "/counter?account=$account_id"
  "/counter?q=LT$last"
  "/sites"
  "/sites/$site"
  "/alarms"
  "/tariffs"
  "/tariffs/guangdong-residential-electricity"
  "/users"
  "/audit"
  # the device lifecycle (issue 8): the generated meters have no lifecycle
  # record, so these read them through meters.status
  "/devices"
  "/devices?state=in_service"
  "/devices?state=faulty"
  "/devices?state=received"
  "/devices/${meter_url##*/}"
  "/procurement"
  "/installations"
  "/replacement"
  "/sites/$site?demand=1"
)
# YUFU_BENCH_ONLY: a regular expression; only the pages matching it run.
only="${YUFU_BENCH_ONLY:-}"
for page in "${pages[@]}"; do
  if [ -n "$only" ] && ! [[ "$page" =~ $only ]]; then continue; fi
  echo "== GET $page"
  for i in $(seq "$runs"); do
    wrk -t1 -c4 -d10s -H "$auth" -s scripts/wrk-percentiles.lua "$base$page" | tail -1
  done
done
if [ -z "$only" ] || [[ "/portal" =~ $only ]]; then
  echo "== GET /portal (customer session)"
  for i in $(seq "$runs"); do
    wrk -t1 -c4 -d10s -H "Cookie: $cookie" -s scripts/wrk-percentiles.lua "$base/portal" | tail -1
  done
fi
