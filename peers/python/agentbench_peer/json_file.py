"""JSON parsing (port of ``src/ingest/json_file.rs`` and ``json_tree.rs``): find
metric-bearing records anywhere in the tree, with the model and options they inherit.

Objects are kept as lists of (key, value) pairs in file order, repeats included (the
last one wins on lookup), as the Rust tree does. ``json.loads`` is made as strict as
serde_json: no ``NaN`` / ``Infinity`` literals, no number that overflows f64, no lone
surrogate escape, and at most 127 nested arrays/objects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .rustcompat import eq_ignore_ascii_case, trim

#: Keys whose presence makes an object a metric record.
METRIC_KEYS = (
    "tokens_per_second",
    "tokens_s",
    "tok_s",
    "throughput",
    "ttft",
    "ttft_s",
    "ttft_ms",
    "latency",
    "latency_s",
    "latency_ms",
    "load_duration",
    "eval_duration",
    "prompt_eval_duration",
    "total_duration",
    "load_s",
    "eval_s",
)
#: Child objects whose scalar fields describe the configuration of their parent.
CONFIG_CHILDREN = ("options", "settings", "config", "parameters")
#: Cap on records kept per file.
MAX_RECORDS = 10_000
#: serde_json's recursion limit: 128 levels, of which 127 nestings parse.
MAX_DEPTH = 127

Members = List[Tuple[str, Any]]


class Obj(list):
    """A JSON object: its members as (key, value) pairs in file order."""


class JsonError(ValueError):
    """The text is not JSON as serde_json reads it (the message is the reason)."""


@dataclass
class MetricRecord:
    """One object holding metrics (or a failed run), with inherited context."""

    pointer: str
    model: Optional[str]
    num_gpu: Optional[float]
    num_ctx: Optional[float]
    temperature: Optional[float]
    tokens_per_second: Optional[float]
    ttft_s: Optional[float]
    load_s: Optional[float]
    cold_start: Optional[bool]
    error: Optional[str]
    fields: Dict[str, float] = field(default_factory=dict)


@dataclass
class JsonData:
    """What a parsed JSON file holds."""

    top_level_keys: List[str]
    records: List[MetricRecord]


def _reject_constant(name: str) -> Any:
    raise JsonError(f"invalid JSON: {name} is not a JSON value")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonError("invalid JSON: number out of range")
    return value


def _parse_int(text: str) -> float:
    """serde_json reads integers as u64/i64 first: ``-0`` is 0, not -0.0."""
    return float(int(text))


def _check_str(s: str) -> str:
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonError("invalid JSON: lone surrogate in a \\u escape") from None
    return s


def _object(pairs: List[Tuple[str, Any]]) -> Obj:
    for k, v in pairs:
        _check_str(k)
        if isinstance(v, str):
            _check_str(v)
    return Obj(pairs)


def _check_depth_and_arrays(value: Any, depth: int) -> None:
    """Depth limit, and the lone-surrogate check for strings inside arrays."""
    if isinstance(value, Obj):
        if depth > MAX_DEPTH:
            raise JsonError("invalid JSON: recursion limit exceeded")
        for _, v in value:
            if isinstance(v, list):
                _check_depth_and_arrays(v, depth + 1)
    elif isinstance(value, list):
        if depth > MAX_DEPTH:
            raise JsonError("invalid JSON: recursion limit exceeded")
        for v in value:
            if isinstance(v, list):
                _check_depth_and_arrays(v, depth + 1)
            elif isinstance(v, str):
                _check_str(v)
    elif isinstance(value, str):
        _check_str(value)


def load_tree(text: str) -> Any:
    """Parses one JSON document into a tree of :class:`Obj`, lists and scalars
    (numbers as float, as ``serde_json::Value::as_f64`` sees them)."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except RecursionError:
        raise JsonError("invalid JSON: recursion limit exceeded") from None
    except JsonError:
        raise
    except ValueError as e:
        raise JsonError(f"invalid JSON: {e}") from None
    _check_depth_and_arrays(value, 1)
    return value


