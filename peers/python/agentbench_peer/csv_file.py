"""CSV parsing (port of ``src/ingest/csv_file.rs``): header, typed numeric columns,
label columns, ragged rows.

Python's C ``csv`` reader follows the same RFC 4180 state machine as csv-core (a quote
is special only at the start of a field, ``"a"b`` reads ``ab``, CR / LF / CRLF end a
record); the differences are bridged here: csv-core skips empty lines where Python
yields ``[]``, and Rust's ``f64`` parser accepts a narrower syntax than ``float()``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import List, Optional

from .rustcompat import eq_ignore_ascii_case, trim

#: Column names kept as text (they label rows: which model, which error...).
LABEL_COLUMNS = ("model", "error", "backend", "status", "config")

#: What Rust's ``str::parse::<f64>`` accepts (ASCII only, no ``_``, no spaces).
_RUST_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z",
    re.IGNORECASE,
)


@dataclass
class NumericColumn:
    """A column in which every non-empty cell parsed as a finite number."""

    name: str
    index: int
    values: List[Optional[float]]


@dataclass
class LabelColumn:
    """A text column that labels rows (``model``, ``error``, ...)."""

    name: str
    index: int
    values: List[Optional[str]]


@dataclass
class CsvData:
    """What a parsed CSV file holds."""

    header: List[str]
    rows: int
    ragged_rows: List[int]
    numeric: List[NumericColumn] = field(default_factory=list)
    labels: List[LabelColumn] = field(default_factory=list)

    def numeric_col(self, name: str) -> Optional[NumericColumn]:
        """The first numeric column with this name (ASCII case-insensitive)."""
        return next((c for c in self.numeric if eq_ignore_ascii_case(c.name, name)), None)

    def label_col(self, name: str) -> Optional[LabelColumn]:
        """The first label column with this name (ASCII case-insensitive)."""
        return next((c for c in self.labels if eq_ignore_ascii_case(c.name, name)), None)


class CsvError(ValueError):
    """The file is not usable as CSV (the message is the skip reason)."""


def parse_rust_f64(text: str) -> Optional[float]:
    """``text.parse::<f64>()``: the value, or None when Rust would reject the text."""
    if not _RUST_FLOAT.match(text):
        return None
    return float(text)


class _Column:
    """A column being filled: numeric until a cell fails to parse, or label."""

    __slots__ = ("is_label", "is_text", "values")

    def __init__(self, name: str) -> None:
        self.is_label = any(eq_ignore_ascii_case(name, label) for label in LABEL_COLUMNS)
        self.is_text = False
        self.values: list = []

    def add(self, cell: Optional[str]) -> None:
        if self.is_text:
            return
        if self.is_label or cell is None:
            self.values.append(cell)
            return
        value = parse_rust_f64(cell)
        if value is None or value != value or value in (float("inf"), float("-inf")):
            self.is_text = True
            self.values = []
        else:
            self.values.append(value)


def parse(text: str) -> CsvData:
    """Parses CSV text; raises :class:`CsvError` when it has no header row."""
    header: Optional[List[str]] = None
    cols: List[_Column] = []
    rows = 0
    ragged: List[int] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    next_line = 1  # csv-core's line count (LF-based) where the next record starts
    for fields in reader:
        start_line, next_line = next_line, reader.line_num + 1
        if not fields:
            continue  # csv-core skips empty lines
        if header is None:
            names = [trim(f) for f in fields]
            if all(not n for n in names):
                raise CsvError("CSV has no header row")
            header = names
            cols = [_Column(n) for n in names]
            continue
        rows += 1
        if len(fields) != len(header):
            ragged.append(start_line)
        for i, col in enumerate(cols):
            cell = trim(fields[i]) if i < len(fields) else ""
            col.add(cell or None)
    if header is None:
        raise CsvError("CSV has no header row")
    data = CsvData(header=header, rows=rows, ragged_rows=ragged)
    for index, (col, name) in enumerate(zip(cols, header)):
        if col.is_label:
            data.labels.append(LabelColumn(name, index, col.values))
        elif not col.is_text and any(v is not None for v in col.values):
            data.numeric.append(NumericColumn(name, index, col.values))
    return data
