"""The tag scanner: finds bug-ID comments and docstrings and maps each to its scope.

This module is the scanner's front: the result types and text rules come from tracer.tags, the
libcst walk from tracer.syntax (imported only when a file must be parsed: importing libcst costs
~175 ms). `scan_file` and `scan_source` are the one place where a file's failure, whatever
raised it, becomes that file's finding. The scanned code is never imported."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from tracer.problems import Problem
from tracer.sourcetext import SourceDecodeError, decode_source
from tracer.tags import (
    Change,
    FileScan,
    MalformedTag,
    Prefilter,
    Scope,
    TaggedScope,
    compile_id_pattern,
    literal_prefix,
    literal_starts,
    match_tag,
)

__all__ = [
    "Change", "FileScan", "IdTags", "MalformedTag", "Prefilter", "Scope", "TaggedScope", "all_tags",
    "compile_id_pattern", "iter_tagged", "literal_prefix", "literal_starts", "match_tag",
    "prefilter_for", "scan_file", "scan_source",
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
    scan: FileScan = _syntax().scan_module(path, source, prefilter_for(id_regex))
    return scan


def _syntax() -> ModuleType:
    """tracer.syntax, imported on first use (it imports libcst). By sys.modules, not by
    `from tracer import syntax`: where something dropped it from sys.modules (pytester's inline
    runs do), a stale module would keep libcst classes that no longer match the parser's."""
    return importlib.import_module("tracer.syntax")


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
    """The scopes that carry a tag for `bug_id`, with only that bug's changes, sorted by path and line."""
    for scan in sorted(scans, key=lambda s: s.path):
        for tagged in scan.scopes:
            changes = tuple(c for c in tagged.changes if bug_id in c.bug_ids)
            if changes:
                yield TaggedScope(tagged.path, tagged.scope, changes)


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
                changes = tuple(c for c in tagged.changes if bug_id in c.bug_ids)
                by_id.setdefault(bug_id, []).append(TaggedScope(tagged.path, tagged.scope, changes))
    return tuple(IdTags(bug_id, tuple(by_id[bug_id])) for bug_id in sorted(by_id))
