#!/usr/bin/env bash
# RSS of a standalone stub over many requests: starts `agentbench stub --port 0
# --profile PROFILE`, sends TOTAL streamed POST /api/generate requests in steps of
# STEP (wrk with a Lua script when installed, 8 keep-alive connections, in runs of
# STEP_S seconds; otherwise a
# Python loop over http.client keep-alive connections, much slower), and prints the
# stub's VmRSS (from /proc) after each step. A leak shows as a steady climb; a flat
# stub stays within a few MB of its first figure.
#
# Usage: scripts/stub_rss.sh [PROFILE] [TOTAL] [STEP]
#   defaults: instant 1000000 100000
#   BIN=path/to/agentbench to measure another build (default: target/release/agentbench,
#   else target/debug/agentbench). CONNS=8 connections.
# The response has the profile's chunks (instant: 100, fast: 64; `fast:chunks=N`).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

profile="${1:-instant}"
total="${2:-1000000}"
step="${3:-100000}"
conns="${CONNS:-8}"
bin="${BIN:-}"
if [ -z "$bin" ]; then
  if [ -x target/release/agentbench ]; then bin=target/release/agentbench; else bin=target/debug/agentbench; fi
fi
[ -x "$bin" ] || { echo "no binary at $bin (cargo build first, or set BIN)" >&2; exit 2; }

tmp="$(mktemp -d)"
"$bin" stub --port 0 --profile "$profile" >"$tmp/addr" 2>"$tmp/stub.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/addr" ] && break; sleep 0.05; done
addr="$(head -n1 "$tmp/addr")"
[ -n "$addr" ] || { echo "the stub did not start:" >&2; cat "$tmp/stub.log" >&2; exit 1; }
url="http://$addr"
body='{"model":"gemma3","prompt":"How much memory does the stub keep?","stream":true}'

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

# One step: about STEP requests. wrk runs for a duration (it cannot stop at a count),
# so with wrk a step is STEP_S seconds (default 10) and reports what it sent.
step_s="${STEP_S:-10}"
if command -v wrk >/dev/null 2>&1; then
  tool=wrk
  cat >"$tmp/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
  send() {
    wrk -t2 -c"$conns" -d"${step_s}s" -s "$tmp/post.lua" "$url/api/generate" >"$tmp/wrk.out" 2>&1
    if grep -q "Non-2xx" "$tmp/wrk.out"; then echo "non-2xx answers:" >&2; cat "$tmp/wrk.out" >&2; exit 1; fi
    awk '/requests in/ {print $1}' "$tmp/wrk.out"
  }
else
  tool=python
  send() {
    python3 - "$addr" "$1" "$conns" "$body" <<'EOF'
import http.client, sys, threading
host, port = sys.argv[1].rsplit(":", 1); n = int(sys.argv[2]); c = int(sys.argv[3]); body = sys.argv[4]
def worker(k):
    conn = http.client.HTTPConnection(host, int(port))
    for _ in range(k):
        conn.request("POST", "/api/generate", body, {"Content-Type": "application/json"})
        r = conn.getresponse(); r.read(); assert r.status == 200
ts = [threading.Thread(target=worker, args=(n // c,)) for _ in range(c)]
[t.start() for t in ts]; [t.join() for t in ts]
print(n // c * c)
EOF
  }
fi

echo "stub: $bin, profile $profile, pid $pid, $url; load: $tool, $conns connections"
echo "requests  rss_kib  seconds"
echo "0  $(rss)  0"
done_n=0
next_print="$step"
t0=$(date +%s)
while [ "$done_n" -lt "$total" ]; do
  sent="$(send "$step")"
  done_n=$((done_n + sent))
  if [ "$done_n" -ge "$next_print" ] || [ "$done_n" -ge "$total" ]; then
    echo "$done_n  $(rss)  $(( $(date +%s) - t0 ))"
    next_print=$((next_print + step))
  fi
done