def get(members: Members, key: str) -> Any:
    """The value of ``key``; the last one wins when a key repeats. ``_MISSING`` when absent."""
    for k, v in reversed(members):
        if k == key:
            return v
    return _MISSING


_MISSING = object()


class _Ctx:
    """Model and options inherited from enclosing objects."""

    __slots__ = ("model", "num_gpu", "num_ctx", "temperature")

    def __init__(self, parent: Optional["_Ctx"] = None) -> None:
        self.model = parent.model if parent else None
        self.num_gpu = parent.num_gpu if parent else None
        self.num_ctx = parent.num_ctx if parent else None
        self.temperature = parent.temperature if parent else None

    def absorb(self, members: Members) -> None:
        for k, v in members:
            if k in ("model", "model_name"):
                if isinstance(v, str):
                    self.model = v
            elif k == "num_gpu" and isinstance(v, float):
                self.num_gpu = v
            elif k == "num_ctx" and isinstance(v, float):
                self.num_ctx = v
            elif k == "temperature" and isinstance(v, float):
                self.temperature = v


def _segment(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _num(members: Members, key: str) -> Optional[float]:
    v = get(members, key)
    return v if isinstance(v, float) and math.isfinite(v) else None


def _error_of(members: Members) -> Optional[str]:
    err = get(members, "error")
    if isinstance(err, str) and trim(err):
        return err
    status = get(members, "status")
    failed = get(members, "success") is False or (
        isinstance(status, str)
        and (eq_ignore_ascii_case(status, "error") or eq_ignore_ascii_case(status, "failed"))
    )
    return "failed (no message)" if failed else None


def _first_num(members: Members, keys: Tuple[str, ...]) -> Optional[float]:
    for k in keys:
        v = _num(members, k)
        if v is not None:
            return v
    return None


def _record(members: Members, ctx: _Ctx, pointer: str) -> Optional[MetricRecord]:
    has_metric = any(get(members, k) is not _MISSING for k in METRIC_KEYS)
    error = _error_of(members)
    if not has_metric and error is None:
        return None
    tps = _first_num(members, ("tokens_per_second", "tokens_s", "tok_s", "throughput"))
    if tps is None:
        count, dur = _num(members, "eval_count"), _num(members, "eval_duration")
        if count is not None and dur is not None and dur > 0.0:
            tps = count / (dur / 1e9)
    ttft = _first_num(members, ("ttft_s", "ttft"))
    if ttft is None:
        ms = _num(members, "ttft_ms")
        ttft = ms / 1000.0 if ms is not None else None
    load = _num(members, "load_s")
    if load is None:
        ns = _num(members, "load_duration")
        load = ns / 1e9 if ns is not None else None
    cold = get(members, "cold_start")
    return MetricRecord(
        pointer=pointer or "/",
        model=ctx.model,
        num_gpu=ctx.num_gpu,
        num_ctx=ctx.num_ctx,
        temperature=ctx.temperature,
        tokens_per_second=tps,
        ttft_s=ttft,
        load_s=load,
        cold_start=cold if isinstance(cold, bool) else None,
        error=error,
        fields={k: v for k, v in members if isinstance(v, float) and math.isfinite(v)},
    )


def _visit(value: Any, parent: _Ctx, pointer: str, out: List[MetricRecord]) -> None:
    if isinstance(value, Obj):
        ctx = _Ctx(parent)
        for key in CONFIG_CHILDREN:
            child = get(value, key)
            if isinstance(child, Obj):
                ctx.absorb(child)
        ctx.absorb(value)
        if len(out) < MAX_RECORDS:
            rec = _record(value, ctx, pointer)
            if rec is not None:
                out.append(rec)
        for k, child in value:
            if isinstance(child, list):
                _visit(child, ctx, pointer + _segment(k), out)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            if isinstance(child, list):
                _visit(child, parent, f"{pointer}/{i}", out)


def parse(text: str) -> JsonData:
    """Parses JSON text; raises :class:`JsonError` when serde_json would reject it."""
    tree = load_tree(text)
    top = [k for k, _ in tree] if isinstance(tree, Obj) else []
    records: List[MetricRecord] = []
    _visit(tree, _Ctx(), "", records)
    return JsonData(top_level_keys=top, records=records)
