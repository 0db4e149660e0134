"""Tolerant parser of the analysis response (port of ``src/prompt/parse.rs``): any
text in, never raises. The report prompt is built from its output, so it must read
the model's text exactly as the Rust parser does (byte lengths, Unicode whitespace,
``str::lines`` splitting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .rustcompat import RUST_WS, rust_lines, split_whitespace, trim, truncate, utf8_len

MAX_SUMMARY_BYTES = 2000
MAX_ITEM_BYTES = 500
MAX_ITEMS = 50

SUMMARY, FINDINGS, METRICS, RECOMMENDATIONS = "summary", "findings", "metrics", "recommendations"

_CANONICAL = frozenset((
    "summary", "executive summary", "overview", "key findings", "findings", "insights",
    "key insights", "performance metrics", "metrics", "key metrics", "performance analysis",
    "performance metrics analysis", "recommendations", "key recommendations", "next steps",
    "tl;dr",
))
_HEADING_EDGE = "*_#`" + RUST_WS
_EMPHASIS_EDGE = "*_" + RUST_WS


@dataclass
class Analysis:
    """The parsed analysis response."""

    summary: str = ""
    findings: List[str] = field(default_factory=list)
    recommendations: List[str] = field(default_factory=list)
    metrics: List[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The record's ``analysis`` object (field order of the Rust struct)."""
        return {
            "summary": self.summary,
            "findings": self.findings,
            "recommendations": self.recommendations,
            "metrics": self.metrics,
        }


def _classify(text: str) -> Optional[str]:
    t = text.lower()
    if "recommend" in t or "next step" in t or "action item" in t:
        return RECOMMENDATIONS
    if "finding" in t or "insight" in t or "observation" in t:
        return FINDINGS
    if "metric" in t or "performance" in t:
        return METRICS
    if "summary" in t or "overview" in t:
        return SUMMARY
    return None


def _canonical(h: str) -> Optional[str]:
    h = trim(h).lower()
    if h in _CANONICAL:
        return _classify(h) or SUMMARY
    return None


def _strip_heading(text: str) -> str:
    return trim(text).strip(_HEADING_EDGE).rstrip(":").strip(_EMPHASIS_EDGE)


def _bullet(line: str) -> Optional[str]:
    for p in ("- ", "* ", "+ ", "\u2022 "):
        if line.startswith(p):
            return trim(line[len(p):])
    digits = 0
    while digits < len(line) and line[digits] in "0123456789":
        digits += 1
    if 0 < digits <= 3:
        rest = line[digits:]
        if rest.startswith(". ") or rest.startswith(") "):
            return trim(rest[2:])
    return None


# A classified line: (kind, section, text); kinds: heading, bullet, row, sep, text, blank.
Line = Tuple[str, Optional[str], str]
_BLANK: Line = ("blank", None, "")


def _classify_line(raw: str) -> Line:
    line = trim(raw)
    if not line:
        return _BLANK
    if len(line) >= 3 and not line.strip("-*_ "):
        return _BLANK  # horizontal rule
    if line.startswith("#"):
        return ("heading", _classify(_strip_heading(line)), "")
    if line.startswith("|"):
        if not line.strip("|-: "):
            return ("sep", None, "")
        return ("row", None, line)
    n = utf8_len(line)
    bold = (
        (line.startswith("**") and line.endswith("**") and n > 4)
        or (line.startswith("**") and line.endswith("**:") and n > 5)
        or (line.startswith("__") and line.endswith("__") and n > 4)
    )
    if bold and "**" not in line[2:-2]:
        h = _strip_heading(line)
        if len(split_whitespace(h)) <= 5:
            s = _classify(h)
            if s is not None:
                return ("heading", s, "")
    item = _bullet(line)
    if item is not None:
        h = _strip_heading(item)
        marked = item.startswith("**") or item.endswith(":") or line[0] in "0123456789"
        if ":" not in h and (
            _canonical(h) is not None or (marked and len(split_whitespace(h)) <= 4)
        ):
            s = _classify(h)
            if s is not None:
                return ("heading", s, "")
        return ("bullet", None, item)
    head, colon, rest = line.partition(":")
    if colon:
        s = _canonical(_strip_heading(head))
        if s is not None:
            return ("heading", s, trim(rest))
    return ("text", None, line)


