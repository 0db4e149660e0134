#!/usr/bin/env bash
# Merging shards at scale (issue 16's target: 16 shards × 100,000 request records
# in ≤ 10 s, memory bounded by the histograms plus one record).
#
#   scripts/merge_bench.sh [SHARDS] [RECORDS_PER_SHARD]     # default 16 100000
#
# Makes SHARDS synthetic shard folders from one real shard of a small sharded run
# against the fast stub (its header, and one of its request lines as the template:
# 8 output tokens, so ~1 KB a line), renumbered as shard i of SHARDS of a constant
# schedule; then times `agentbench merge-runs` over them and reports its peak RSS
# (/usr/bin/time). Needs a release build (cargo build --release) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-target/release/agentbench}"
SHARDS="${1:-16}"
PER="${2:-100000}"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work="$(mktemp -d)"
stub_pid=""
trap 'if [ -n "$stub_pid" ]; then kill "$stub_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
"$BIN" stub --port 0 --profile fast >"$work/stub.addr" 2>/dev/null &
stub_pid=$!
for _ in $(seq 100); do [ -s "$work/stub.addr" ] && break; sleep 0.05; done
"$BIN" load --base-url "http://$(head -n1 "$work/stub.addr")" --rate 100 --arrival constant \
  --requests 20 --prompt-tokens 16 --output-tokens 8 --max-lag 1s --quiet \
  --shard 0/1 --start-at "@$(($(date +%s) + 2))" --out "$work/template" >/dev/null
kill "$stub_pid"
stub_pid=""
python3 - "$work" "$SHARDS" "$PER" <<'PY'
import json, sys, os
work, shards, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(os.path.join(work, "template", "records.jsonl")).read().splitlines()
header = json.loads(lines[0])
req = json.loads(next(l for l in lines[1:] if '"kind":"request"' in l))
total = shards * per
gap = 1_000_000_000 // 16_000  # 16,000/s in all: 1,000/s per shard for 16 shards
plan = header["plan"]
plan["rate"] = 16_000.0
plan["requests"] = total
plan.pop("schedule", None)
delta = req["sent_ns"] - req["intended_ns"]
for i in range(shards):
    d = os.path.join(work, f"shard-{i}")
    os.makedirs(d)
    plan["shard"]["index"], plan["shard"]["count"] = i, shards
    with open(os.path.join(d, "records.jsonl"), "w") as f:
        f.write(json.dumps(header, separators=(",", ":")) + "\n")
        pre = json.dumps(req, separators=(",", ":"))
        # Only seq, intended_ns and sent_ns vary: splice them into the template.
        head, tail = pre.split('"worker"', 1)
        tail = '"worker"' + tail
        tail_wo = tail.replace(f'"intended_ns":{req["intended_ns"]},', "{I}", 1).replace(
            f'"sent_ns":{req["sent_ns"]},', "{S}", 1)
        out = []
        for j in range(per):
            k = j * shards + i
            t = k * gap
            out.append('{"kind":"request","seq":%d,' % k
                       + tail_wo.replace("{I}", '"intended_ns":%d,' % t).replace("{S}", '"sent_ns":%d,' % (t + delta))
                       + "\n")
            if len(out) == 10000:
                f.write("".join(out)); out = []
        f.write("".join(out))
        f.write('{"kind":"load_end","wall_ns":%d,"client_cpu_ns":1,"process_cpu_ns":1,"sent":%d,"peak_in_flight":4}\n' % (total * gap, per))
PY
bytes=$(du -cb "$work"/shard-*/records.jsonl | tail -n1 | cut -f1)
echo "shards: $SHARDS × $PER records, $((bytes / 1000000)) MB"
/usr/bin/time -f "merge-runs: %e s wall, %U s user, %S s system, %M KB peak RSS" \
  "$BIN" merge-runs "$work"/shard-* --out "$work/merged" --quiet >/dev/null
echo "merged records: $(($(wc -l <"$work/merged/records.jsonl") - 2))"
