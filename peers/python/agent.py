#!/usr/bin/env python3
"""agentbench's Python reference agent (httpx, asyncio, streaming).

Runs the same workflow as the Rust agent (ingest ``--corpus``, analysis call, parse,
report call) against Ollama's ``POST /api/generate`` with streamed NDJSON, sending the
same request body (``{"model","prompt","stream":true}``: no options, no keep_alive)
and byte-identical prompts. One ``httpx.AsyncClient`` serves every call. Appends one
``"kind":"workflow"`` JSON line per run to ``--out`` (fsynced).

    python3 peers/python/agent.py --base-url URL --runs N --out FILE \
        [--corpus DIR] [--model NAME] [--idle-timeout S]

Exit codes: 0 every run completed, 3 some call failed (recorded), 2 bad input or no
server answering at ``--base-url`` (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Dict, Iterator, List, Optional

import httpx

from agentbench_peer.record import CallError, CallObservation
from agentbench_peer.workflow import fail, main_with, run_all

PROG = "agent.py"
#: Bound on one NDJSON line, as the Rust client's (16 MiB).
MAX_LINE_BYTES = 16 * 1024 * 1024
#: TCP connect limit, as the Rust client's.
CONNECT_TIMEOUT_S = 5.0
#: Limit for the start-up ``/api/version`` probe, as the Rust CLI's.
PROBE_TIMEOUT_S = 2.0
_U64_MAX = 2**64 - 1
SERVER_INT_FIELDS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


class LineSplitter:
    """Splits network reads into NDJSON lines (without ``\\n`` / ``\\r``; blank lines
    skipped); a line longer than ``max_line`` bytes raises :class:`CallError`."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.pending = bytearray()
        self.max_line = max_line

    def push(self, data: bytes) -> Iterator[bytes]:
        """The lines completed by ``data``."""
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if self.pending:
                self.pending += data[start:nl]
                line = bytes(self.pending)
                self.pending.clear()
            else:
                line = data[start:nl]
            start = nl + 1
            self._check(len(line))
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.strip():
                yield line
        self._check(len(self.pending) + len(data) - start)
        self.pending += data[start:]

    def remainder(self) -> bytes:
        """Bytes after the last newline (a final unterminated or torn line)."""
        rest = bytes(self.pending)
        self.pending.clear()
        return rest

    def _check(self, length: int) -> None:
        if length > self.max_line:
            raise CallError("line_too_long", f"an NDJSON line exceeded {self.max_line} bytes without a newline")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def decode_chunk(line: bytes, index: int) -> Dict:
    """One stream object, type-checked like the Rust decoder; raises CallError."""
    snippet = repr(line[:80].decode("utf-8", "replace"))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CallError("invalid_utf8", f"line {index}: line is not valid UTF-8 (at byte {e.start}); starts with {snippet}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as e:
        raise CallError("malformed_line", f"line {index}: malformed JSON line: {e}; starts with {snippet}") from None
    problem = _shape_problem(obj)
    if problem:
        raise CallError("malformed_line", f"line {index}: malformed JSON line: {problem}; starts with {snippet}")
    return obj


def _shape_problem(obj: object) -> Optional[str]:
    if not isinstance(obj, dict):
        return "expected a JSON object"
    for key in ("response", "done_reason", "error"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return f"`{key}` is not a string"
    if "done" in obj and not isinstance(obj["done"], bool):
        return "`done` is not a boolean"
    for key in SERVER_INT_FIELDS:
        v = obj.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _U64_MAX):
            return f"`{key}` is not an unsigned integer"
    return None


def on_line(line: bytes, at: int, rec: CallObservation) -> bool:
    """Handles one complete line received at offset ``at``; True on the final object."""
    rec.lines += 1
    chunk = decode_chunk(line, rec.lines)
    if chunk.get("error") is not None:
        raise CallError("server_error", f"server error in stream: {chunk['error']}")
    content = chunk.get("response")
    if content is None:
        message = chunk.get("message")
        content = message.get("content") if isinstance(message, dict) else None
    if content:
        rec.chunk_ns.append(at)
        rec.response_parts.append(content)
    if chunk.get("done", False):
        rec.end_ns = at
        rec.server = {k: chunk.get(k) for k in (*SERVER_INT_FIELDS, "done_reason")}
        return True
    return False


async def _status_error(url: str, model: str, response: httpx.Response) -> CallError:
    body = b""
    async for data in response.aiter_raw():
        body += data
        if len(body) >= 64 * 1024:
            break
    try:
        said = json.loads(body)["error"]
        said = said if isinstance(said, str) else body.decode("utf-8", "replace").strip()
    except (ValueError, KeyError, TypeError):
        said = body.decode("utf-8", "replace").strip()
    if response.status_code == 404:
        return CallError("model_not_found", f"model {model} not found at {url} (try `ollama pull {model}`); server said: {said}")
    return CallError("http_status", f"{url} answered HTTP {response.status_code} {response.reason_phrase}: {said}")


def _transport_error(url: str, e: httpx.HTTPError, headers_seen: bool, rec: CallObservation, idle: float) -> CallError:
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)):
        return CallError("connect", f"cannot connect to {url}: {e}; is Ollama running? (set --base-url)")
    if isinstance(e, httpx.TimeoutException):
        what = "the next chunk" if headers_seen else "response headers"
        return CallError("timeout", f"no {what} from {url} within {idle:.1f} s (raise --idle-timeout if the model is slow to load)")
    if isinstance(e, httpx.RemoteProtocolError):
        if headers_seen:
            return CallError("truncated", f"reading the response body from {url} failed after {rec.lines} objects: {e}")
        return CallError("connection_closed", f"{url} closed the connection before sending response headers: {e}")
    if headers_seen:
        return CallError("body", f"reading the response body from {url} failed after {rec.lines} objects: {e}")
    return CallError("request", f"request to {url} failed: {e}")


