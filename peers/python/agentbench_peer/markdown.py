"""Markdown parsing (port of ``src/ingest/markdown.rs``): headings, GFM tables and
list items, with the section (closest preceding heading) of each.

The Rust side reads pulldown-cmark's event stream; Python's standard library has no
CommonMark parser, so :func:`events` produces the same events from a compact block
and inline parser covering the CommonMark subset benchmark reports use: ATX and
setext headings, bullet and ordered lists (nested by indentation, lazy
continuation lines), GFM tables (cells padded / cut to the header's count, ``\\|``
escapes), fenced and indented code, block quotes, HTML blocks, thematic breaks;
inline code spans, backslash escapes, entities, ``*``/``_`` emphasis (CommonMark's
delimiter rules), inline links and images, autolinks, raw HTML, hard and soft
breaks. Not covered: reference-style links and link reference definitions,
footnotes and other extensions (disabled on the Rust side too, except tables).
"""

from __future__ import annotations

import html.entities
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from .rustcompat import ascii_lower, trim

Event = Tuple  # ("h+", level) ("h-",) ("t+",) ("t-",) ("th-",) ("tr-",) ("c+",) ("c-",)
# ("i+",) ("i-",) ("text", str) ("soft",) ("hard",)


@dataclass
class Heading:
    """A heading and its level (1-6)."""

    level: int
    text: str


@dataclass
class MdTable:
    """A table (GFM syntax) and the heading it sits under."""

    section: Optional[str]
    header: List[str] = field(default_factory=list)
    rows: List[List[str]] = field(default_factory=list)

    def is_metric_value(self) -> bool:
        """Two or more columns and a header starting ``Metric | Value``."""
        return (
            len(self.header) >= 2
            and ascii_lower(trim(self.header[0])) == "metric"
            and ascii_lower(trim(self.header[1])) == "value"
        )


@dataclass
class MdBullet:
    """A list item and the heading it sits under."""

    section: Optional[str]
    text: str


@dataclass
class MarkdownData:
    """What a parsed Markdown file holds, in document order."""

    headings: List[Heading] = field(default_factory=list)
    tables: List[MdTable] = field(default_factory=list)
    bullets: List[MdBullet] = field(default_factory=list)


def parse(text: str) -> MarkdownData:
    """Collects headings, tables and list items exactly as the Rust event handler does."""
    data = MarkdownData()
    heading: Optional[List] = None  # [level, text]
    section: Optional[str] = None
    table: Optional[MdTable] = None
    row: List[str] = []
    cell: Optional[List[str]] = None
    items: List[List[str]] = []
    for ev in events(text):
        kind = ev[0]
        if kind == "text":
            if cell is not None:
                cell.append(ev[1])
            elif heading is not None:
                heading[1].append(ev[1])
            elif items:
                items[-1].append(ev[1])
        elif kind in ("soft", "hard"):
            if items:
                items[-1].append(" ")
        elif kind == "h+":
            heading = [ev[1], []]
        elif kind == "h-":
            if heading is not None:
                t = trim("".join(heading[1]))
                section = t
                data.headings.append(Heading(heading[0], t))
                heading = None
        elif kind == "t+":
            table = MdTable(section=section)
        elif kind == "t-":
            if table is not None:
                data.tables.append(table)
                table = None
        elif kind == "c+":
            cell = []
        elif kind == "c-":
            if cell is not None:
                row.append(trim("".join(cell)))
                cell = None
        elif kind == "th-":
            if table is not None:
                table.header, row = row, []
        elif kind == "tr-":
            if table is not None:
                table.rows.append(row)
                row = []
        elif kind == "i+":
            items.append([])
        elif kind == "i-":
            if items:
                t = trim("".join(items.pop()))
                if t:
                    data.bullets.append(MdBullet(section=section, text=t))
    return data


# ---------------------------------------------------------------------------
# Block structure

