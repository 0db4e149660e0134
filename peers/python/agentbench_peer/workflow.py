"""The workflow both peers run (port of ``src/agent/mod.rs``) and their shared CLI.

One run: ingest the corpus and build the data summary, the analysis call, parse the
analysis, the report call. A failed call is recorded with its error and ends the run
(the report needs the analysis). Peers differ only in the ``Caller`` they pass.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Sequence

from .ingest import IngestError, check_root, ingest
from .parse import parse_analysis
from .prompt import analysis_prompt, report_prompt
from .record import CallObservation, PhaseClock, RecordWriter
from .summary import summarize

#: Makes one streamed generate call with a prompt and returns its observations.
Caller = Callable[[str], Awaitable[CallObservation]]

EXIT_OK, EXIT_BAD_INPUT, EXIT_CALL_FAILED = 0, 2, 3


def _stage_call(stage: str, obs: CallObservation) -> Dict[str, Any]:
    return {"stage": stage, "prompt": obs.prompt, "call": obs.to_json()}


async def run_once(run_index: int, corpus_root: str, call: Caller) -> Dict[str, Any]:
    """Performs one run and returns its ``"kind":"workflow"`` record line."""
    record: Dict[str, Any] = {
        "kind": "workflow",
        "run_index": run_index,
        "started_unix_ns": time.time_ns(),
        "start_state": "as-is",
        "corpus_files": 0,
        "phases": [],
        "calls": [],
    }
    clock = PhaseClock()
    record["phases"] = clock.spans
    start = clock.offset()
    try:
        corpus = ingest(corpus_root)
    except IngestError as e:
        clock.close("ingest", start)
        record["failure"] = {"stage": "analysis", "message": f"ingest failed: {e}"}
        return record
    summary = summarize(corpus)
    clock.close("ingest", start)
    record["corpus_files"] = summary.stats.files

    start = clock.offset()
    prompt = analysis_prompt(summary)
    clock.close("analysis_prompt", start)
    start = clock.offset()
    first = await call(prompt)
    clock.close("analysis_call", start)
    record["calls"].append(_stage_call("analysis", first))
    if first.error is not None:
        record["failure"] = {"stage": "analysis", "message": first.error.message}
        return record

    start = clock.offset()
    analysis = parse_analysis(first.response)
    clock.close("parse", start)
    start = clock.offset()
    prompt = report_prompt(analysis, summary)
    clock.close("report_prompt", start)
    start = clock.offset()
    second = await call(prompt)
    clock.close("report_call", start)
    record["calls"].append(_stage_call("report", second))
    record["analysis"] = analysis.to_json()
    if second.error is not None:
        record["failure"] = {"stage": "report", "message": second.error.message}
    return record


def arg_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The external-agent CLI contract shared by the peers."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--base-url", required=True, help="Ollama server, e.g. http://127.0.0.1:11434")
    p.add_argument("--runs", type=int, default=3, help="workflow runs (default 3)")
    p.add_argument("--out", required=True, help="JSONL file to append one line per run to")
    p.add_argument("--corpus", default="mock-data", help="corpus root (default mock-data)")
    p.add_argument("--model", default="gemma3:latest", help="model (default gemma3:latest)")
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="seconds to wait for headers or the next chunk (default 300)")
    return p


def normalize_base_url(given: str) -> str:
    """``http://host:port`` without a trailing slash; a bare ``host:port`` gets
    ``http://``. Raises ValueError for another scheme or no host."""
    text = given.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme.lower() not in ("http", "https"):
        raise ValueError(f"unsupported scheme `{scheme}` (use http:// or https://)")
    if not rest or rest.startswith((":", "/")):
        raise ValueError("no host")
    return f"{scheme.lower()}://{rest}"


def fail(prog: str, message: str) -> int:
    """Prints ``message`` on stderr and returns the bad-input exit code."""
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


async def run_all(runs: int, corpus: str, out: str, call: Caller) -> int:
    """Runs the workflow ``runs`` times, appending each record durably; the exit code."""
    writer = RecordWriter(out)
    failed = False
    try:
        for i in range(runs):
            record = await run_once(i, corpus, call)
            writer.append(record)
            failed = failed or "failure" in record
    finally:
        writer.close()
    return EXIT_CALL_FAILED if failed else EXIT_OK


def check_args(prog: str, args: argparse.Namespace) -> Optional[int]:
    """The bad-input exit code (message printed) when the arguments are unusable."""
    if args.runs < 1:
        return fail(prog, f"--runs must be at least 1 (got {args.runs})")
    if args.idle_timeout <= 0:
        return fail(prog, "--idle-timeout must be a positive number of seconds")
    try:
        args.base_url = normalize_base_url(args.base_url)
    except ValueError as e:
        return fail(prog, f"bad --base-url {args.base_url!r}: {e}")
    try:
        check_root(args.corpus)
    except IngestError as e:
        return fail(prog, str(e))
    return None


def main_with(prog: str, argv: Sequence[str], description: str,
              go: Callable[[argparse.Namespace], Awaitable[int]]) -> int:
    """Parses ``argv``, checks it and runs ``go`` on an event loop."""
    args = arg_parser(prog, description).parse_args(list(argv))
    bad = check_args(prog, args)
    if bad is not None:
        return bad
    return asyncio.run(go(args))