async def call(client: httpx.AsyncClient, base_url: str, model: str, prompt: str, idle: float) -> CallObservation:
    """One streamed generate call; never raises: failures are recorded in the result."""
    url = f"{base_url}/api/generate"
    body = json.dumps({"model": model, "prompt": prompt, "stream": True},
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    rec = CallObservation(model=model, prompt=prompt)
    headers = {"content-type": "application/json"}
    rec.started_unix_ns = time.time_ns()
    t0 = time.perf_counter_ns()
    try:
        async with client.stream("POST", url, content=body, headers=headers) as response:
            rec.headers_ns = time.perf_counter_ns() - t0
            rec.http_status = response.status_code
            if not response.is_success:
                rec.error = await _status_error(url, model, response)
                return rec
            await _read_body(response, rec, t0, url)
    except CallError as e:
        rec.error = e
    except httpx.HTTPError as e:
        rec.error = _transport_error(url, e, rec.headers_ns is not None, rec, idle)
    return rec


async def _read_body(response: httpx.Response, rec: CallObservation, t0: int, url: str) -> None:
    splitter = LineSplitter()
    done = False
    async for data in response.aiter_raw():
        if done:
            continue  # read to the end so the connection goes back to the pool
        at = time.perf_counter_ns() - t0
        rec.bytes += len(data)
        for line in splitter.push(data):
            if on_line(line, at, rec):
                done = True
                break
    if done:
        return
    rest = splitter.remainder()
    if rest.strip():
        if on_line(rest, time.perf_counter_ns() - t0, rec):
            return
    raise CallError("truncated", f'the stream from {url} ended after {rec.lines} objects without the final "done" object')


async def probe(client: httpx.AsyncClient, base_url: str) -> Optional[str]:
    """None when ``/api/version`` answers with JSON, else why not."""
    try:
        r = await client.get(f"{base_url}/api/version", timeout=PROBE_TIMEOUT_S)
        r.json()
    except httpx.HTTPError as e:
        return str(e) or type(e).__name__
    except ValueError as e:
        return f"not an Ollama server ({e})"
    return None


async def go(args: argparse.Namespace) -> int:
    """Probes the server, then runs the workflow ``--runs`` times."""
    timeout = httpx.Timeout(args.idle_timeout, connect=CONNECT_TIMEOUT_S)
    async with httpx.AsyncClient(timeout=timeout) as client:
        why = await probe(client, args.base_url)
        if why is not None:
            return fail(PROG, f"the server at {args.base_url} does not answer: {why}")

        async def one_call(prompt: str) -> CallObservation:
            return await call(client, args.base_url, args.model, prompt, args.idle_timeout)

        return await run_all(args.runs, args.corpus, args.out, one_call)


def main(argv: List[str]) -> int:
    """Entry point; returns the exit code."""
    return main_with(PROG, argv, __doc__.splitlines()[0], go)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
