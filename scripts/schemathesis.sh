#!/usr/bin/env bash
# Property-based API test: scripts/schemathesis.sh [--no-build]
#
# Starts `yufu serve` on a fresh SQLite data directory and free ports, makes
# an admin API token with `yufu token create`, seeds one small fleet through
# the API (site, building, unit, customer, account, tariff, meter, a
# recharge) so the list, export and finance routes have rows to walk, then
# runs schemathesis (from PyPI, in a venv of its own) against the live
# OpenAPI document at /api/v1/openapi.json. Fails (exit 1) when any response
# is a 5xx (`not_a_server_error`), has a status code the document does not
# list for that operation (`status_code_conformance`), or a content type it
# does not list (`content_type_conformance`), or when a method a path does
# not have is not answered 405 (`unsupported_method`). Always stops the
# server.
#
# --no-build uses the `yufu` binary already in $CARGO_TARGET_DIR/debug
# (.ci/run: the test step has just built it) instead of `cargo build`.
#
# Environment:
#   YUFU_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 50)
#   YUFU_SCHEMATHESIS_SEED      the random seed (default 20260401): runs repeat
#   YUFU_SCHEMATHESIS_WORKERS   concurrent workers (default 1: with more, Python 3.11
#                               can fail parsing in two threads at once, "AST
#                               constructor recursion depth mismatch")
#   YUFU_SCHEMATHESIS_VENV      the venv (default ~/.cache/yufu/venv-schemathesis)
#   YUFU_SCHEMATHESIS_REPORT    directory for the JUnit reports and the
#                               cassettes of every request (default: a
#                               temporary directory, kept only on failure)
#
# What is not fuzzed, and why: nothing is excluded, but
# `DELETE /api/v1/tokens/{id}` runs last, in a run of its own: schemathesis
# reuses ids it saw in responses, so it can find the script's own token in
# `GET /api/v1/tokens` and revoke it, which would turn every later request
# into a 401. The stateful phase (chains of calls linked by response ids) is
# left out for time. `POST /api/v1/auth/login` and `/portal/login` are
# fuzzed: they lock user names and then the test's address (423, 429, both
# documented and both scoped to sign-in, so the bearer token keeps working).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
case "${1:-}" in
  --no-build) build=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac

# 4.x needs Python ≥ 3.9; this pin is the release the run was tuned with.
version=4.32.5
venv="${YUFU_SCHEMATHESIS_VENV:-$HOME/.cache/yufu/venv-schemathesis}"
examples="${YUFU_SCHEMATHESIS_EXAMPLES:-50}"
seed="${YUFU_SCHEMATHESIS_SEED:-20260401}"
workers="${YUFU_SCHEMATHESIS_WORKERS:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
bin="$CARGO_TARGET_DIR/debug/yufu"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "version $version"; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "schemathesis==$version"
fi

if [ "$build" = 1 ]; then
  cargo build -q -p yufu --bin yufu
