#!/usr/bin/env python3
"""agentbench peer using the official ``ollama`` Python client (``AsyncClient``).

Same workflow, ingest and prompts as ``agent.py`` (shared ``agentbench_peer``
package); the two calls are ``AsyncClient(host=URL).generate(..., stream=True)`` on one
client. The client hides the HTTP layer, so its records carry only what it exposes:

- present: ``chunk_ns`` (when each content object was yielded), ``end_ns`` (the final
  object), ``lines`` (objects yielded), ``response``, the server's final fields, ``error``;
- absent: ``headers_ns`` and ``http_status`` (no access to the response headers) and
  ``bytes`` (no access to the raw body). Offsets include the client's own line decoding
  and pydantic validation of each object.
- error classes it cannot tell apart: an invalid UTF-8 line is decoded with
  replacement characters by httpx (so it is not ``invalid_utf8``).

    python3 peers/python/ollama_agent.py --base-url URL --runs N --out FILE \
        [--corpus DIR] [--model NAME] [--idle-timeout S]

Exit codes as ``agent.py``: 0, 3 (some call failed, recorded), 2 (bad input, no server).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import List

import httpx
import ollama
import pydantic

from agentbench_peer.record import SERVER_FIELDS, CallError, CallObservation
from agentbench_peer.workflow import fail, main_with, run_all

PROG = "ollama_agent.py"
CONNECT_TIMEOUT_S = 5.0


def _error_of(e: Exception, url: str, model: str, rec: CallObservation, idle: float) -> CallError:
    """Maps what the client raised to the Rust agent's error classes."""
    if isinstance(e, ollama.ResponseError):
        if e.status_code == 404:
            return CallError("model_not_found", f"model {model} not found at {url} (try `ollama pull {model}`); server said: {e.error}")
        if e.status_code == -1:  # an {"error": ...} object inside a 200 stream
            return CallError("server_error", f"server error in stream: {e.error}")
        return CallError("http_status", f"{url} answered HTTP {e.status_code}: {e.error}")
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError)):
        return CallError("connect", f"cannot connect to {url}: {e}; is Ollama running? (set --base-url)")
    if isinstance(e, httpx.TimeoutException):
        return CallError("timeout", f"no data from {url} within {idle:.1f} s (raise --idle-timeout if the model is slow to load)")
    if isinstance(e, httpx.RemoteProtocolError):
        kind = "truncated" if rec.lines else "connection_closed"
        return CallError(kind, f"reading the response from {url} failed after {rec.lines} objects: {e}")
    if isinstance(e, (json.JSONDecodeError, pydantic.ValidationError, TypeError)):
        return CallError("malformed_line", f"line {rec.lines + 1}: malformed JSON line: {e}")
    if isinstance(e, httpx.HTTPError):
        return CallError("body", f"reading the response from {url} failed after {rec.lines} objects: {e}")
    return CallError("request", f"request to {url} failed: {type(e).__name__}: {e}")


async def call(client: ollama.AsyncClient, base_url: str, model: str, prompt: str, idle: float) -> CallObservation:
    """One streamed generate call through the official client; never raises."""
    url = f"{base_url}/api/generate"
    rec = CallObservation(model=model, prompt=prompt, bytes=None)
    done = False
    rec.started_unix_ns = time.time_ns()
    t0 = time.perf_counter_ns()
    try:
        async for part in await client.generate(model=model, prompt=prompt, stream=True):
            at = time.perf_counter_ns() - t0
            if done:
                continue
            rec.lines += 1
            if part.response:
                rec.chunk_ns.append(at)
                rec.response_parts.append(part.response)
            if part.done:
                done = True
                rec.end_ns = at
                rec.server = {k: getattr(part, k, None) for k in SERVER_FIELDS}
                if rec.server.get("done_reason") is not None:
                    rec.server["done_reason"] = str(rec.server["done_reason"])
    except Exception as e:  # the client raises many types; each is classified
        rec.error = _error_of(e, url, model, rec, idle)
        return rec
    if not done:
        rec.error = CallError("truncated", f'the stream from {url} ended after {rec.lines} objects without the final "done" object')
    return rec


async def go(args: argparse.Namespace) -> int:
    """Probes the server, then runs the workflow ``--runs`` times on one client."""
    timeout = httpx.Timeout(args.idle_timeout, connect=CONNECT_TIMEOUT_S)
    client = ollama.AsyncClient(host=args.base_url, timeout=timeout)
    try:
        try:
            await client.ps()
        except Exception as e:  # connection refused, not Ollama, ...
            return fail(PROG, f"the server at {args.base_url} does not answer: {e}")

        async def one_call(prompt: str) -> CallObservation:
            return await call(client, args.base_url, args.model, prompt, args.idle_timeout)

        return await run_all(args.runs, args.corpus, args.out, one_call)
    finally:
        await client.close()


def main(argv: List[str]) -> int:
    """Entry point; returns the exit code."""
    return main_with(PROG, argv, __doc__.splitlines()[0], go)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
