"""Ingest (port of ``src/ingest/mod.rs``): walk a corpus folder in walkdir's order
(sorted by file-name bytes, depth first, symlinks not followed) and parse every
``.csv``, ``.json`` and ``.md`` file. One bad file never aborts the walk: it is kept
with the reason it was skipped.
"""

from __future__ import annotations

import csv
import os
import stat
from dataclasses import dataclass, field
from typing import List, Optional, Union

from . import csv_file, json_file, markdown

#: Files larger than this are skipped, never read (the Rust default, 16 MiB).
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024

Parsed = Union[csv_file.CsvData, json_file.JsonData, markdown.MarkdownData]


class IngestError(Exception):
    """The corpus root itself is missing, not a directory, or unreadable."""


@dataclass
class FileEntry:
    """One considered file: its ``/``-separated relative path, kind (csv | json | md),
    size, and the parsed data or the reason it was skipped."""

    path: str
    kind: str
    bytes: int
    data: Optional[Parsed] = None
    skipped: Optional[str] = None


@dataclass
class Skipped:
    """A file or walk entry that was not parsed, with the reason."""

    path: str
    reason: str


@dataclass
class CorpusStats:
    """Counts describing a corpus."""

    files: int = 0
    csv: int = 0
    json: int = 0
    markdown: int = 0
    bytes: int = 0
    parsed_ok: int = 0
    skipped: List[Skipped] = field(default_factory=list)
    ignored: int = 0


@dataclass
class Corpus:
    """Every considered file in walk order."""

    root: str
    files: List[FileEntry] = field(default_factory=list)
    ignored: int = 0
    walk_errors: List[Skipped] = field(default_factory=list)

    def stats(self) -> CorpusStats:
        """Counts per kind, bytes, parsed and skipped files."""
        s = CorpusStats(files=len(self.files), ignored=self.ignored)
        for f in self.files:
            if f.kind == "csv":
                s.csv += 1
            elif f.kind == "json":
                s.json += 1
            else:
                s.markdown += 1
            s.bytes += f.bytes
            if f.skipped is not None:
                s.skipped.append(Skipped(f.path, f.skipped))
            else:
                s.parsed_ok += 1
        s.skipped.extend(self.walk_errors)
        return s


def kind_of(name: str) -> Optional[str]:
    """``csv``, ``json`` or ``md`` from the extension (ASCII case-insensitive)."""
    dot = name.rfind(".")
    if dot < 0:
        return None
    ext = name[dot + 1:]
    if not ext.isascii():
        return None
    ext = ext.lower()
    return ext if ext in ("csv", "json", "md") else None


def check_root(root: str) -> None:
    """Raises :class:`IngestError` unless ``root`` is an existing directory."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise IngestError(
            f"corpus root {root} does not exist: pass an existing folder of CSV/JSON/Markdown "
            "files (e.g. mock-data/, or create one with `agentbench corpus --out DIR`)"
        ) from None
    except OSError as e:
        raise IngestError(f"cannot read corpus root {root}: {e} (check permissions)") from None
    if not stat.S_ISDIR(st.st_mode):
        raise IngestError(
            f"corpus root {root} is not a directory: pass the folder that contains the "
            "benchmark files"
        )


def _lossy(name: str) -> str:
    """``to_string_lossy`` of a file name read with surrogateescape."""
    return os.fsencode(name).decode("utf-8", "replace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def parse_bytes(kind: str, data: bytes) -> Union[Parsed, str]:
    """Parses one file's contents; a ``str`` result is the reason it was skipped."""
    if not data:
        return "empty file (0 bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text (invalid byte at offset {e.start})"
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        if kind == "csv":
            return csv_file.parse(text)
        if kind == "json":
            return json_file.parse(text)
        return markdown.parse(text)
    except (csv_file.CsvError, json_file.JsonError) as e:
        return str(e)
    except csv.Error as e:
        return f"CSV error: {e}"


def _load(path: str, kind: str, max_bytes: int) -> FileEntry:
    entry = FileEntry(path="", kind=kind, bytes=0)
    try:
        size = os.stat(path).st_size
    except OSError as e:
        entry.skipped = f"cannot stat file: {e}"
        return entry
    entry.bytes = size
    if size > max_bytes:
        entry.skipped = f"file is {size} bytes, over the max_file_bytes cap of {max_bytes}"
        return entry
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        entry.skipped = f"cannot read file: {e}"
        return entry
    entry.bytes = len(data)
    parsed = parse_bytes(kind, data)
    if isinstance(parsed, str):
        entry.skipped = parsed
    else:
        entry.data = parsed
    return entry


def _walk(corpus: Corpus, directory: str, rel: List[str], max_bytes: int) -> None:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as e:
        corpus.walk_errors.append(
            Skipped("/".join(rel), f"cannot read directory entry: IO error for operation on {directory}: {e}")
        )
        return
    for entry in entries:
        parts = rel + [_lossy(entry.name)]
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            _walk(corpus, entry.path, parts, max_bytes)
            continue
        kind = kind_of(_lossy(entry.name))
        if kind is None:
            corpus.ignored += 1
            continue
        path = "/".join(parts)
        if not _is_utf8(entry.name):
            corpus.files.append(FileEntry(
                path, kind, 0,
                skipped="file name is not UTF-8 (shown with U+FFFD replacements): not read",
            ))
        elif entry.is_symlink():
            corpus.files.append(FileEntry(path, kind, 0, skipped="symbolic link: not followed"))
        elif not entry.is_file(follow_symlinks=False):
            corpus.files.append(FileEntry(path, kind, 0, skipped="not a regular file"))
        else:
            loaded = _load(entry.path, kind, max_bytes)
            loaded.path = path
            corpus.files.append(loaded)


def ingest(root: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Corpus:
    """Walks ``root`` and parses every considered file. Raises :class:`IngestError`
    only for the root itself."""
    check_root(root)
    if csv.field_size_limit() < max_file_bytes:
        csv.field_size_limit(max_file_bytes)  # csv-core has no field limit
    corpus = Corpus(root=root)
    _walk(corpus, root, [], max_file_bytes)
    return corpus
