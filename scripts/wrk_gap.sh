#!/usr/bin/env bash
# agentbench's client against wrk (a C load generator, Debian package `wrk`) on the same
# stub, one connection, one request at a time: how far the harness's own call is from
# a client that only writes the request and reads the bytes.
#
# For each stub profile (default: `fast`, pre-rendered bytes, and `instant`, which
# builds every body), each placement (`spread`: no pinning, the scheduler places the
# stub and the client on the machine's CPUs; `one-cpu`: stub and client both pinned to
# CPU 0 with taskset, so no wake-up crosses CPUs) and each round, it starts the stub
# (its own process, `agentbench stub --port 0`), then runs
#   - wrk -t1 -c1 for SECONDS with --latency: p50 and requests/s as wrk prints them.
#     wrk sends agentbench's own request (its body and headers, captured once from a
#     `fast` stub's request log, GET /stub/requests), so the stub does the same work
#     for both clients (until 2026-12-05 wrk sent a shorter body without options, and
#     the stub cost ~1 µs less a request under wrk on one CPU);
#   - agentbench load --concurrency 1 --duration SECONDS --prompt-tokens 8: E2E and
#     headers p50 (from records.jsonl: end_ns and headers_ns, t0 = the call's start);
# and reads every process's CPU time: wrk's from GNU time, the stub's from /proc (utime +
# stime before and after each client), agentbench's measuring thread from its own end line
# (`client_cpu_ns`), each divided by the requests completed. The stub's CPU per
# request under wrk is the stub's own cost; wrk's is the floor of a client.
#
# Usage: scripts/wrk_gap.sh [ROUNDS] [SECONDS]        defaults 3 3
#   PROFILES="fast instant" (stub profiles; the response has 64 chunks: fast:chunks=64,
#   instant's fixed text of about 65 lines), BIN=path/to/agentbench (default
#   target/release/agentbench), PLACEMENTS="spread one-cpu", AWAKE=1 (the stub holds the
#   CPUs awake while it runs, `stub --keep-cpus-awake`: idle CPUs poll instead of
#   halting, for wrk and agentbench alike; needs write access to /dev/cpu_dma_latency).
# Prints one line per run and a table of medians over the rounds.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

rounds="${1:-3}"
secs="${2:-3}"
profiles="${PROFILES:-fast instant}"
placements="${PLACEMENTS:-spread one-cpu}"
bin="${BIN:-target/release/agentbench}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first (or set BIN)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is needed: apt-get install util-linux" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to read the records" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is needed for wrk's CPU time: apt-get install time" >&2; exit 2; }
hz="$(getconf CLK_TCK)"

tmp="$(mktemp -d)"
stub_pid=""
stop_stub() {
  if [ -n "$stub_pid" ]; then
    kill "$stub_pid" 2>/dev/null || true
    wait "$stub_pid" 2>/dev/null || true
    stub_pid=""
  fi
}
trap 'stop_stub; rm -rf "$tmp"' EXIT

# CPU ticks (user + system) of a process so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_stub PROFILE PIN: starts the stub, sets stub_pid and url.
start_stub() {
  : >"$tmp/addr"
  $2 "$bin" stub --port 0 --profile "$1" ${AWAKE:+--keep-cpus-awake} >"$tmp/addr" 2>"$tmp/stub.log" &
  stub_pid=$!
  for _ in $(seq 200); do [ -s "$tmp/addr" ] && break; sleep 0.02; done
  [ -s "$tmp/addr" ] || { echo "the stub ($1) did not start:" >&2; cat "$tmp/stub.log" >&2; exit 1; }
  url="http://$(head -n1 "$tmp/addr")"
}

# wrk sends the request agentbench sends (the same body and headers), so that the
# stub does the same work for both clients: one `load` request to a `fast` stub, its
# body read back from the stub's request log (GET /stub/requests).
start_stub fast:chunks=64 ""
"$bin" load --base-url "$url" --concurrency 1 --requests 1 --prompt-tokens 8 --quiet \
  --out "$tmp/capture" >/dev/null 2>"$tmp/load.err" || {
  echo "agentbench load failed:" >&2; cat "$tmp/load.err" >&2; exit 1; }
curl -sf "$url/stub/requests" >"$tmp/requests.json" || {
  echo "could not read the stub's request log ($url/stub/requests)" >&2; exit 1; }
stop_stub
rm -rf "$tmp/capture"
version="$("$bin" --version | awk '{print $2}')"
python3 - "$tmp/requests.json" "$tmp/post.lua" "$tmp/body.json" "$version" <<'EOF'
import json, sys
log, lua, body_file, version = sys.argv[1:5]
body = json.load(open(log))[-1]["body"]
if "]==]" in body:
    sys.exit("the captured body holds ]==]: it cannot be quoted for wrk's Lua script")
open(body_file, "w").write(body)
open(lua, "w").write(
    'wrk.method = "POST"\n'
    f"wrk.body = [==[{body}]==]\n"
    'wrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["Accept"] = "*/*"\n'
    f'wrk.headers["User-Agent"] = "agentbench/{version}"\n')
EOF
body="$(cat "$tmp/body.json")"