_ATX = re.compile(r"(#{1,6})(?:[ \t]+(.*?))?[ \t]*\Z")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*\Z")
_THEMATIC = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})\Z")
_SETEXT = re.compile(r"(=+|-+)[ \t]*\Z")
_BULLET = re.compile(r"([-+*])([ \t]|\Z)")
_ORDERED = re.compile(r"([0-9]{1,9})([.)])([ \t]|\Z)")
_FENCE = re.compile(r"(`{3,}|~{3,})(.*)\Z")
_DELIM_CELL = re.compile(r":?-+:?\Z")
_HTML_BLOCK_1 = re.compile(r"<(?:script|pre|style|textarea)(?:[ \t>]|\Z)", re.I)
_HTML_BLOCK_6 = re.compile(
    r"</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|"
    r"colgroup|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|"
    r"frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|"
    r"menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|"
    r"tbody|td|tfoot|th|thead|title|tr|track|ul)(?:[ \t>]|/>|\Z)",
    re.I,
)
_HTML_BLOCK_7 = re.compile(
    r"(?:<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*\s*/?>"
    r"|</[A-Za-z][A-Za-z0-9-]*\s*>)[ \t]*\Z"
)
_HTML_ENDS = (
    (re.compile(r"<(?:script|pre|style|textarea)(?:[ \t>]|\Z)", re.I),
     re.compile(r"</(?:script|pre|style|textarea)>", re.I)),
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<\?"), re.compile(r"\?>")),
    (re.compile(r"<![A-Za-z]"), re.compile(r">")),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>")),
)


def _expand_indent(line: str) -> Tuple[int, str]:
    """Width of the leading spaces/tabs (tab stops of 4) and the rest of the line."""
    col = 0
    i = 0
    while i < len(line) and line[i] in " \t":
        col = col + 4 - col % 4 if line[i] == "\t" else col + 1
        i += 1
    return col, line[i:]


def _strip_cols(line: str, cols: int) -> str:
    """Removes ``cols`` columns of leading indentation (a tab may be split)."""
    col = 0
    i = 0
    while i < len(line) and col < cols and line[i] in " \t":
        width = 4 - col % 4 if line[i] == "\t" else 1
        if col + width > cols:
            return " " * (col + width - cols) + line[i + 1:]
        col += width
        i += 1
    return line[i:]


def _is_blank(line: str) -> bool:
    return not line.strip(" \t")


def _split_row(line: str) -> List[str]:
    """Cells of a table row: split on unescaped pipes, outer pipes optional;
    ``\\|`` becomes ``|``."""
    s = line.strip(" \t")
    if s.startswith("|"):
        s = s[1:]
    cells: List[str] = []
    cur: List[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] == "|":
            cur.append("|")
            i += 2
            continue
        if c == "|":
            cells.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    tail = "".join(cur)
    if tail.strip(" \t") or not cells:
        cells.append(tail)
    return cells


def _list_marker(rest: str, interrupts_paragraph: bool) -> Optional[Tuple[int, str]]:
    """(content offset from the marker's start, content) when ``rest`` starts a list item."""
    m = _BULLET.match(rest)
    if m is None:
        m = _ORDERED.match(rest)
        if m is None:
            return None
        if interrupts_paragraph and m.group(1) != "1":
            return None
    marker_width = m.end(m.lastindex - 1) if m.lastindex else m.end()
    after = rest[marker_width:]
    if _is_blank(after):
        if interrupts_paragraph:
            return None
        return marker_width + 1, ""
    spaces, content = _expand_indent(after)
    if spaces > 4:
        return marker_width + 1, _strip_cols(after, 1)
    return marker_width + spaces, content


@dataclass
class _Container:
    kind: str  # "item" or "quote"
    indent: int = 0  # content column offset for items