def _clean_item(s: str) -> str:
    s = s.replace("**", "").replace("__", "")
    return truncate(" ".join(split_whitespace(s)), MAX_ITEM_BYTES)


def _table_item(row: str) -> str:
    cells = [c for c in (trim(c) for c in trim(row).strip("|").split("|")) if c]
    if not cells:
        return ""
    if len(cells) == 1:
        return cells[0]
    return f"{cells[0]}: {' | '.join(cells[1:])}"


class _Builder:
    """Items of one list section."""

    def __init__(self) -> None:
        self.items: List[str] = []
        self.open = False
        self.last_table_row: Optional[int] = None

    def push(self, s: str) -> None:
        if s and len(self.items) < MAX_ITEMS:
            self.items.append(s)

    def line(self, line: Line, indented: bool) -> None:
        kind, _, text = line
        if kind == "bullet":
            self.push(_clean_item(text))
            self.open = True
            self.last_table_row = None
        elif kind == "row":
            self.push(_clean_item(_table_item(text)))
            # Rust: `Some(len - 1).filter(|_| !is_empty())` (wraps to None when empty)
            self.last_table_row = len(self.items) - 1 if self.items else None
            self.open = False
        elif kind == "sep":
            i, self.last_table_row = self.last_table_row, None
            if i is not None and i + 1 == len(self.items):
                self.items.pop()
        elif kind == "text":
            if self.items and self.open and (indented or text):
                self.items[-1] = _clean_item(f"{self.items[-1]} {text}")
            else:
                self.push(_clean_item(text))
            self.open = True
            self.last_table_row = None
        elif kind == "blank":
            self.open = False
            self.last_table_row = None


class _Buf:
    """A growing text with its UTF-8 length (``append`` stops past 2x the cap)."""

    def __init__(self) -> None:
        self.parts: List[str] = []
        self.nbytes = 0

    def append(self, t: str) -> None:
        if self.nbytes > MAX_SUMMARY_BYTES * 2:
            return
        if self.nbytes:
            self.parts.append(" ")
            self.nbytes += 1
        self.parts.append(t)
        self.nbytes += utf8_len(t)

    def is_empty(self) -> bool:
        return self.nbytes == 0

    def text(self) -> str:
        return "".join(self.parts)


def _dispatch(section: Optional[str], line: Line, indented: bool, summary: _Buf,
              lists: dict) -> None:
    if section == SUMMARY:
        if line[0] in ("text", "bullet"):
            summary.append(line[2])
        elif line[0] == "row":
            summary.append(_table_item(line[2]))
    elif section is not None:
        lists[section].line(line, indented)


def parse_analysis(text: str) -> Analysis:
    """Parses an analysis response: headings in any case (``#``, ``**bold**``,
    ``Name:``), ``-``/``*``/``+``/``1.`` lists, tables, missing sections, garbage."""
    section: Optional[str] = None
    seen_section = False
    summary, preamble, first = _Buf(), _Buf(), _Buf()
    preamble_done = first_done = False
    lists = {FINDINGS: _Builder(), METRICS: _Builder(), RECOMMENDATIONS: _Builder()}
    for raw in rust_lines(text):
        indented = raw.startswith("  ") or raw.startswith("\t")
        line = _classify_line(raw)
        kind = line[0]
        if kind in ("blank", "heading") and not first.is_empty():
            first_done = True
        elif kind in ("bullet", "text", "row") and not first_done:
            first.append(line[2])
        if kind == "heading":
            section = line[1]
            if section is not None:
                seen_section = True
                if not preamble.is_empty():
                    preamble_done = True
            if line[2]:
                _dispatch(section, _classify_line(line[2]), indented, summary, lists)
            continue
        if not seen_section and not preamble_done:
            if kind == "text":
                preamble.append(line[2])
            elif kind == "blank" and not preamble.is_empty():
                preamble_done = True
        _dispatch(section, line, indented, summary, lists)
    if not seen_section:
        chosen = first.text()
    elif summary.is_empty():
        chosen = preamble.text()
    else:
        chosen = summary.text()
    cleaned = truncate(" ".join(split_whitespace(chosen.replace("**", ""))), MAX_SUMMARY_BYTES)
    return Analysis(
        summary=cleaned,
        findings=lists[FINDINGS].items,
        recommendations=lists[RECOMMENDATIONS].items,
        metrics=lists[METRICS].items,
    )
