"""Each tagged function's diff against the pre-fix revision, found by qualified name."""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from tracer.gitio import GitError, file_at, resolve_revision
from tracer.scanner import TaggedScope
from tracer.sourcetext import split_lines, split_lines_keepends


class DiffStatus(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NEW = "new"  # the scope or its file did not exist at the revision
    MODULE = "module"  # a module's blocks: each function has its own diff
    UNAVAILABLE = "unavailable"  # no revision, a revision this clone lacks, or an old file that does not parse


@dataclass(frozen=True)
class ScopeDiff:
    status: DiffStatus
    diff: str = ""
    note: str = ""


@lru_cache(maxsize=4)  # the diffs ask for several scopes of one old file in a row
def scope_ranges(source: str) -> dict[str, tuple[int, int]]:
    """Every def's and class's range by qualname, read with Python's `ast` (SyntaxError where the
    source does not parse): the diffs need only ranges of old files, and importing libcst for them
    would cost the gate 170 ms. The rules (first decorator to the last line, qualnames as
    `__qualname__` without `<locals>`) are the tag walk's: tests/tracer/test_scanner_ranges.py
    checks that this reader and the scanner agree on real modules."""
    ranges: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                ranges.setdefault(name, (start, child.end_lineno or child.lineno))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return ranges


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", re.MULTILINE)


def _shift_hunks(diff: str, old_offset: int, new_offset: int) -> str:
    """Hunk headers in file line numbers rather than lines of the function."""
    return _HUNK.sub(
        lambda m: f"@@ -{int(m[1]) + old_offset}{m[2] or ''} +{int(m[3]) + new_offset}{m[4] or ''} @@", diff
    )


def scope_source(lines: list[str], start: int, end: int) -> str:
    """Lines `start` to `end` of a file split by tracer.sourcetext.split_lines."""
    return "\n".join(lines[start - 1 : end]) + "\n"


def diff_scopes(
    root: Path, revision: str, tagged: list[TaggedScope], current: dict[str, list[str]]
) -> dict[tuple[str, str], ScopeDiff]:
    """Diffs keyed by (path, qualname); when git cannot answer, every entry says why."""
    try:
        commit = resolve_revision(root, revision)
    except GitError as error:
        note = f"revision {revision} is not in this repository's history ({error})"
        return {(t.path, t.scope.qualname): ScopeDiff(DiffStatus.UNAVAILABLE, note=note) for t in tagged}
    short = commit[:12]
    diffs = {}
    old_files: dict[str, str | None] = {}
    for item in tagged:
        key = (item.path, item.scope.qualname)
        if item.path not in old_files:
            old_files[item.path] = file_at(root, commit, item.path)
        old = old_files[item.path]
        new_text = scope_source(current[item.path], item.scope.start_line, item.scope.end_line)
        if old is None:
            diffs[key] = ScopeDiff(DiffStatus.NEW, note=f"{item.path} did not exist at {short}")
            continue
        if item.scope.kind == "module":
            # A module's diff would repeat every function's: its blocks are shown as they are now.
            diffs[key] = ScopeDiff(DiffStatus.MODULE, note=f"module-level blocks; {item.path} existed at {short}")
            continue
        old_lines = split_lines(old)  # as Python numbers lines, like the scanner's ranges
        try:
            old_range = scope_ranges(old).get(item.scope.qualname)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            line = getattr(error, "lineno", None)
            where = f" (line {line})" if line else ""
            diffs[key] = ScopeDiff(DiffStatus.UNAVAILABLE, note=f"{item.path} does not parse at {short}{where}")
            continue
        if old_range is None:
            diffs[key] = ScopeDiff(DiffStatus.NEW, note=f"`{item.scope.qualname}` did not exist at {short}")
            continue
        old_text = scope_source(old_lines, *old_range)
        diff = "".join(
            difflib.unified_diff(
                split_lines_keepends(old_text),
                split_lines_keepends(new_text),
                fromfile=f"{item.path}@{short}",
                tofile=f"{item.path}",
            )
        )
        diff = _shift_hunks(diff, old_range[0] - 1, item.scope.start_line - 1)
        diffs[key] = ScopeDiff(DiffStatus.CHANGED if diff else DiffStatus.UNCHANGED, diff=diff)
    return diffs