class _BlockParser:
    """Line-by-line CommonMark block parser producing pulldown-cmark-like events."""

    def __init__(self) -> None:
        self.out: List[Event] = []
        self.stack: List[_Container] = []
        self.leaf: Optional[str] = None  # para | table | fence | icode | html
        self.para: List[str] = []
        self.fence: Tuple[str, int] = ("", 0)
        self.fence_indent = 0
        self.table_cols = 0
        self.html_end: Optional[re.Pattern] = None

    # -- leaves ------------------------------------------------------------
    def close_leaf(self) -> None:
        if self.leaf == "para":
            self.out.extend(inline_events("\n".join(self.para).strip(" \t")))
        elif self.leaf == "table":
            self.out.append(("t-",))
        self.leaf = None
        self.para = []

    def close_containers(self, keep: int) -> None:
        self.close_leaf()
        while len(self.stack) > keep:
            if self.stack.pop().kind == "item":
                self.out.append(("i-",))

    def table_row(self, line: str, head: bool) -> None:
        cells = _split_row(line)[: self.table_cols]
        cells += [""] * (self.table_cols - len(cells))
        for c in cells:
            self.out.append(("c+",))
            self.out.extend(inline_events(c.strip(" \t")))
            self.out.append(("c-",))
        self.out.append(("th-",) if head else ("tr-",))

    # -- one line ----------------------------------------------------------
    def feed(self, line: str) -> None:
        matched, rest = self.match_containers(line)
        all_matched = matched == len(self.stack)
        if self.leaf == "fence" and all_matched:
            self.fence_line(rest)
            return
        if self.leaf == "html" and all_matched:
            self.html_line(rest)
            return
        if not all_matched:
            # A list item may interrupt a paragraph with any number (or empty) when
            # it would continue an enclosing list.
            in_list = any(c.kind == "item" for c in self.stack[matched:])
            if self.leaf == "para" and not _is_blank(rest) and not self.starts_block(rest, not in_list):
                self.para.append(rest.lstrip(" \t"))  # lazy continuation
                return
            self.close_containers(matched)
        self.open_blocks(rest)

    def match_containers(self, line: str) -> Tuple[int, str]:
        rest = line
        for n, c in enumerate(self.stack):
            indent, body = _expand_indent(rest)
            if c.kind == "quote":
                if indent < 4 and body.startswith(">"):
                    rest = body[1:]
                    if rest[:1] in (" ", "\t"):
                        rest = _strip_cols(rest, 1)
                    continue
                return n, rest
            if _is_blank(rest):
                rest = ""
                continue
            if indent >= c.indent:
                rest = _strip_cols(rest, c.indent)
                continue
            return n, rest
        return len(self.stack), rest

    def starts_block(self, rest: str, in_para: bool) -> bool:
        """Whether ``rest`` would interrupt a paragraph."""
        indent, body = _expand_indent(rest)
        if indent >= 4:
            return False
        return bool(
            _ATX.match(body)
            or _THEMATIC.match(body)
            or _FENCE.match(body) and not ("`" in _FENCE.match(body).group(2) and body[0] == "`")
            or body.startswith(">")
            or _list_marker(body, in_para)
            or _HTML_BLOCK_1.match(body)
            or any(start.match(body) for start, _ in _HTML_ENDS)
            or _HTML_BLOCK_6.match(body)
        )

    def open_blocks(self, rest: str) -> None:
        while True:
            indent, body = _expand_indent(rest)
            if _is_blank(rest):
                if self.leaf in ("para", "table", "html"):
                    self.close_leaf()
                elif self.leaf == "icode":
                    self.out.append(("text", "\n"))
                return
            if self.leaf == "icode" and indent < 4:
                self.leaf = None
            if indent >= 4 and self.leaf not in ("para", "table"):
                self.leaf = "icode"
                self.out.append(("text", _strip_cols(rest, 4) + "\n"))
                return
            if self.leaf == "para" and indent < 4:
                setext = _SETEXT.match(body)
                if setext and len(self.para) >= 1:
                    level = 1 if body[0] == "=" else 2
                    text = "\n".join(self.para).strip(" \t")
                    self.leaf, self.para = None, []
                    self.out.append(("h+", level))
                    self.out.extend(inline_events(text))
                    self.out.append(("h-",))
                    return
                if len(self.para) == 1 and "|" in body and self.try_table(body):
                    return
            if indent < 4 and self.open_one(body, indent):
                if self._pending_rest is None:
                    return
                rest = self._pending_rest  # a container opened: parse its content
                continue
            if self.leaf == "table":
                if self.starts_block(rest, True):
                    self.close_leaf()
                    continue
                self.table_row(body, head=False)
                return
            if self.leaf == "para":
                self.para.append(body)
                return
            self.close_leaf()
            self.leaf = "para"
            self.para = [body]
            return

    def try_table(self, delim: str) -> bool:
        cells = _split_row(delim)
        if not all(_DELIM_CELL.match(c.strip(" \t")) for c in cells):
            return False
        header = _split_row(self.para[0])
        if len(header) != len(cells):
            return False
        head_line = self.para[0]
        self.leaf, self.para = None, []
        self.leaf = "table"
        self.table_cols = len(cells)
        self.out.append(("t+",))
        self.table_row(head_line, head=True)
        return True

    _pending_rest: Optional[str] = None

    def open_one(self, body: str, indent: int) -> bool:
        """Opens one block at the start of ``body``; sets ``_pending_rest`` to what is
        left for nested blocks (containers) or None (leaf fully handled)."""
        in_para = self.leaf == "para"
        self._pending_rest = None
        m = _ATX.match(body)
        if m:
            self.close_leaf()
            content = m.group(2) or ""
            content = _ATX_CLOSE.sub("", content) if content.strip("# \t") or not content else ""
            self.out.append(("h+", len(m.group(1))))
            self.out.extend(inline_events(content.strip(" \t")))
            self.out.append(("h-",))
            return True
        m = _FENCE.match(body)
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            self.close_leaf()
            self.leaf = "fence"
            self.fence = (m.group(1)[0], len(m.group(1)))
            self.fence_indent = indent
            return True
        if _THEMATIC.match(body):
            self.close_leaf()
            return True
        if body.startswith(">"):
            self.close_leaf()
            self.stack.append(_Container("quote"))
            after = body[1:]
            self._pending_rest = _strip_cols(after, 1) if after[:1] in (" ", "\t") else after
            return True
        marker = _list_marker(body, in_para)
        if marker:
            offset, content = marker
            self.close_leaf()
            self.stack.append(_Container("item", indent + offset))
            self.out.append(("i+",))
            self._pending_rest = content or None
            return True
        for start, end in _HTML_ENDS:
            if start.match(body):
                self.close_leaf()
                self.leaf, self.html_end = "html", end
                self.html_line(body)
                return True
        if _HTML_BLOCK_6.match(body) or (not in_para and _HTML_BLOCK_7.match(body)):
            self.close_leaf()
            self.leaf, self.html_end = "html", None
            return True
        return False

    def fence_line(self, rest: str) -> None:
        indent, body = _expand_indent(rest)
        ch, n = self.fence
        if indent < 4 and body.startswith(ch * n) and not body.strip(" \t").strip(ch):
            self.leaf = None
            return
        self.out.append(("text", _strip_cols(rest, self.fence_indent) + "\n"))

    def html_line(self, rest: str) -> None:
        if self.html_end is None:
            if _is_blank(rest):
                self.leaf = None
            return
        if self.html_end.search(rest):
            self.leaf = None

    def finish(self) -> List[Event]:
        self.close_containers(0)
        return self.out


