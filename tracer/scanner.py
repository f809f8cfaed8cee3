"""The tag scanner: finds bug-ID comments and docstrings and maps each to its scope.

This module is the scanner's front: the result types and text rules come from tracer.tags, the
prefilter from tracer.prefilter, the scan itself from tracer.outline (Python's `ast` and the
file's text), and for syntax newer than the running Python, which only libcst reads, from
tracer.syntax (imported only then: importing libcst costs ~175 ms). `scan_file` and
`scan_source` are the one place where a file's failure, whatever raised it, becomes that
file's finding. The scanned code is never imported."""

from __future__ import annotations

import gc
import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from tracer.prefilter import Prefilter, literal_prefix, literal_starts
from tracer.problems import Problem
from tracer.sourcetext import SourceDecodeError, decode_source
from tracer.tags import Change, FileScan, MalformedTag, Scope, TaggedScope, compile_id_pattern, match_tag

__all__ = [
    "Change",
    "FileScan",
    "IdTags",
    "MalformedTag",
    "Prefilter",
    "Scope",
    "TaggedScope",
    "all_tags",
    "compile_id_pattern",
    "iter_tagged",
    "literal_prefix",
    "literal_starts",
    "match_tag",
    "merge_blocks",
    "prefilter_for",
    "scan_file",
    "scan_source",
]

_MESSAGE_LIMIT = 200


@lru_cache(maxsize=8)
def prefilter_for(id_regex: re.Pattern[str]) -> Prefilter:
    return Prefilter(id_regex)


def scan_source(path: str, source: str, id_regex: re.Pattern[str]) -> FileScan:
    """Every tag of one file's text, grouped by scope. Never raises: a file that cannot be
    parsed or walked is a finding on that file."""
    return _guarded(path, lambda: _scan_text(path, source, id_regex))


def scan_file(path: str, data: bytes, id_regex: re.Pattern[str]) -> FileScan:
    """Every tag of one file's bytes, decoded as Python decodes them (BOM, PEP 263 cookie).
    Never raises: bytes that do not decode are a T002 finding, anything else a T001."""

    def scan() -> FileScan:
        try:
            source = decode_source(data)
        except SourceDecodeError as error:
            return FileScan(path, problems=(Problem(path, error.line, "T002", str(error)),))
        return _scan_text(path, source, id_regex)

    return _guarded(path, scan)


def _scan_text(path: str, source: str, id_regex: re.Pattern[str]) -> FileScan:
    outline = _module("tracer.outline")
    prefilter = prefilter_for(id_regex)
    collecting = gc.isenabled()
    gc.disable()  # a syntax tree holds no cycles: collecting while it is built only costs time (10-40% of a parse)
    try:
        try:
            tree = outline.parse(source)
        except outline.Unparsable as error:
            return FileScan(path, problems=(Problem(path, error.line, "T001", str(error)),))
        except SyntaxError:  # maybe syntax newer than this Python, which libcst may still read
            scan: FileScan = _module("tracer.syntax").scan_module(path, source, prefilter)
            return scan
        found: FileScan = outline.scan(path, source, tree, prefilter)
        return found
    finally:
        if collecting:
            gc.enable()


def _module(name: str) -> ModuleType:
    """tracer.outline or tracer.syntax, imported on first use (a warm scan needs neither, and
    tracer.syntax imports libcst). By sys.modules, not by `from tracer import syntax`: where
    something dropped it from sys.modules (pytester's inline runs do), a stale module would keep
    libcst classes that no longer match the parser's."""
    return importlib.import_module(name)


def _guarded(path: str, scan: Callable[[], FileScan]) -> FileScan:
    """The per-file guard: whatever one file raises (RecursionError or MemoryError from libcst,
    a bug of ours) is that file's finding, never the run's."""
    try:
        return scan()
    except Exception as error:  # noqa: BLE001 - see the docstring
        message = f"{type(error).__name__}: {error}"
        if len(message) > _MESSAGE_LIMIT:
            message = message[:_MESSAGE_LIMIT] + "..."
        import traceback  # only on this path: it costs an import on every command

        where = traceback.extract_tb(error.__traceback__)[-1:]  # where it broke, for a bug report
        if where:
            message += f" (in {Path(where[0].filename).name}:{where[0].lineno})"
        return FileScan(path, problems=(Problem(path, 1, "T001", f"cannot scan: {message}"),))


def iter_tagged(scans: Sequence[FileScan], bug_id: str) -> Iterator[TaggedScope]:
    """The scopes that carry a tag for `bug_id`, with only that bug's changes, sorted by path
    and line; a block that several of the bug's tags mark is listed once (`merge_blocks`)."""
    for scan in sorted(scans, key=lambda s: s.path):
        for tagged in scan.scopes:
            changes = merge_blocks(c for c in tagged.changes if bug_id in c.bug_ids)
            if changes:
                yield TaggedScope(tagged.path, tagged.scope, changes)


def merge_blocks(changes: Iterable[Change]) -> tuple[Change, ...]:
    """One change per block (its lines and kind), naming every tag that marks it: its first tag
    line, all of them in `tag_lines`, their IDs and their texts (each once, in line order)."""
    blocks: dict[tuple[int, int, str], list[Change]] = {}
    for change in sorted(changes, key=lambda c: (c.start_line, c.end_line, c.kind, c.tag_line)):
        blocks.setdefault((change.start_line, change.end_line, change.kind), []).append(change)
    merged = []
    for (start, end, kind), group in blocks.items():
        texts = "; ".join(dict.fromkeys(c.text for c in group if c.text))
        ids = tuple(dict.fromkeys(i for c in group for i in c.bug_ids))
        lines = tuple(sorted({line for c in group for line in (c.tag_lines or (c.tag_line,))}))
        merged.append(Change(start, end, kind, texts, ids, lines[0], lines))
    return tuple(merged)


@dataclass(frozen=True)
class IdTags:
    """Every place one ID is tagged: what `iter_tagged(scans, bug_id)` gives, for each ID."""

    bug_id: str
    scopes: tuple[TaggedScope, ...]


def all_tags(scans: Sequence[FileScan]) -> tuple[IdTags, ...]:
    """Every tag of every ID found, reports or not (orphans included), sorted by ID, then as
    `iter_tagged` sorts them."""
    by_id: dict[str, list[TaggedScope]] = {}
    for scan in sorted(scans, key=lambda s: s.path):
        for tagged in scan.scopes:
            for bug_id in dict.fromkeys(i for c in tagged.changes for i in c.bug_ids):
                changes = merge_blocks(c for c in tagged.changes if bug_id in c.bug_ids)
                by_id.setdefault(bug_id, []).append(TaggedScope(tagged.path, tagged.scope, changes))
    return tuple(IdTags(bug_id, tuple(by_id[bug_id])) for bug_id in sorted(by_id))