# warm_stub: one request, so that both clients meet a stub past its first answer.
warm_stub() {
  curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$url/api/generate" || true
}

: >"$tmp/rows"
echo "profile placement round | wrk: p50_us req/s cpu_us/req stub_cpu_us/req | agentbench: e2e_p50_us headers_p50_us read_p50_us req/s cpu_us/req stub_cpu_us/req | e2e p50 / wrk p50 | read p50 / wrk p50"
for round in $(seq "$rounds"); do
  for profile in $profiles; do
    stub_profile="$profile"
    [ "$profile" = fast ] && stub_profile="fast:chunks=64"
    for placement in $placements; do
      pin=""
      [ "$placement" = one-cpu ] && pin="taskset -c 0"
      start_stub "$stub_profile" "$pin"
      warm_stub

      s0="$(ticks "$stub_pid")"
      $pin /usr/bin/time -f "%U %S" -o "$tmp/wrk.time" \
        wrk -t1 -c1 -d"${secs}s" --latency -s "$tmp/post.lua" "$url/api/generate" >"$tmp/wrk.out" 2>&1
      w_ticks="$(awk -v hz="$hz" '{printf "%d", ($1 + $2) * hz + 0.5}' "$tmp/wrk.time")"
      s1="$(ticks "$stub_pid")"
      if grep -q "Non-2xx" "$tmp/wrk.out"; then echo "wrk got non-2xx answers:" >&2; cat "$tmp/wrk.out" >&2; exit 1; fi

      out="$tmp/load-$profile-$placement-$round"
      $pin "$bin" load --base-url "$url" --concurrency 1 --duration "$secs" --prompt-tokens 8 \
        --quiet --out "$out" >/dev/null 2>"$tmp/load.err" || {
        echo "agentbench load failed:" >&2; cat "$tmp/load.err" >&2; exit 1; }
      s2="$(ticks "$stub_pid")"
      stop_stub

      python3 - "$tmp/wrk.out" "$out/records.jsonl" "$hz" "$s0" "$s1" "$s2" "$w_ticks" \
        "$profile" "$placement" "$round" >>"$tmp/rows" <<'EOF'
import json, re, sys
wrk_out, records, hz, s0, s1, s2, w_ticks = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:8])
profile, placement, rnd = sys.argv[8:11]
text = open(wrk_out).read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1000, "s": 1e6}[unit]
m = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
wrk_p50 = us(*m.groups())
wrk_n = int(re.search(r"(\d+) requests in", text).group(1))
wrk_rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
e2e, headers, read, end = [], [], [], None
for line in open(records):
    r = json.loads(line)
    if r.get("kind") == "request" and r["call"].get("error") is None:
        c = r["call"]
        e2e.append(c["end_ns"] / 1000)
        headers.append(c["headers_ns"] / 1000)
        if c.get("cost", {}).get("final_read_ns") is not None:
            read.append(c["cost"]["final_read_ns"] / 1000)
    elif r.get("kind") == "load_end":
        end = r
def p50(xs):
    # nan, not a crash, for no values: a record has no final_read_ns when the final
    # object came in an unterminated line.
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2] if xs else float("nan")
n = len(e2e)
rate = end["sent"] / (end["wall_ns"] / 1e9)
tick_us = 1e6 / hz
print(profile, placement, rnd,
      f"{wrk_p50:.0f}", f"{wrk_rate:.0f}", f"{w_ticks * tick_us / wrk_n:.1f}", f"{(s1 - s0) * tick_us / wrk_n:.1f}",
      f"{p50(e2e):.0f}", f"{p50(headers):.0f}", f"{p50(read):.0f}", f"{rate:.0f}",
      f"{end['client_cpu_ns'] / 1000 / end['sent']:.1f}",
      f"{(s2 - s1) * tick_us / n:.1f}", f"{p50(e2e) / wrk_p50:.2f}", f"{p50(read) / wrk_p50:.2f}")
EOF
      tail -n1 "$tmp/rows"
      rm -rf "$out"
    done
  done
done

echo
echo "medians over $rounds round(s), ${secs} s each (µs; CPU per completed request)"
python3 - "$tmp/rows" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
keys = []
for r in rows:
    if (r[0], r[1]) not in keys:
        keys.append((r[0], r[1]))
print("| stub | placement | wrk p50 | wrk CPU/req | stub CPU/req (wrk) | agentbench E2E p50 | headers p50 | answer read p50 | agentbench CPU/req | stub CPU/req (agentbench) | E2E p50 / wrk p50 | answer read p50 / wrk p50 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for k in keys:
    sel = [r for r in rows if (r[0], r[1]) == k]
    med = lambda i: statistics.median(float(r[i]) for r in sel)
    rng = lambda i: f"{min(float(r[i]) for r in sel):g}–{max(float(r[i]) for r in sel):g}"
    print(f"| {k[0]} | {k[1]} | {med(3):.0f} ({rng(3)}) | {med(5):.1f} | {med(6):.1f} | {med(7):.0f} ({rng(7)}) | {med(8):.0f} | {med(9):.0f} | {med(11):.1f} | {med(12):.1f} | {med(13):.2f} | {med(14):.2f} |")
EOF