_LINE_END = re.compile(r"\r\n|\n|\r")


def events(text: str) -> Iterator[Event]:
    """The event stream of ``text`` (the subset :func:`parse` reads)."""
    parser = _BlockParser()
    for line in _LINE_END.split(text):
        parser.feed(line.replace("\x00", "\ufffd"))
    return iter(parser.finish())


# ---------------------------------------------------------------------------
# Inlines

_ESCAPABLE = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL = re.compile(
    r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)>"
)
_INLINE_HTML = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s\"'=<>`]+|'[^']*'|\"[^\"]*\"))?)*\s*/?>"
    r"|/[A-Za-z][A-Za-z0-9-]*\s*>|!--(?:>|->|[\s\S]*?-->)|\?[\s\S]*?\?>|![A-Za-z][^>]*>|!\[CDATA\[[\s\S]*?\]\]>)"
)
_LINK_TAIL = re.compile(
    r"\(\s*(?:<[^<>\n]*>|[^\s()<]*(?:\([^\s()]*\)[^\s()<]*)*)"
    r"(?:\s+(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?\s*\)"
)


def _is_punct(c: str) -> bool:
    return c in _ESCAPABLE or unicodedata.category(c)[0] in "PS"


def _is_space(c: str) -> bool:
    return c in " \t\n\x0b\x0c\r" or unicodedata.category(c) == "Zs"


@dataclass
class _Delim:
    char: str
    count: int
    orig: int
    can_open: bool
    can_close: bool
    index: int  # position in the node list


