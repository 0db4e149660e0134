#!/usr/bin/env bash
# Memory of a long load run: `agentbench load --rate RATE --duration SECONDS` against
# the fast stub (its own process), sampling the load process's RSS every 10 s.
# The target: RSS flat (±10 %) between minute 1 and minute 5 at 1,000 requests/s.
#
#   scripts/load_rss.sh [RATE] [SECONDS]        # default 1000 300
#
# Needs a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-target/release/agentbench}"
RATE="${1:-1000}"
SECONDS_TOTAL="${2:-300}"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
trap 'kill "$stub_pid" "$load_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" stub --port 0 --profile fast >"$work/stub.addr" 2>/dev/null &
stub_pid=$!
for _ in $(seq 100); do [ -s "$work/stub.addr" ] && break; sleep 0.05; done
"$BIN" load --base-url "http://$(head -n1 "$work/stub.addr")" --rate "$RATE" --arrival constant \
  --duration "$SECONDS_TOTAL" --prompt-tokens 32 --output-tokens 64 --quiet --out "$work/run" \
  >/dev/null 2>&1 &
load_pid=$!
echo "t_s rss_kb"
t=0
while kill -0 "$load_pid" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$load_pid/status" 2>/dev/null || echo 0)
  echo "$t $rss"
  sleep 10
  t=$((t + 10))
done
wait "$load_pid" || echo "load exited with $?"
python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print('requests', s['measured'], 'failed', s['failed'], 'lag p99 ms', s['lag']['p99'], 'client limited', s['client']['client_limited'])" "$work/run/summary.json"
