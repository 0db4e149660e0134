"""Records in the shape of the Rust agent's ``"kind":"workflow"`` lines
(``src/record/mod.rs``, ``src/client/record.rs``), written durably.

Every ``*_ns`` offset of a call is relative to t0, ``time.perf_counter_ns()`` taken
just before the request is sent; phase offsets are relative to the run's start.
Fields a peer cannot observe are left out, never written as 0.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .prompt import prompt_hash

#: The server's final-object fields, under Ollama's names, in the Rust record's order.
SERVER_FIELDS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
    "done_reason",
)


@dataclass
class CallError(Exception):
    """A failed call: ``kind`` as in the Rust ``ErrorKind`` (snake_case) and a message."""

    kind: str
    message: str

    def to_json(self) -> Dict[str, str]:
        """The record's ``error`` object."""
        return {"kind": self.kind, "message": self.message}


@dataclass
class CallObservation:
    """Raw observations of one streamed generate call (``CallRecord``)."""

    model: str
    prompt: str
    started_unix_ns: int = 0
    http_status: Optional[int] = None
    headers_ns: Optional[int] = None
    chunk_ns: List[int] = field(default_factory=list)
    end_ns: Optional[int] = None
    bytes: Optional[int] = 0
    lines: int = 0
    response_parts: List[str] = field(default_factory=list)
    server: Dict[str, Any] = field(default_factory=dict)
    error: Optional[CallError] = None

    @property
    def response(self) -> str:
        """The generated text so far."""
        return "".join(self.response_parts)

    def to_json(self) -> Dict[str, Any]:
        """The ``call`` object of a record line; absent observations are omitted."""
        out: Dict[str, Any] = {
            "endpoint": "generate",
            "model": self.model,
            "settings": {"options": {}},
            "prompt_sha256": prompt_hash(self.prompt),
            "prompt_bytes": len(self.prompt.encode("utf-8")),
            "started_unix_ns": self.started_unix_ns,
        }
        if self.http_status is not None:
            out["http_status"] = self.http_status
        if self.headers_ns is not None:
            out["headers_ns"] = self.headers_ns
        out["chunk_ns"] = self.chunk_ns
        if self.end_ns is not None:
            out["end_ns"] = self.end_ns
        if self.bytes is not None:
            out["bytes"] = self.bytes
        out["lines"] = self.lines
        out["response"] = self.response
        out["server"] = {k: self.server[k] for k in SERVER_FIELDS if self.server.get(k) is not None}
        if self.error is not None:
            out["error"] = self.error.to_json()
        return out


class PhaseClock:
    """Phase spans in ns from the run's start (monotonic clock)."""

    def __init__(self) -> None:
        self.start = time.perf_counter_ns()
        self.spans: List[Dict[str, Any]] = []

    def offset(self) -> int:
        """Nanoseconds since the run started."""
        return time.perf_counter_ns() - self.start

    def close(self, phase: str, start_ns: int) -> None:
        """Records ``phase`` as running from ``start_ns`` until now."""
        self.spans.append({"phase": phase, "start_ns": start_ns, "end_ns": self.offset()})


class RecordWriter:
    """Appends one JSON line per run to a file: write, flush and fsync each line."""

    def __init__(self, path: str) -> None:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def append(self, line: Dict[str, Any]) -> None:
        """Writes ``line`` and makes it durable before returning."""
        self._file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Closes the file."""
        self._file.close()