def _entity(m: "re.Match[str]") -> Optional[str]:
    if m.group(1) is not None or m.group(2) is not None:
        code = int(m.group(1), 10) if m.group(1) is not None else int(m.group(2), 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return "\ufffd"
        return chr(code)
    return html.entities.html5.get(m.group(3) + ";")


def _code_span(s: str, i: int) -> Optional[Tuple[str, int]]:
    """(content, end) of the code span opening at ``s[i]``, or None."""
    j = i
    while j < len(s) and s[j] == "`":
        j += 1
    n = j - i
    k = j
    while True:
        k = s.find("`" * n, k)
        if k < 0:
            return None
        e = k
        while e < len(s) and s[e] == "`":
            e += 1
        if e - k == n:
            content = s[j:k].replace("\n", " ")
            if len(content) >= 2 and content[0] == " " and content[-1] == " " and content.strip(" "):
                content = content[1:-1]
            return content, e
        k = e


def _find_bracket_close(s: str, i: int) -> int:
    """Index of the ``]`` matching the ``[`` at ``s[i]``, or -1."""
    depth = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "`":
            span = _code_span(s, j)
            if span:
                j = span[1]
                continue
            while j < len(s) and s[j] == "`":
                j += 1
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def inline_events(s: str) -> List[Event]:
    """Text / code / break events of one inline run (emphasis markers removed)."""
    nodes: List[List] = []  # [kind, text]; kind: text | code | soft | hard | delim
    delims: List[_Delim] = []
    buf: List[str] = []

    def flush() -> None:
        if buf:
            nodes.append(["text", "".join(buf)])
            buf.clear()

    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if i + 1 < n and s[i + 1] in _ESCAPABLE:
                buf.append(s[i + 1])
                i += 2
                continue
            if i + 1 < n and s[i + 1] == "\n":
                flush()
                nodes.append(["hard", ""])
                i += 2
                while i < n and s[i] in " \t":
                    i += 1
                continue
            buf.append(c)
            i += 1
            continue
        if c == "\n":
            trailing = len("".join(buf)) - len("".join(buf).rstrip(" "))
            text = "".join(buf).rstrip(" ")
            buf.clear()
            if text:
                buf.append(text)
            flush()
            nodes.append(["hard" if trailing >= 2 else "soft", ""])
            i += 1
            while i < n and s[i] in " \t":
                i += 1
            continue
        if c == "`":
            span = _code_span(s, i)
            if span:
                flush()
                nodes.append(["code", span[0]])
                i = span[1]
            else:
                j = i
                while j < n and s[j] == "`":
                    j += 1
                buf.append(s[i:j])
                i = j
            continue
        if c == "&":
            m = _ENTITY.match(s, i)
            value = _entity(m) if m else None
            if value is not None:
                buf.append(value)
                i = m.end()
                continue
            buf.append(c)
            i += 1
            continue
        if c == "<":
            m = _AUTOLINK.match(s, i) or _EMAIL.match(s, i)
            if m:
                buf.append(m.group(1))
                i = m.end()
                continue
            m = _INLINE_HTML.match(s, i)
            if m:
                flush()
                i = m.end()
                continue
            buf.append(c)
            i += 1
            continue
        if c == "[" or (c == "!" and i + 1 < n and s[i + 1] == "["):
            start = i + 1 if c == "!" else i
            close = _find_bracket_close(s, start)
            tail = _LINK_TAIL.match(s, close + 1) if close > 0 else None
            if tail:
                flush()
                for ev in inline_events(s[start + 1:close]):
                    nodes.append([ev[0], ev[1] if len(ev) > 1 else ""])
                i = tail.end()
                continue
            buf.append(c)
            i += 1
            continue
        if c in "*_":
            j = i
            while j < n and s[j] == c:
                j += 1
            before = s[i - 1] if i > 0 else " "
            after = s[j] if j < n else " "
            left = not _is_space(after) and (
                not _is_punct(after) or _is_space(before) or _is_punct(before)
            )
            right = not _is_space(before) and (
                not _is_punct(before) or _is_space(after) or _is_punct(after)
            )
            if c == "*":
                can_open, can_close = left, right
            else:
                can_open = left and (not right or _is_punct(before))
                can_close = right and (not left or _is_punct(after))
            flush()
            delims.append(_Delim(c, j - i, j - i, can_open, can_close, len(nodes)))
            nodes.append(["delim", ""])
            i = j
            continue
        buf.append(c)
        i += 1
    flush()
    _process_emphasis(delims)
    for d in delims:
        nodes[d.index] = ["text", d.char * d.count]
    out: List[Event] = []
    for kind, text in nodes:
        if kind in ("text", "code"):
            if text:
                out.append(("text", text))
        elif kind in ("soft", "hard"):
            out.append((kind,))
    return out


def _process_emphasis(delims: List[_Delim]) -> None:
    """CommonMark's delimiter algorithm: reduces ``count`` of matched runs in place."""
    active = list(delims)
    ci = 0
    while ci < len(active):
        closer = active[ci]
        if not closer.can_close or closer.count == 0:
            ci += 1
            continue
        oi = ci - 1
        found = -1
        while oi >= 0:
            opener = active[oi]
            if opener.char == closer.char and opener.can_open and opener.count > 0:
                odd = (opener.can_close or closer.can_open) and (
                    (opener.orig + closer.orig) % 3 == 0
                    and not (opener.orig % 3 == 0 and closer.orig % 3 == 0)
                )
                if not odd:
                    found = oi
                    break
            oi -= 1
        if found < 0:
            if not closer.can_open:
                del active[ci]
            else:
                ci += 1
            continue
        opener = active[found]
        use = 2 if opener.count >= 2 and closer.count >= 2 else 1
        opener.count -= use
        closer.count -= use
        del active[found + 1:ci]
        ci = found + 1
        if opener.count == 0:
            del active[found]
            ci -= 1
        if closer.count == 0:
            del active[ci]
