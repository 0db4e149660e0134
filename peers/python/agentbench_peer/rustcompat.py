"""Helpers that reproduce Rust standard-library behaviour the prompts depend on.

Each one names the Rust function it mirrors. Python's own equivalents differ in
corner cases that would change prompt bytes: ``str.strip()`` also strips U+001C..U+001F,
``str.lower()`` folds non-ASCII letters, ``round()`` rounds half to even, ``'%.2f'``
prints ``nan`` where Rust prints ``NaN``, and ``sum()`` of floats is compensated on
Python >= 3.12 where Rust adds left to right.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Iterable, List

#: The characters of Unicode's White_Space property: ``char::is_whitespace``,
#: ``str::trim`` and ``str::split_whitespace`` in Rust.
RUST_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_RUN = re.compile("[" + re.escape(RUST_WS) + "]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def trim(s: str) -> str:
    """``str::trim``: strips White_Space characters from both ends."""
    return s.strip(RUST_WS)


def split_whitespace(s: str) -> List[str]:
    """``str::split_whitespace``: the non-empty pieces between White_Space runs."""
    return [p for p in _WS_RUN.split(s) if p]


def ascii_lower(s: str) -> str:
    """``str::to_ascii_lowercase``: folds A-Z only."""
    return s.translate(_ASCII_LOWER)


def eq_ignore_ascii_case(a: str, b: str) -> bool:
    """``str::eq_ignore_ascii_case``."""
    return len(a) == len(b) and ascii_lower(a) == ascii_lower(b)


def utf8_len(s: str) -> int:
    """``str::len``: the length in UTF-8 bytes."""
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def truncate(s: str, max_bytes: int) -> str:
    """Cuts ``s`` to at most ``max_bytes`` UTF-8 bytes on a character boundary
    (``prompt::parse::truncate``)."""
    if len(s) <= max_bytes and (s.isascii() or utf8_len(s) <= max_bytes):
        return s
    data = s.encode("utf-8")
    if len(data) <= max_bytes:
        return s
    end = max_bytes
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end].decode("utf-8")


def rust_lines(text: str) -> List[str]:
    """``str::lines``: splits on ``\\n``; a ``\\r`` right before a ``\\n`` is dropped,
    a final line without ``\\n`` keeps a trailing ``\\r``; no empty last line."""
    if not text:
        return []
    parts = text.split("\n")
    last = parts.pop()
    lines = [p[:-1] if p.endswith("\r") else p for p in parts]
    if last:
        lines.append(last)
    return lines


def fmt_fixed(value: float, decimals: int) -> str:
    """``format!("{:.N}", value)`` for an f64: the exact binary value rounded half
    to even (as ``%`` formatting does), ``NaN`` / ``inf`` / ``-inf`` spelt as Rust
    spells them."""
    if math.isnan(value):
        return "NaN"
    return "%.*f" % (decimals, value)


def round_half_away(value: float) -> float:
    """``f64::round``: halves round away from zero (Python's ``round`` goes to even)."""
    if not math.isfinite(value):
        return value
    whole = float(math.trunc(value))
    if abs(value - whole) >= 0.5:
        whole += math.copysign(1.0, value)
    return whole


def as_i64(value: float) -> int:
    """``value as i64``: truncates toward zero, saturates at the i64 bounds, NaN is 0."""
    if math.isnan(value):
        return 0
    if value >= 2.0**63:
        return I64_MAX
    if value < -(2.0**63):
        return I64_MIN
    return int(value)


def total_order_key(value: float) -> int:
    """A sort key ordering floats as ``f64::total_cmp`` does (-0.0 before 0.0,
    NaNs at the ends by sign)."""
    (bits,) = struct.unpack("<q", struct.pack("<d", value))
    return bits ^ (((bits >> 63) & 0xFFFFFFFFFFFFFFFF) >> 1)


def sum_left(values: Iterable[float]) -> float:
    """``iter().sum::<f64>()``: plain left-to-right addition, starting at -0.0 like
    Rust's float ``Sum`` (so an all-negative-zero sum stays -0.0)."""
    total = -0.0
    for v in values:
        total += v
    return total
