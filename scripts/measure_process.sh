#!/usr/bin/env bash
# Process figures of the release `agentbench run` (one workflow run):
#   - peak RSS (GNU time's %M = the kernel's max RSS of the process), for
#     `run --stub instant --runs 1` (embedded wiremock stub included) and for
#     `run --base-url <standalone stub> --runs 1` (the client alone);
#   - start-to-first-request: bash's $EPOCHREALTIME taken in a subshell right before
#     it execs the binary, vs the arrival time a standalone stub
#     (`agentbench stub --profile instant --log-requests`) records for the first
#     request (the probe, GET /api/version). Both are the same machine's wall clock.
#     The subshell writes t0 to a file before exec, so the figure is slightly high.
#     Also exec -> the first POST /api/generate's arrival, and the GET /api/version
#     requests each run made (one probe: the run reuses its answer), and the
#     GET /v1/models requests of one `run --protocol openai --runs 1` (one: the
#     provenance reuses the probe's list);
#   - the release binary's size.
# Usage: scripts/measure_process.sh [N]   (N repetitions, default 10; AGENTBENCH_BIN
# names another binary, default target/release/agentbench)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

n="${1:-10}"
bin="${AGENTBENCH_BIN:-target/release/agentbench}"
if [ ! -x "$bin" ]; then
  echo "building the release binary (cargo build --release)" >&2
  cargo build --release --locked
fi
if ! command -v /usr/bin/time >/dev/null 2>&1; then
  echo "GNU time is needed for peak RSS: apt-get install time" >&2
  exit 2
fi
if [ -z "${EPOCHREALTIME:-}" ]; then
  echo "bash 5 or newer is needed (EPOCHREALTIME)" >&2
  exit 2
fi