fi
[ -x "$bin" ] || { echo "no yufu binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

work="$(mktemp -d)"
report="${YUFU_SCHEMATHESIS_REPORT:-$work/report}"
case "$report" in /*) ;; *) report="$PWD/$report" ;; esac
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$server" 2>/dev/null; then
      echo "yufu serve did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$server" 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A clean environment: no YUFU_* from the caller, ports chosen by the OS.
# (An array, not a function: `"${yufu[@]}" serve &` is then the server's own
# process, so $! is the id to stop.)
yufu=(env)
for name in $(env | grep -o '^YUFU_[A-Z0-9_]*=' | tr -d =); do yufu+=(-u "$name"); done
yufu+=(
  YUFU_DATA_DIR="$work/data" YUFU_HTTP_ADDR=127.0.0.1:0
  YUFU_MQTT_ADDR=127.0.0.1:0 YUFU_DLT645_ADDR=127.0.0.1:0
  YUFU_LOG=warn,sqlx=warn
  YUFU_PAYMENT_PROVIDERS="schemapay=schemathesis-callback-secret"
  "$bin"
)
mkdir -p "$work/data"

token="$("${yufu[@]}" token create --role admin --organisation "Schema test" --name schemathesis --days 1)"
case "$token" in yufu_pat_*) ;; *) echo "yufu token create printed no token" >&2; exit 1 ;; esac

"${yufu[@]}" serve >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 600); do
  grep -q '^Press Ctrl-C' "$work/serve.out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.err" >&2; echo "yufu serve exited" >&2; exit 1; }
  sleep 0.1
done
base="$(grep -o 'Console.*http://[^ ]*' "$work/serve.out" | grep -o 'http://[^ ]*' | sed 's:/$::')"
[ -n "$base" ] || { cat "$work/serve.out" "$work/serve.err" >&2; echo "no console URL printed" >&2; exit 1; }
echo "yufu serve at $base (data in $work/data)"

# Seed one small fleet so ids exist and listings, exports and the finance
# walks have rows, and write a schemathesis configuration whose dictionaries
# hold the seeded ids: half the generated values of an `{id}` in the path,
# and of the id fields of bodies and queries, are then real ids, so handlers
# get past "not found" into their own logic; the other half stay random.
# Any failure here is a failure of the run.
"$venv/bin/python" - "$base" "$token" examples/tariffs/guangdong-residential-electricity.toml "$work/schemathesis.toml" <<'PY'
import json, sys, urllib.request

base, token, tariff_file, config_file = sys.argv[1:5]

def call(method, path, body=None, content_type="application/json", headers=None):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", content_type)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"seeding: {method} {path} answered {e.code}: {e.read().decode()}")
    return json.loads(text) if text else None

org = call("GET", "/api/v1/organisations")["items"][0]["id"]
site = call("POST", "/api/v1/sites", {"organisation_id": org, "code": "ST-01", "name": "Schema site", "city": "Guangzhou"})["id"]
building = call("POST", "/api/v1/buildings", {"site_id": site, "code": "B1", "name": "Building 1", "floors": 6})["id"]
unit = call("POST", "/api/v1/units", {"building_id": building, "code": "101", "floor": 1, "kind": "residential", "area_sqm": "89.50"})["id"]
customer = call("POST", "/api/v1/customers", {"organisation_id": org, "kind": "person", "name": "Test Customer", "phone": "13800000000"})["id"]
account = call("POST", "/api/v1/accounts", {"organisation_id": org, "number": "ST000001", "customer_id": customer, "class": "residential"})["id"]
with open(tariff_file, encoding="utf-8") as f:
    tariff = call("POST", f"/api/v1/organisations/{org}/tariffs", f.read(), content_type="application/toml")
meter = call("POST", "/api/v1/meters", {"organisation_id": org, "serial": "ST-M-0001", "utility": "electricity", "model": "DDS", "protocol": "mqtt", "comm_address": "000000000001"})["id"]
call("PUT", f"/api/v1/meters/{meter}/assignment", {"unit_id": unit, "account_id": account})
call("PUT", f"/api/v1/meters/{meter}/tariff", {"tariff_code": tariff["code"]})
call("POST", f"/api/v1/accounts/{account}/recharges", {"amount_fen": 5000, "channel": "counter", "reference": "seed"}, headers={"Idempotency-Key": "seed-1"})
print(f"seeded organisation {org}: site {site}, account {account}, meter {meter}")

dictionaries = {
    "organisations": [org], "sites": [site], "buildings": [building], "units": [unit],
    "customers": [customer], "accounts": [account], "meters": [meter],
    "tariffs": [tariff["code"]], "recharges": ["seed-1"], "providers": ["schemapay"],
    "kinds": ["customers", "accounts", "meters", "devices"],
}
shared = {  # parameter (location.name) -> dictionary, wherever it appears
    "query.organisation_id": "organisations", "body.organisation_id": "organisations",
    "body.site_id": "sites", "body.building_id": "buildings", "body.unit_id": "units",
    "body.customer_id": "customers", "body.account_id": "accounts", "body.meter_id": "meters",
    "body.readings[*].meter_id": "meters", "body.members[*].account_id": "accounts",
    "body.tariff_code": "tariffs", "path.code": "tariffs", "path.key": "recharges",
    "path.provider": "providers", "path.kind": "kinds",
}
by_path = {  # the `{id}` of routes under these prefixes -> dictionary
    "/api/v1/organisations/": "organisations", "/api/v1/sites/": "sites",
    "/api/v1/customers/": "customers", "/api/v1/accounts/": "accounts",
    "/api/v1/portal/accounts/": "accounts", "/api/v1/meters/": "meters",
}
q = json.dumps
# No crash cache in the working directory: every run starts the same way.
lines = ["[cache]", "enabled = false", ""]
for name, values in dictionaries.items():
    lines += [f"[dictionaries.{name}]", f"values = {q(values)}", ""]
lines.append("[parameters]")
for key, name in shared.items():
    lines.append(f'{q(key)} = {{ dictionary = {q(name)}, probability = 0.5 }}')
lines.append("")
for prefix, name in by_path.items():
    regex = "^" + prefix + r"\{id\}"
    lines += ["[[operations]]", f"include-path-regex = {q(regex)}",
              f'parameters = {{ "path.id" = {{ dictionary = {q(name)}, probability = 0.5 }} }}', ""]
with open(config_file, "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
PY

echo "schemathesis $version: $examples examples per operation, seed $seed, $workers workers"
# $1: report name; the rest: which operations.
schemathesis_run() {
  local name="$1"
  shift
  # The hooks teach schemathesis to send application/toml (tariff files).
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" \
    "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" \
    run "$base/api/v1/openapi.json" "$@" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,unsupported_method \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --seed "$seed" \
    --generation-deterministic \
    --workers "$workers" \
    --request-timeout 30 \
    --no-color \
    --report junit --report-junit-path "$report/$name.junit.xml" \
    --report vcr --report-vcr-path "$report/$name.cassette.yaml"
}
mkdir -p "$report"
status=0
# Everything but token revocation first: schemathesis reuses ids it saw in
# responses, so it can revoke its own token (seen in GET /api/v1/tokens);
# that route runs last, on its own, where a 401 after it costs nothing.
schemathesis_run main --exclude-path '/api/v1/tokens/{id}' || status=$?
schemathesis_run revoke --include-path '/api/v1/tokens/{id}' || status=$?

if [ "$status" != 0 ]; then
  if [ -z "${YUFU_SCHEMATHESIS_REPORT:-}" ]; then
    kept="$(mktemp -d)"
    cp -r "$report" "$kept/" 2>/dev/null || true
    report="$kept/report"
  fi
  echo "schemathesis found problems (exit $status); report in $report" >&2
  echo "server log (stderr):" >&2
  tail -n 50 "$work/serve.err" >&2 || true
  exit 1
fi
echo "schemathesis: no failures"
