"""Each tagged function's diff against the pre-fix revision, found by qualified name."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from tracer.gitio import GitError, file_at, resolve_revision
from tracer.scanner import TaggedScope, find_scope
from tracer.sourcetext import split_lines, split_lines_keepends


@dataclass(frozen=True)
class ScopeDiff:
    status: str  # "changed", "unchanged", "new", "module" or "unavailable"
    diff: str = ""
    note: str = ""


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", re.MULTILINE)


def _shift_hunks(diff: str, old_offset: int, new_offset: int) -> str:
    """Hunk headers in file line numbers rather than lines of the function."""
    return _HUNK.sub(
        lambda m: f"@@ -{int(m[1]) + old_offset}{m[2] or ''} +{int(m[3]) + new_offset}{m[4] or ''} @@", diff
    )


def scope_source(lines: list[str], start: int, end: int) -> str:
    """Lines `start` to `end` of a file split by tracer.sourcetext.split_lines."""
    return "\n".join(lines[start - 1 : end]) + "\n"


def diff_scopes(root: Path, revision: str, tagged: list[TaggedScope], current: dict[str, list[str]]) -> dict[tuple[str, str], ScopeDiff]:
    """Diffs keyed by (path, qualname); when git cannot answer, every entry says why."""
    try:
        commit = resolve_revision(root, revision)
    except GitError as error:
        note = f"revision {revision} is not in this repository's history ({error})"
        return {(t.path, t.scope.qualname): ScopeDiff("unavailable", note=note) for t in tagged}
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
            diffs[key] = ScopeDiff("new", note=f"{item.path} did not exist at {short}")
            continue
        if item.scope.kind == "module":
            # A module's diff would repeat every function's: its blocks are shown as they are now.
            diffs[key] = ScopeDiff("module", note=f"module-level blocks; {item.path} existed at {short}")
            continue
        old_lines = split_lines(old)  # as Python numbers lines, like the scanner's ranges
        old_range = find_scope(old, item.scope.qualname)
        if old_range is None:
            diffs[key] = ScopeDiff("new", note=f"`{item.scope.qualname}` did not exist at {short}")
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
        diffs[key] = ScopeDiff("changed" if diff else "unchanged", diff=diff)
    return diffs
