#!/usr/bin/env bash
# What a capacity search costs: runs `agentbench capacity` against the embedded
# capacity stub (the CI tests' server: 64 slots of 200 ms, first token at 25 ms;
# capacity under p95:ttft<=55ms ≈ 286 req/s with Poisson arrivals, ≈ 310 with
# gamma:0.5) once per seed, and prints per search its exit code (0 narrowed,
# 6 not narrowed, 5 client-limited), probes, measured requests, wall time and
# bracket, then the median, min and max of probes and wall time over the seeds.
# Every figure is read from the search's own capacity.json.
#
# Usage: scripts/capacity_cost.sh [SEEDS] [ARRIVAL] [INTERVAL]
#   defaults: 5 poisson correlated (the command's own defaults for arrival and
#   interval). BIN=path/to/agentbench to measure another build (default:
#   target/release/agentbench, else target/debug/agentbench). JITTER=0.3 scales
#   service times by U[0.7, 1.3]. KEEP=dir keeps the searches' folders there.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

seeds="${1:-5}"
arrival="${2:-poisson}"
interval="${3:-correlated}"
jitter="${JITTER:-0}"
bin="${BIN:-}"
if [ -z "$bin" ]; then
  if [ -x target/release/agentbench ]; then bin=target/release/agentbench; else bin=target/debug/agentbench; fi
fi
[ -x "$bin" ] || { echo "no binary at $bin (cargo build --release first, or set BIN)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to read capacity.json" >&2; exit 2; }

out="${KEEP:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
profile="capacity:slots=64,prefill=100000,decode=40,tokens=8,jitter=$jitter"

echo "# $bin; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); arrival $arrival; interval $interval; jitter $jitter"
for seed in $(seq "$seeds"); do
  dir="$out/seed-$seed"
  set +e
  "$bin" capacity --stub "$profile,seed=$seed" --slo 'p95:ttft<=55ms' \
    --arrival "$arrival" --interval "$interval" --min-rate 185 --max-rate 410 \
    --probe-requests 400 --seed "$seed" --max-lag 60s \
    --prompt-tokens 16 --output-tokens 8 --quiet --out "$dir" >"$out/seed-$seed.log" 2>&1
  code=$?
  set -e
  if [ ! -f "$dir/capacity.json" ]; then
    echo "seed $seed: exit $code, no capacity.json:" >&2
    cat "$out/seed-$seed.log" >&2
    exit 1
  fi
  echo "$code" >"$dir/exit"
done

python3 - "$out" "$seeds" <<'EOF'
import json, statistics, sys
out, seeds = sys.argv[1], int(sys.argv[2])
probes, walls = [], []
for seed in range(1, seeds + 1):
    d = f"{out}/seed-{seed}"
    r = json.load(open(f"{d}/capacity.json"))
    code = open(f"{d}/exit").read().strip()
    b = r["bracket"]
    n = len(r["probes"])
    probes.append(n)
    walls.append(r["wall_s"])
    end = lambda v: "none" if v is None else f"{v:.2f}"
    print(f"seed {seed}: exit {code}, {n} probes, {r['requests_spent']} requests, "
          f"{r['wall_s']:.1f} s, bracket [{end(b['pass'])}, {end(b['fail'])}], {r['outcome']['kind']}")
def line(name, xs, fmt):
    print(f"{name}: median {fmt(statistics.median(xs))} (min {fmt(min(xs))}, max {fmt(max(xs))}) over {len(xs)} searches")
line("probes", probes, lambda v: f"{v:g}")
line("wall", walls, lambda v: f"{v:.1f} s")
EOF
