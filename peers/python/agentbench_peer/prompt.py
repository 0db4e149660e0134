"""The two prompts of the workflow (port of ``src/prompt/mod.rs``): byte-identical to
the Rust agent's for the same corpus (checked by ``tests/peers_prompt.rs`` through the
SHA-256 recorded per call).
"""

from __future__ import annotations

import hashlib
from typing import Dict, List, Sequence, Tuple

from .parse import Analysis
from .rustcompat import fmt_fixed, total_order_key, truncate
from .summary import ConfigAggregate, DataSummary, Dist

#: Version of the table rendering; part of every template hash.
RENDER_VERSION = "render-v1"

#: The analysis prompt's template (``{name}`` placeholders), as in the Rust source.
ANALYSIS_TEMPLATE = (
    'You are a performance engineer analysing local LLM inference benchmarks (Ollama).\n'
    'The data below was extracted from {files} benchmark files ({csv} CSV, {json} JSON, {md} '
    'Markdown; {kib} KiB) holding {observations} timed calls. Use only these numbers; do not '
    'invent data.\n'
    "Throughput is the server's decode rate (eval_count / eval_duration). TTFT is time to "
    'first token; cold calls include a model load, so keep warm and cold TTFT apart.\n'
    '\n'
    '## Data\n'
    '\n'
    '### Per model\n'
    '{models}\n'
    '### Configurations by mean decode tok/s (top and bottom; options empty = Ollama '
    'defaults)\n'
    '{configs}\n'
    '### Errors\n'
    '{errors}\n'
    '### Findings stated in the Markdown reports\n'
    '{findings}\n'
    '### Key metrics stated in the Markdown reports\n'
    '{key_metrics}\n'
    '## Task\n'
    '\n'
    'Analyse this data. Reply in markdown with exactly these four sections, in this order, '
    'and nothing else:\n'
    '\n'
    '## Executive Summary\n'
    'One paragraph of 3-5 sentences.\n'
    '\n'
    '## Key Findings\n'
    '- 3 to 6 bullets, each citing numbers from the data.\n'
    '\n'
    '## Performance Metrics\n'
    '- Bullets on decode throughput, warm and cold TTFT and errors, with numbers.\n'
    '\n'
    '## Recommendations\n'
    '- 3 to 5 concrete, actionable bullets.\n'
)

#: The report prompt's template.
REPORT_TEMPLATE = (
    'You are a technical writer. Write a technical report in markdown on local LLM inference '
    'benchmarks (Ollama), from the analysis and the measured data below. Use only these '
    'numbers; do not invent data. Keep warm and cold TTFT apart.\n'
    '\n'
    '# Analysis (from a previous step)\n'
    '\n'
    '## Executive Summary\n'
    '{summary}\n'
    '\n'
    '## Key Findings\n'
    '{findings}\n'
    '## Performance Metrics\n'
    '{metrics}\n'
    '## Recommendations\n'
    '{recommendations}\n'
    '# Measured data\n'
    '\n'
    '## Corpus\n'
    '{files} files ({csv} CSV, {json} JSON, {md} Markdown; {kib} KiB), {observations} timed '
    'calls, {skipped} skipped files.\n'
    '{dirs}\n'
    '## Per model\n'
    '{models}\n'
    '## Configurations by mean decode tok/s (top and bottom; options empty = Ollama '
    'defaults)\n'
    '{configs}\n'
    '## Errors\n'
    '{errors}\n'
    '## Key metrics stated in the Markdown reports\n'
    '{key_metrics}\n'
    '# Task\n'
    '\n'
    'Write the report with these sections, in this order:\n'
    '\n'
    '# Technical Report: LLM Inference Benchmarks\n'
    '## 1. Executive Summary\n'
    '## 2. Data Overview (files, models, configurations, number of calls)\n'
    '## 3. Key Findings\n'
    '## 4. Performance Metrics (tables of throughput and TTFT per model and configuration)\n'
    '## 5. Recommendations\n'
    '## 6. Appendix (data sources by folder, error list, method notes)\n'
    '\n'
    'Use markdown tables for numbers and bullets for findings and recommendations.\n'
)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def prompt_hash(prompt: str) -> str:
    """SHA-256 of the prompt's UTF-8 bytes, as recorded in ``prompt_sha256``."""
    return sha256_hex(prompt.encode("utf-8"))


def template_hashes() -> Dict[str, str]:
    """SHA-256 of each template, a NUL byte and :data:`RENDER_VERSION` (the Rust
    header's ``prompt_templates``)."""
    suffix = b"\0" + RENDER_VERSION.encode()
    return {
        "analysis": sha256_hex(ANALYSIS_TEMPLATE.encode() + suffix),
        "report": sha256_hex(REPORT_TEMPLATE.encode() + suffix),
    }


def render(template: str, variables: Dict[str, str]) -> str:
    """Single-pass ``{name}`` substitution: inserted values are never rescanned and
    unknown ``{...}`` stay as they are."""
    out: List[str] = []
    rest = template
    while True:
        open_ = rest.find("{")
        if open_ < 0:
            break
        out.append(rest[:open_])
        after = rest[open_ + 1:]
        close = after.find("}")
        if close >= 0 and after[:close] in variables:
            out.append(variables[after[:close]])
            rest = after[close + 1:]
        else:
            out.append("{")
            rest = after
    out.append(rest)
    return "".join(out)


def _dist_cell(d: "Dist | None", decimals: int) -> str:
    return "-" if d is None else f"{fmt_fixed(d.mean, decimals)} ({d.n})"


