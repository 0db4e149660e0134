#!/usr/bin/env bash
# Detection power of `agentbench commits` (layer 2 of regression detection).
#
# Builds the current checkout twice (release; once with the plant-slowdown
# fixture, once plain), calibrates AGENTBENCH_PLANT_NS so the planted cost is PCT %
# (default 5) of the median analysis-call client overhead measured the way the
# trials measure it (`commits` of the plain build against itself: standalone
# stub, pinned CPUs), then runs N trials of plain vs planted and N trials of plain
# vs plain with `agentbench commits --bin-a/--bin-b` (the builds are done once, not
# per trial) and prints how many were flagged (exit 1) and each trial's time.
#
#   N=20 ROUNDS=30 RUNS=20 scripts/detection_power.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
N=${N:-20}
ROUNDS=${ROUNDS:-30}
RUNS=${RUNS:-20}
PCT=${PCT:-5}
W=target/agentbench-commits
mkdir -p "$W"
if [ -z "${SKIP_BUILD:-}" ]; then # SKIP_BUILD=1 reuses power-base / power-plant
  # The planted build first, so target/release is left with the plain one.
  cargo build --release --quiet --features plant-slowdown
  cp target/release/agentbench "$W/power-plant"
  cargo build --release --quiet
  cp target/release/agentbench "$W/power-base"
fi

if [ -z "${AGENTBENCH_PLANT_NS:-}" ]; then
  "$W/power-base" commits HEAD HEAD --bin-a "$W/power-base" --bin-b "$W/power-base" \
    --rounds 4 --runs "$RUNS" --json "$W/calibrate.json" >/dev/null
  AGENTBENCH_PLANT_NS=$(python3 - "$W/calibrate.json" "$W/runs/000-a/records.jsonl" "$PCT" <<'PY'
import json, statistics, sys
res = json.load(open(sys.argv[1]))["results"]
over = next(r["median_a_ns"] for r in res if r["metric"] == "analysis.client_overhead")
chunks = [len(c["call"]["chunk_ns"]) for line in open(sys.argv[2])
          for c in json.loads(line).get("calls", []) if c["stage"] == "analysis"]
n = statistics.median(chunks)
print(round(float(sys.argv[3]) / 100 * over / n))
print(f"calibration: analysis client overhead p50 {over/1e3:.1f} us, {n:.0f} content chunks per call", file=sys.stderr)
PY
)
fi
export AGENTBENCH_PLANT_NS
for _ in 1 2; do # twice: the realised cost is not quite proportional to the nominal
[ -n "${SKIP_RESCALE:-}" ] && break
  # The busy-wait costs a little more than its nominal time (the clock reads in the
  # loop, cache effects): measure the planted build once (20 × RUNS, outside the
  # trials) and rescale so the realised change is PCT %. The trials' own estimates
  # show the change actually planted (their median is reported in the README).
  "$W/power-base" commits HEAD HEAD --bin-a "$W/power-base" --bin-b "$W/power-plant" \
    --rounds 20 --runs "$RUNS" --json "$W/rescale.json" >/dev/null || true
  AGENTBENCH_PLANT_NS=$(python3 - "$W/rescale.json" "$PCT" "$AGENTBENCH_PLANT_NS" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
got = next(r["median_change_pct"] for r in res if r["metric"] == "analysis.client_overhead")
ns = int(sys.argv[3])
print(max(1, round(ns * float(sys.argv[2]) / got)) if got > 0 else ns)
print(f"rescale: {ns} ns per chunk measured {got:+.2f} %", file=sys.stderr)
PY
)
  export AGENTBENCH_PLANT_NS
done
echo "planted cost: ${AGENTBENCH_PLANT_NS} ns per content chunk (~${PCT}% of the analysis client overhead)"
echo "trials: N=$N each, --rounds $ROUNDS --runs $RUNS"

trial() { # $1 = B binary, $2 = seed; prints "rc seconds"
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$W/power-base" commits HEAD HEAD --bin-a "$W/power-base" --bin-b "$1" \
    --rounds "$ROUNDS" --runs "$RUNS" --seed "$2" >"$W/trial.out" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  echo "$rc $(echo "$t1 - $t0" | bc)"
}

for kind in planted identical; do
  bin=$W/power-plant
  [ "$kind" = identical ] && bin=$W/power-base
  flagged=0; other=0; times=(); changes=()
  for i in $(seq 1 "$N"); do
    read -r rc secs < <(trial "$bin" "$i")
    case $rc in 1) flagged=$((flagged + 1));; 0) ;; *) other=$((other + 1)); cat "$W/trial.out";; esac
    times+=("$secs")
    changes+=("$(awk '$1 == "analysis.client_overhead" {print $4}' "$W/trial.out")")
    echo "  $kind trial $i: exit $rc in ${secs}s:"; grep -E "client_overhead|workflow.wall" "$W/trial.out" | tr -s "  " | sed "s/^/    /"
  done
  echo "$kind: flagged as regressed in $flagged of $N trials ($other errors); trial seconds: ${times[*]}"
  echo "$kind: median of the trials' median changes: $(python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%+.2f %%" % statistics.median(v) if v else "-")' "${changes[@]}")"
done
