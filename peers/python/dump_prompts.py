#!/usr/bin/env python3
"""Prints, as one JSON object, what the peers would send for a corpus: the analysis
prompt and, for each analysis response in ``--responses`` (a JSON list of strings),
the parsed analysis and the report prompt. ``tests/peers_prompt.rs`` compares it with
the Rust library's output on corpora and responses made to hit corner cases.

    python3 peers/python/dump_prompts.py --corpus DIR --responses FILE.json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List

from agentbench_peer.ingest import ingest
from agentbench_peer.parse import parse_analysis
from agentbench_peer.prompt import analysis_prompt, report_prompt
from agentbench_peer.summary import summarize


def main(argv: List[str]) -> int:
    """Entry point; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True)
    p.add_argument("--responses", required=True)
    args = p.parse_args(argv)
    with open(args.responses, encoding="utf-8") as f:
        responses = json.load(f)
    summary = summarize(ingest(args.corpus))
    reports = []
    for text in responses:
        analysis = parse_analysis(text)
        reports.append({"analysis": analysis.to_json(), "prompt": report_prompt(analysis, summary)})
    out = {"analysis_prompt": analysis_prompt(summary), "reports": reports}
    sys.stdout.write(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