tmp="$(mktemp -d)"
stub_pid=""
cleanup() {
  if [ -n "$stub_pid" ]; then
    kill -INT "$stub_pid" 2>/dev/null || true
    wait "$stub_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin" stub --port 0 --profile instant --log-requests >"$tmp/stub.out" 2>"$tmp/stub.err" &
stub_pid=$!
for _ in $(seq 1 500); do
  [ -s "$tmp/stub.out" ] && break
  sleep 0.01
done
addr="$(head -n1 "$tmp/stub.out")"
[ -n "$addr" ] || { echo "the stub did not print its address" >&2; exit 1; }
url="http://$addr"

requests() { grep -c '^REQUEST' "$tmp/stub.err" || true; }

: >"$tmp/start_ms"; : >"$tmp/rss_stub_mb"; : >"$tmp/rss_client_mb"
: >"$tmp/generate_ms"; : >"$tmp/probes"
first_line=""
for i in $(seq 1 "$n"); do
  # start-to-first-request
  before="$(requests)"
  (
    t0="$EPOCHREALTIME"
    printf '%s\n' "$t0" >"$tmp/t0"
    exec "$bin" run --base-url "$url" --runs 1 --out "$tmp/t$i" --quiet
  ) >/dev/null
  for _ in $(seq 1 500); do
    [ "$(requests)" -gt "$before" ] && break
    sleep 0.005
  done
  line="$(grep '^REQUEST' "$tmp/stub.err" | sed -n "$((before + 1))p")"
  [ -n "$line" ] || { echo "run $i: the stub logged no request" >&2; exit 1; }
  first_line="${line#REQUEST * }"
  arrival_ns="$(awk '{print $2}' <<<"$line")"
  t0="$(cat "$tmp/t0")"
  t0_ns="${t0/./}000"
  awk -v a="$arrival_ns" -v t="$t0_ns" 'BEGIN { printf "%.3f\n", (a - t) / 1e6 }' >>"$tmp/start_ms"
  # the run has exited: its requests are all logged
  grep '^REQUEST' "$tmp/stub.err" | tail -n +"$((before + 1))" >"$tmp/run_requests"
  gen_ns="$(awk '$3 == "POST" && $4 == "/api/generate" { print $2; exit }' "$tmp/run_requests")"
  [ -n "$gen_ns" ] || { echo "run $i: no POST /api/generate logged" >&2; exit 1; }
  awk -v a="$gen_ns" -v t="$t0_ns" 'BEGIN { printf "%.3f\n", (a - t) / 1e6 }' >>"$tmp/generate_ms"
  grep -c ' /api/version$' "$tmp/run_requests" >>"$tmp/probes" || true

  # peak RSS: the client alone, then with the embedded instant stub
  /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" run --base-url "$url" --runs 1 \
    --out "$tmp/c$i" --quiet >/dev/null
  awk '{ printf "%.2f\n", $1 / 1024 }' <(tail -n1 "$tmp/rss") >>"$tmp/rss_client_mb"
  /usr/bin/time -f '%M' -o "$tmp/rss" "$bin" run --stub instant --runs 1 \
    --out "$tmp/s$i" --quiet >/dev/null
  awk '{ printf "%.2f\n", $1 / 1024 }' <(tail -n1 "$tmp/rss") >>"$tmp/rss_stub_mb"
done

# The OpenAI-compatible protocol: the probe's /v1/models list serves the provenance.
before="$(requests)"
"$bin" run --base-url "$url" --protocol openai --runs 1 --out "$tmp/o" --quiet >/dev/null
grep '^REQUEST' "$tmp/stub.err" | tail -n +"$((before + 1))" >"$tmp/run_requests"
models="$(grep -c ' /v1/models$' "$tmp/run_requests" || true)"

# What the client's resident memory is made of, read from /proc at its exit_group
# (gdb stops it there; the peak, VmHWM, can be higher than the RSS then): its own
# anonymous memory (heap, stacks: what the process costs), and the file-backed pages
# of the executable and the shared libraries (page cache the kernel maps, 64 KB
# around each fault; shared with every other process mapping the same files).
breakdown=""
if command -v gdb >/dev/null 2>&1; then
  cat >"$tmp/gdb" <<EOG
set pagination off
catch syscall exit_group
run
python import gdb; pid = gdb.selected_inferior().pid; print(open('/proc/%d/status' % pid).read()); print(open('/proc/%d/smaps_rollup' % pid).read())
kill
quit
EOG
  gdb -q -batch -x "$tmp/gdb" --args "$bin" run --base-url "$url" --runs 1 --out "$tmp/g" --quiet \
    >"$tmp/gdb.out" 2>&1 || true
  breakdown="$(awk '/^(VmHWM|VmRSS|RssAnon|RssFile):/ { v[$1] = $2 } /^Pss:/ { v["Pss:"] = $2 }
    END { if ("RssAnon:" in v) printf "peak %.2f; at exit %.2f = anonymous %.2f + file-backed %.2f; PSS %.2f",
      v["VmHWM:"] / 1024, v["VmRSS:"] / 1024, v["RssAnon:"] / 1024, v["RssFile:"] / 1024, v["Pss:"] / 1024 }' "$tmp/gdb.out")"
fi

# median (mean of the middle two for even counts), min, max of a file of numbers
stats() {
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %8.3f   min %8.3f   max %8.3f   (n=%d)", m, v[1], v[NR], NR }'
}

size_bytes="$(stat -c %s "$bin")"
echo "agentbench process figures ($bin, $n repetitions, $(nproc) CPUs)"
echo "  start-to-first-request ms (exec -> stub arrival of ${first_line}):"
echo "                              $(stats "$tmp/start_ms")"
echo "  start-to-first-generate ms (exec -> stub arrival of the first POST /api/generate):"
echo "                              $(stats "$tmp/generate_ms")"
echo "  GET /api/version requests per run --runs 1:"
echo "                              $(stats "$tmp/probes")"
echo "  GET /v1/models requests of one run --protocol openai --runs 1: $models"
echo "  peak RSS MB, run --base-url (client only):"
echo "                              $(stats "$tmp/rss_client_mb")"
if [ -n "$breakdown" ]; then
  echo "  RSS MB of one run --base-url at its exit (gdb): $breakdown"
fi
echo "  peak RSS MB, run --stub instant (embedded stub):"
echo "                              $(stats "$tmp/rss_stub_mb")"
awk -v b="$size_bytes" 'BEGIN { printf "  release binary: %d bytes (%.2f MB)\n", b, b / 1048576 }'
# How much of link/hot-text.ld (scripts/hot_text.sh) this binary still matches: the
# functions listed by exact name that it defines, and the size of its .text.hot.
if [ -f link/hot-text.ld ] && command -v nm >/dev/null 2>&1; then
  listed="$(sed -nE 's/^    \*\(\.text\.([^ *]+) .*$/\1/p' link/hot-text.ld | sort -u)"
  found="$(comm -12 <(echo "$listed") <(nm --defined-only "$bin" | awk '{ print $3 }' | sort -u) | wc -l)"
  hot="$(readelf -SW "$bin" | awk '$2 == ".text.hot" { print $6 }')"
  hot="${hot:+.text.hot $((16#$hot)) bytes}"
  echo "  hot text: $found of $(echo "$listed" | wc -l) functions of link/hot-text.ld found by exact name;" \
    "${hot:-no .text.hot (built without it)} (regenerate with scripts/hot_text.sh when few are found)"
fi
echo "  load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min averages at the end)"
echo "  targets (issue 17): start-to-first-generate <= 6 ms, peak RSS <= 7 MB, one probe"
