#!/usr/bin/env bash
# Detection power of `agentbench commits` (layer 2 of regression detection).
#
# Builds the current checkout twice (release; once plain, once with the
# plant-slowdown fixture), calibrates AGENTBENCH_PLANT_NS so the planted cost is
# PCT % (default 5) of the median analysis-call client overhead against the instant
# stub, then runs N trials of planted vs plain and N trials of plain vs plain with
# `agentbench commits --bin-a/--bin-b` (the builds are done once, not per trial) and
# prints how many were flagged (exit 1) and each trial's time.
#
#   N=20 ROUNDS=20 RUNS=10 scripts/detection_power.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
N=${N:-20}
ROUNDS=${ROUNDS:-20}
RUNS=${RUNS:-10}
PCT=${PCT:-5}
W=target/agentbench-commits
mkdir -p "$W"
if [ -z "${SKIP_BUILD:-}" ]; then # SKIP_BUILD=1 reuses power-base / power-plant
  export CARGO_TARGET_DIR=$W/build
  cargo build --release --quiet
  cp "$CARGO_TARGET_DIR/release/agentbench" "$W/power-base"
  cargo build --release --quiet --features plant-slowdown
  cp "$CARGO_TARGET_DIR/release/agentbench" "$W/power-plant"
  unset CARGO_TARGET_DIR
fi

if [ -z "${AGENTBENCH_PLANT_NS:-}" ]; then
  rm -rf "$W/calibrate"
  "$W/power-base" run --stub instant --runs 30 --out "$W/calibrate" --quiet >/dev/null
  AGENTBENCH_PLANT_NS=$(python3 - "$W/calibrate/records.jsonl" "$PCT" <<'PY'
import json, statistics, sys
over, chunks = [], []
for line in open(sys.argv[1]):
    o = json.loads(line)
    for c in o.get("calls", []):
        if c["stage"] != "analysis":
            continue
        r = c["call"]
        tot = (r.get("server") or {}).get("total_duration")
        if r.get("end_ns") is None or tot is None:
            continue
        over.append(r["end_ns"] - tot)
        chunks.append(len(r["chunk_ns"]))
o, n = statistics.median(over), statistics.median(chunks)
print(round(float(sys.argv[2]) / 100 * o / n))
print(f"calibration: analysis client overhead p50 {o/1e3:.1f} us, {n:.0f} content chunks per call", file=sys.stderr)
PY
)
fi
export AGENTBENCH_PLANT_NS
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
  flagged=0; other=0; times=()
  for i in $(seq 1 "$N"); do
    read -r rc secs < <(trial "$bin" "$i")
    case $rc in 1) flagged=$((flagged + 1));; 0) ;; *) other=$((other + 1)); cat "$W/trial.out";; esac
    times+=("$secs")
    echo "  $kind trial $i: exit $rc in ${secs}s: $(grep analysis.client "$W/trial.out" | tr -s ' ')"
  done
  echo "$kind: flagged as regressed in $flagged of $N trials ($other errors); trial seconds: ${times[*]}"
done