def _models_table(s: DataSummary) -> str:
    t = [
        "| model | calls | errors | tok/s mean | tok/s median | tok/s min-max "
        "| warm TTFT s (n) | cold TTFT s (n) |\n|---|---|---|---|---|---|---|---|\n"
    ]
    for m in s.models:
        d = m.tokens_per_second
        if d is None:
            mean = median = rng = "-"
        else:
            mean, median = fmt_fixed(d.mean, 2), fmt_fixed(d.median, 2)
            rng = f"{fmt_fixed(d.min, 2)}-{fmt_fixed(d.max, 2)}"
        t.append(
            f"| {m.model} | {m.calls} | {m.errors} | {mean} | {median} | {rng} "
            f"| {_dist_cell(m.ttft_warm_s, 3)} | {_dist_cell(m.ttft_cold_s, 3)} |\n"
        )
    return "".join(t)


def _ranked_configs(s: DataSummary, top: int, bottom: int) -> Tuple[List[ConfigAggregate], int]:
    """Configurations with >= 3 throughput samples by mean tok/s, descending (stable):
    the ``top`` best then the ``bottom`` worst, and how many qualified."""
    v = [c for c in s.configs if c.tokens_per_second is not None and c.tokens_per_second.n >= 3]
    v.sort(key=lambda c: total_order_key(c.tokens_per_second.mean), reverse=True)
    total = len(v)
    if total > top + bottom:
        v = v[:top] + v[total - bottom:]
    return v, total


def _opt(x: "int | None") -> str:
    return "" if x is None else str(x)


def _configs_table(s: DataSummary, top: int, bottom: int) -> str:
    v, total = _ranked_configs(s, top, bottom)
    t = [
        "| rank | model | num_gpu | num_ctx | temperature | tok/s mean (n) | warm TTFT s "
        "| cold TTFT s | errors |\n|---|---|---|---|---|---|---|---|---|\n"
    ]
    shown_top = min(top, len(v))
    for i, c in enumerate(v):
        rank = i + 1 if i < shown_top else total - (len(v) - i) + 1
        temp = "" if c.temperature is None else fmt_fixed(c.temperature, 2)
        warm = "-" if c.ttft_warm_s is None else fmt_fixed(c.ttft_warm_s.mean, 3)
        cold = "-" if c.ttft_cold_s is None else fmt_fixed(c.ttft_cold_s.mean, 3)
        t.append(
            f"| {rank}/{total} | {c.model} | {_opt(c.num_gpu)} | {_opt(c.num_ctx)} | {temp} "
            f"| {_dist_cell(c.tokens_per_second, 2)} | {warm} | {cold} | {c.errors} |\n"
        )
    return "".join(t)


def _errors_text(s: DataSummary, most: int) -> str:
    if s.errors_total == 0:
        return "No failed calls.\n"
    t = [f"{s.errors_total} failed calls of {s.observations}:\n"]
    for message, count in s.errors_by_message[:most]:
        t.append(f"- {count} x {truncate(message, 160)}\n")
    return "".join(t)


def _findings_text(s: DataSummary, most: int) -> str:
    t = [f"- {truncate(f.text, 240)} ({f.source})\n" for f in s.findings[:most]]
    return "".join(t) or "None.\n"


def _key_metrics_text(s: DataSummary, most: int) -> str:
    t: List[str] = []
    last_source = ""
    for m in s.key_metrics[:most]:
        if m.source != last_source:
            t.append(f"- {m.source}:\n")
            last_source = m.source
        t.append(f"  - {truncate(m.metric, 80)}: {truncate(m.value, 120)}\n")
    return "".join(t) or "None.\n"


def _corpus_vars(s: DataSummary) -> Dict[str, str]:
    return {
        "files": str(s.stats.files),
        "csv": str(s.stats.csv),
        "json": str(s.stats.json),
        "md": str(s.stats.markdown),
        "kib": fmt_fixed(s.stats.bytes / 1024.0, 1),
        "observations": str(s.observations),
    }


def analysis_prompt(summary: DataSummary) -> str:
    """The analysis prompt: the four-section instructions plus the data summary."""
    variables = _corpus_vars(summary)
    variables.update(
        models=_models_table(summary),
        configs=_configs_table(summary, 5, 3),
        errors=_errors_text(summary, 4),
        findings=_findings_text(summary, 6),
        key_metrics=_key_metrics_text(summary, 7),
    )
    return render(ANALYSIS_TEMPLATE, variables)


def _list_text(items: Sequence[str], most: int) -> str:
    t = [f"- {truncate(i, 300)}\n" for i in items[:most]]
    return "".join(t) or "(none given)\n"


def report_prompt(analysis: Analysis, summary: DataSummary) -> str:
    """The report prompt: the parsed analysis (bounded) plus measured aggregates."""
    dirs = ["| folder | CSV | JSON | Markdown | KiB |\n|---|---|---|---|---|\n"]
    for d in summary.dirs:
        dirs.append(
            f"| {d.dir} | {d.csv} | {d.json} | {d.markdown} | {fmt_fixed(d.bytes / 1024.0, 1)} |\n"
        )
    variables = _corpus_vars(summary)
    variables.update(
        summary=truncate(analysis.summary, 1200) if analysis.summary else "(none given)",
        findings=_list_text(analysis.findings, 10),
        metrics=_list_text(analysis.metrics, 10),
        recommendations=_list_text(analysis.recommendations, 10),
        skipped=str(len(summary.stats.skipped)),
        dirs="".join(dirs),
        models=_models_table(summary),
        configs=_configs_table(summary, 10, 5),
        errors=_errors_text(summary, 6),
        key_metrics=_key_metrics_text(summary, 12),
    )
    return render(REPORT_TEMPLATE, variables)
