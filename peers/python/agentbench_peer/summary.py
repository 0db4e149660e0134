"""The data summary handed to the prompts (port of ``src/ingest/summary.rs``):
per-model and per-configuration aggregates, errors, findings, key metrics, folders.

Deterministic like the Rust version: walk order, sorted maps (Rust's ``BTreeMap``
orders strings by UTF-8 bytes, which is Python's code-point order, and ``None``
before any value), fixed caps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from .csv_file import CsvData, NumericColumn
from .ingest import Corpus, CorpusStats
from .json_file import JsonData
from .markdown import MarkdownData
from .rustcompat import as_i64, ascii_lower, round_half_away, sum_left, total_order_key

MAX_FINDINGS = 20
FINDINGS_PER_FILE = 2
MAX_KEY_METRICS = 20
METRICS_PER_FILE = 4
UNATTRIBUTED = "(unattributed)"


@dataclass
class Dist:
    """Count, mean, median, min and max of a metric."""

    n: int
    mean: float
    median: float
    min: float
    max: float

    @staticmethod
    def of(values: List[float]) -> Optional["Dist"]:
        """None for no values; sorts ``values`` in place (``f64::total_cmp`` order)."""
        if not values:
            return None
        values.sort(key=total_order_key)
        n = len(values)
        median = values[n // 2] if n % 2 == 1 else (values[n // 2 - 1] + values[n // 2]) / 2.0
        return Dist(n, sum_left(values) / float(n), median, values[0], values[-1])


@dataclass
class ModelAggregate:
    """Aggregates for one model."""

    model: str
    calls: int
    errors: int
    tokens_per_second: Optional[Dist]
    ttft_s: Optional[Dist]
    ttft_warm_s: Optional[Dist]
    ttft_cold_s: Optional[Dist]


@dataclass
class ConfigAggregate:
    """Aggregates for one (model, num_gpu, num_ctx, temperature) configuration."""

    model: str
    num_gpu: Optional[int]
    num_ctx: Optional[int]
    temperature: Optional[float]
    calls: int
    errors: int
    tokens_per_second: Optional[Dist]
    ttft_warm_s: Optional[Dist]
    ttft_cold_s: Optional[Dist]


@dataclass
class SourcedText:
    """A finding and the file it came from."""

    source: str
    text: str


@dataclass
class KeyMetric:
    """A ``| Metric | Value |`` row."""

    source: str
    metric: str
    value: str


@dataclass
class DirSummary:
    """Files per folder."""

    dir: str
    csv: int = 0
    json: int = 0
    markdown: int = 0
    bytes: int = 0


@dataclass
class DataSummary:
    """Everything the prompts need."""

    stats: CorpusStats
    observations: int
    models: List[ModelAggregate]
    configs: List[ConfigAggregate]
    errors_total: int
    errors_by_message: List[Tuple[str, int]]
    findings: List[SourcedText]
    key_metrics: List[KeyMetric]
    dirs: List[DirSummary]
    files: List[Tuple[str, str, int, bool]] = field(default_factory=list)


@dataclass
class _Obs:
    model: Optional[str]
    num_gpu: Optional[float]
    num_ctx: Optional[float]
    temperature: Optional[float]
    tps: Optional[float]
    ttft: Optional[float]
    cold: Optional[bool]
    error: Optional[str]


class _Acc:
    """Calls, errors and samples of one model or configuration."""

    __slots__ = ("calls", "errors", "tps", "ttft", "warm", "cold")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.tps: List[float] = []
        self.ttft: List[float] = []
        self.warm: List[float] = []
        self.cold: List[float] = []

    def add(self, o: _Obs) -> None:
        self.calls += 1
        if o.error is not None:
            self.errors += 1
            return
        if o.tps is not None:
            self.tps.append(o.tps)
        if o.ttft is not None:
            self.ttft.append(o.ttft)
            if o.cold is True:
                self.cold.append(o.ttft)
            elif o.cold is False:
                self.warm.append(o.ttft)


def _cold_from_load(load_s: Optional[float]) -> Optional[bool]:
    return None if load_s is None else load_s > 0.05


def _csv_obs(d: CsvData, emit: Callable[[_Obs], None]) -> None:
    def col(*names: str) -> Optional[NumericColumn]:
        return next((c for c in map(d.numeric_col, names) if c is not None), None)

    tps = col("tokens_s", "tokens_per_second", "tok_s", "throughput")
    ttft_s = col("ttft_s", "ttft")
    ttft_ms = d.numeric_col("ttft_ms")
    load_s = d.numeric_col("load_s")
    load_ns = d.numeric_col("load_duration")
    gpu, ctx, temp = d.numeric_col("num_gpu"), d.numeric_col("num_ctx"), d.numeric_col("temperature")
    model, error = d.label_col("model"), d.label_col("error")
    if tps is None and ttft_s is None and ttft_ms is None:
        return

    def at(c, i: int):
        return c.values[i] if c is not None and i < len(c.values) else None

    for i in range(d.rows):
        ttft = at(ttft_s, i)
        if ttft is None:
            ms = at(ttft_ms, i)
            ttft = ms / 1000.0 if ms is not None else None
        load = at(load_s, i)
        if load is None:
            ns = at(load_ns, i)
            load = ns / 1e9 if ns is not None else None
        o = _Obs(at(model, i), at(gpu, i), at(ctx, i), at(temp, i), at(tps, i), ttft,
                 _cold_from_load(load), at(error, i))
        if o.error is not None or o.tps is not None or o.ttft is not None:
            emit(o)


def _json_obs(d: JsonData, emit: Callable[[_Obs], None]) -> None:
    for r in d.records:
        if r.error is None and r.tokens_per_second is None and r.ttft_s is None:
            continue
        cold = r.cold_start if r.cold_start is not None else _cold_from_load(r.load_s)
        emit(_Obs(r.model, r.num_gpu, r.num_ctx, r.temperature, r.tokens_per_second,
                  r.ttft_s, cold, r.error))


def _is_findings_section(section: Optional[str]) -> bool:
    if section is None:
        return False
    s = ascii_lower(section)
    return any(k in s for k in ("finding", "insight", "observation", "takeaway"))


def _md_extract(path: str, d: MarkdownData, findings: List[SourcedText],
                metrics: List[KeyMetric]) -> None:
    taken = 0
    for b in d.bullets:
        if len(findings) >= MAX_FINDINGS or taken >= FINDINGS_PER_FILE:
            break
        if _is_findings_section(b.section) and not any(f.text == b.text for f in findings):
            findings.append(SourcedText(path, b.text))
            taken += 1
    taken = 0
    for t in d.tables:
        if not t.is_metric_value():
            continue
        for row in t.rows:
            if len(metrics) >= MAX_KEY_METRICS or taken >= METRICS_PER_FILE:
                return
            if len(row) >= 2:
                metrics.append(KeyMetric(path, row[0], row[1]))
                taken += 1


def _opt_key(v: Optional[int]) -> Tuple:
    return (0,) if v is None else (1, v)


def _round_i64(v: Optional[float], scale: float = 1.0) -> Optional[int]:
    """``(v * scale).round() as i64`` (``v * 1.0`` is exact)."""
    return None if v is None else as_i64(round_half_away(v * scale))


def summarize(corpus: Corpus) -> DataSummary:
    """Builds the summary of a corpus (same corpus, same summary)."""
    models: Dict[str, _Acc] = {}
    configs: Dict[Tuple, _Acc] = {}
    errors: Dict[str, int] = {}
    observations = 0
    findings: List[SourcedText] = []
    key_metrics: List[KeyMetric] = []

    def add(o: _Obs) -> None:
        nonlocal observations
        observations += 1
        model = o.model if o.model is not None else UNATTRIBUTED
        models.setdefault(model, _Acc()).add(o)
        if o.model is not None:
            key = (model, _round_i64(o.num_gpu), _round_i64(o.num_ctx),
                   _round_i64(o.temperature, 1000.0))
            configs.setdefault(key, _Acc()).add(o)
        if o.error is not None:
            errors[o.error] = errors.get(o.error, 0) + 1

    for f in corpus.files:
        if isinstance(f.data, CsvData):
            _csv_obs(f.data, add)
        elif isinstance(f.data, JsonData):
            _json_obs(f.data, add)
        elif isinstance(f.data, MarkdownData):
            _md_extract(f.path, f.data, findings, key_metrics)

    dirs: Dict[str, DirSummary] = {}
    files = []
    for f in corpus.files:
        slash = f.path.rfind("/")
        d = f.path[:slash] if slash >= 0 else "."
        e = dirs.setdefault(d, DirSummary(d))
        if f.kind == "csv":
            e.csv += 1
        elif f.kind == "json":
            e.json += 1
        else:
            e.markdown += 1
        e.bytes += f.bytes
        files.append((f.path, f.kind, f.bytes, f.skipped is None))

    model_list = [
        ModelAggregate(m, a.calls, a.errors, Dist.of(a.tps), Dist.of(a.ttft),
                       Dist.of(a.warm), Dist.of(a.cold))
        for m, a in sorted(models.items())
    ]
    config_list = [
        ConfigAggregate(k[0], k[1], k[2], None if k[3] is None else float(k[3]) / 1000.0,
                        a.calls, a.errors, Dist.of(a.tps), Dist.of(a.warm), Dist.of(a.cold))
        for k, a in sorted(configs.items(),
                           key=lambda kv: (kv[0][0], _opt_key(kv[0][1]), _opt_key(kv[0][2]),
                                           _opt_key(kv[0][3])))
    ]
    by_message = sorted(errors.items(), key=lambda mc: (-mc[1], mc[0]))
    return DataSummary(
        stats=corpus.stats(),
        observations=observations,
        models=model_list,
        configs=config_list,
        errors_total=sum(c for _, c in by_message),
        errors_by_message=by_message,
        findings=findings,
        key_metrics=key_metrics,
        dirs=[dirs[k] for k in sorted(dirs)],
        files=files,
    )
