#!/usr/bin/env bash
# The load client's ceiling on this machine: the fast stub pinned to one CPU, the
# client (`agentbench load`, open loop, constant arrivals, 64-chunk responses)
# pinned to another, at increasing rates. Prints, per rate, the achieved send rate,
# the scheduler lag p99/p99.9, the measuring thread's CPU share and the client
# verdict; the ceiling is the highest rate the client kept up with. Then repeats
# the run at 80 % of that ceiling (the README's target: lag p99 ≤ 200 µs there).
#
#   scripts/load_ceiling.sh [RATES...]     # default: 1000 2000 3000 4000 5000 6000 8000
#   REQUESTS=20000 STUB_CPU=1 CLIENT_CPU=0 scripts/load_ceiling.sh
#
# Needs a release build (cargo build --release) and taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${BIN:-target/release/agentbench}"
REQUESTS="${REQUESTS:-20000}"
STUB_CPU="${STUB_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(1000 2000 3000 4000 5000 6000 8000)
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }

work="$(mktemp -d)"
trap 'kill "$stub_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
taskset -c "$STUB_CPU" "$BIN" stub --port 0 --profile fast >"$work/stub.addr" 2>"$work/stub.log" &
stub_pid=$!
for _ in $(seq 100); do [ -s "$work/stub.addr" ] && break; sleep 0.05; done
addr="$(head -n1 "$work/stub.addr")"
echo "fast stub at $addr (cpu $STUB_CPU); client on cpu $CLIENT_CPU; $REQUESTS requests per rate; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

run_at() {
  local rate="$1" out="$work/rate-$1-$RANDOM"
  set +e
  taskset -c "$CLIENT_CPU" "$BIN" load --base-url "http://$addr" --rate "$rate" \
    --arrival constant --requests "$REQUESTS" --prompt-tokens 32 --output-tokens 64 \
    --quiet --out "$out" >/dev/null 2>&1
  local code=$?
  set -e
  python3 - "$out/summary.json" "$rate" "$code" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
c = s["client"]
print(f"rate {float(sys.argv[2]):>7.0f}/s  sent {s['send_rate']:>8.1f}/s  ok {s['ok']:>6}  "
      f"lag p99 {s['lag']['p99']*1e3:>8.0f} µs  p99.9 {s['lag']['p999']*1e3:>8.0f} µs  "
      f"cpu {100*(c['cpu_busy'] or 0):>3.0f} %  exit {sys.argv[3]}  "
      + ("CLIENT-LIMITED: " + "; ".join(c["reasons"]) if c["client_limited"] else "kept up"))
PY
  return $code
}

ceiling=0
for r in "${RATES[@]}"; do
  if run_at "$r"; then ceiling="$r"; fi
done
echo "ceiling: ${ceiling}/s (highest rate the client kept up with)"
if [ "$ceiling" -gt 0 ]; then
  eighty=$((ceiling * 8 / 10))
  echo "at 80 % of the ceiling:"
  run_at "$eighty" || true
fi
