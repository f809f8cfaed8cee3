"""The change blocks of a fix, and what putting one back to its pre-fix form gives.

A block is one run of changed lines in a tagged scope's diff against its pre-fix form (runs
split only by blank or comment lines are one block). Its pre-fix form comes from git, or, where
this clone lacks the revision, from the diff committed in the bug's document. Putting a block
back must leave the module valid Python: where the block alone does not parse, its whole scope
is put back; where the scope is new, it is removed (or, if nothing may stand empty there,
replaced by `pass`). Nothing here runs or imports the code: it is parsed with `ast` only."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tracer.diffs import DiffStatus, ScopeDiff, scope_ranges
from tracer.sourcetext import split_lines_keepends
from tracer.tags import TaggedScope

PreFixKind = Literal["scope", "file", "new scope", "new file", "unavailable"]


@dataclass(frozen=True)
class PreFix:
    """A tagged scope's pre-fix form: its lines (with their ends), or, for a module, the file's."""

    kind: PreFixKind
    lines: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ChangeBlock:
    path: str
    qualname: str
    start_line: int  # current lines; end_line = start_line - 1 for lines the fix deleted (put back before start_line)
    end_line: int
    old: tuple[str, ...]  # the pre-fix lines that replace start_line..end_line
    scope: tuple[int, int]  # the scope's current range, for the fallbacks
    scope_old: tuple[str, ...] | None = None  # the whole scope's pre-fix form, where it had one
    new_scope: bool = False  # the scope is new: its pre-fix form is its absence
    problem: str = ""  # why it has no pre-fix form
    edit: tuple[int, int] | None = None  # the lines `old` replaces, where not start_line..end_line


@dataclass(frozen=True)
class Revert:
    """The file's text with one block put back, and how; or why no such text parses."""

    text: str | None
    how: str = ""
    problem: str = ""


# Pre-fix forms


def pre_fix_from_git(old_file: str | None, tagged: TaggedScope, short: str, current: Sequence[str] = ()) -> PreFix:
    """The pre-fix form of a scope, from the file's text at the pre-fix revision (and `current`,
    the file's lines now, where that text does not parse)."""
    if old_file is None:
        return PreFix("new file", note=f"{tagged.path} did not exist at {short}")
    if tagged.scope.kind == "module":
        return PreFix("file", tuple(split_lines_keepends(old_file)))
    old_lines = split_lines_keepends(old_file)
    try:
        found = scope_ranges(old_file).get(tagged.scope.qualname)
    except Exception:  # noqa: BLE001 - the fix may have fixed a file that did not parse: match it line by line
        return PreFix(
            "scope",
            tuple(_aligned(old_lines, current, tagged.scope.start_line, tagged.scope.end_line)),
            note=f"{tagged.path} does not parse at {short}: `{tagged.scope.qualname}` matched line by line",
        )
    if found is None:
        return PreFix("new scope", note=f"`{tagged.scope.qualname}` did not exist at {short}")
    return PreFix("scope", tuple(old_lines[found[0] - 1 : found[1]]))


def _aligned(old: Sequence[str], new: Sequence[str], start: int, end: int) -> Sequence[str]:
    """The old lines that lines `start`..`end` of the new file stand in place of, by a line diff."""
    a = [line.rstrip("\r\n") for line in old]
    b = [line.rstrip("\r\n") for line in new]
    first, last = len(a), 0
    low, high = start - 1, end  # the new lines, 0-based, end excluded
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if j1 == j2:  # old lines with nothing in their place: the scope's if they stood inside it
            if low < j1 < high:
                first, last = min(first, i1), max(last, i2)
        elif j1 < high and j2 > low:
            if tag == "equal":
                first, last = min(first, i1 + max(0, low - j1)), max(last, i1 + min(j2, high) - j1)
            else:
                first, last = min(first, i1), max(last, i2)
    return old[first:last] if first < last else []


def pre_fix_from_diff(diff: ScopeDiff | None, tagged: TaggedScope, current: Sequence[str]) -> PreFix:
    """The pre-fix form of a scope, from the diff the bug's document committed for it."""
    scope = tagged.scope
    if diff is None:
        return PreFix("unavailable", note=f"the committed document has no diff of `{scope.qualname}`")
    if diff.status is DiffStatus.NEW:
        kind: PreFixKind = "new scope" if diff.note.startswith("`") else "new file"
        return PreFix(kind, note=diff.note)
    if diff.status is DiffStatus.UNCHANGED and scope.kind != "module":
        return PreFix("scope", tuple(current[scope.start_line - 1 : scope.end_line]))
    if diff.status is not DiffStatus.CHANGED or scope.kind == "module":
        return PreFix("unavailable", note="the committed document keeps no diff of module-level code")
    old = old_from_diff(diff.diff, current, scope.start_line, scope.end_line)
    if isinstance(old, str):
        return PreFix(
            "unavailable",
            note=f"the committed diff of `{scope.qualname}` does not fit the current code ({old}); "
            "render the document where the pre-fix revision is available",
        )
    return PreFix("scope", old)


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def old_from_diff(diff: str, current: Sequence[str], start: int, end: int) -> tuple[str, ...] | str:
    """The old side of a unified diff whose new side is lines `start`..`end` of `current` (hunk
    headers in file lines), or what does not fit. A blank context line that lost its space (an
    editor trimmed it) still counts as context."""
    old: list[str] = []
    position = start  # the next current line not yet taken
    in_hunk = False
    rows = diff.split("\n")
    if rows and rows[-1] == "":
        rows.pop()  # the end of the last line, not a line
    for number, raw in enumerate(rows, start=1):
        hunk = _HUNK.match(raw)
        if hunk is not None:
            count = int(hunk[4]) if hunk[4] is not None else 1
            first = int(hunk[3]) + (0 if count else 1)
            if not position <= first <= end + 1:
                return f"hunk at diff line {number} is outside lines {start}-{end}"
            old += current[position - 1 : first - 1]
            position, in_hunk = first, True
            continue
        if not in_hunk or raw.startswith("\\"):
            continue
        mark, text = raw[:1], raw[1:]
        if mark in (" ", "", "+"):
            if position > end or current[position - 1].rstrip() != text.rstrip():
                return f"diff line {number} is not line {position} of the code"
            if mark != "+":
                old.append(current[position - 1])
            position += 1
        elif mark == "-":
            old.append(text + "\n")
        else:
            return f"diff line {number} is not a diff line"
    old += current[position - 1 : end]
    return tuple(old)


# Blocks


def _groups(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int, int, int]]:
    """(i1, i2, j1, j2) of each run of changed lines. Runs split by unchanged lines stay apart,
    blank ones too: a tag ends at a blank line, and so does the change it names."""
    a = [line.rstrip("\r\n") for line in old]
    b = [line.rstrip("\r\n") for line in new]
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in opcodes if tag != "equal"]


def _within(start: int, end: int, outer: tuple[int, int]) -> bool:
    return outer[0] <= start <= outer[1] and outer[0] <= max(start, end) <= outer[1]


def change_blocks(
    tagged: Sequence[TaggedScope], current: Mapping[str, Sequence[str]], pre_fix: Mapping[tuple[str, str], PreFix]
) -> list[ChangeBlock]:
    """Every change block of the tagged scopes, by path and line. `current` holds each file's
    lines with their ends. A change inside a tagged scope nested in another belongs to the inner one."""
    blocks: dict[tuple[str, int, int], ChangeBlock] = {}
    for item in tagged:
        scope, lines = item.scope, current[item.path]
        span = (scope.start_line, scope.end_line)
        before = pre_fix[(item.path, scope.qualname)]
        if before.kind == "unavailable":
            found = [ChangeBlock(item.path, scope.qualname, *span, (), span, problem=before.note)]
        elif scope.kind == "module":
            found = _module_blocks(item, lines, before)
        elif before.kind != "scope":
            found = [_new_scope_block(item, lines)]
        else:
            inner = [
                (t.scope.start_line, t.scope.end_line)
                for t in tagged
                if t.path == item.path
                and t is not item
                and t.scope.kind != "module"
                and _within(t.scope.start_line, t.scope.end_line, span)
            ]
            found = []
            for i1, i2, j1, j2 in _groups(before.lines, lines[span[0] - 1 : span[1]]):
                start, end = span[0] + j1, span[0] + j2 - 1
                own = [
                    n
                    for n in range(start, end + 1)
                    if lines[n - 1].strip() and not any(r[0] <= n <= r[1] for r in inner)
                ]
                if own or (end < start and not any(r[0] < start <= r[1] for r in inner)):
                    found.append(
                        ChangeBlock(item.path, scope.qualname, start, end, before.lines[i1:i2], span, before.lines)
                    )
        for block in found:
            blocks.setdefault((block.path, block.start_line, block.end_line), block)
    return [blocks[key] for key in sorted(blocks)]


def _new_scope_block(item: TaggedScope, lines: Sequence[str]) -> ChangeBlock:
    """A def or class the fix added: its body gives way to `raise NotImplementedError` (a class's
    to `pass`), so that modules importing its name still import and the tests that use it fail."""
    scope = item.scope
    span = (scope.start_line, scope.end_line)
    body = _body_start(lines, scope.qualname)
    if body is None or not span[0] < body[0] <= span[1]:
        return ChangeBlock(item.path, scope.qualname, *span, (), span, new_scope=True)
    line, column, is_class = body
    indent = lines[line - 1][:column]
    stub = "pass" if is_class else 'raise NotImplementedError("new in the fix, taken out by tracer prove --changes")'
    return ChangeBlock(
        item.path, scope.qualname, *span, (f"{indent}{stub}\n",), span, new_scope=True, edit=(line, span[1])
    )


def _body_start(lines: Sequence[str], qualname: str) -> tuple[int, int, bool] | None:
    """(line, column, is a class) of the first statement of the body of the def or class named
    `qualname`, where that statement starts a line of its own."""
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: list[tuple[int, int, bool]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                first = child.body[0]
                if name == qualname and not found and first.lineno > child.lineno:
                    found.append((first.lineno, first.col_offset, isinstance(child, ast.ClassDef)))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found[0] if found else None


def _module_blocks(item: TaggedScope, lines: Sequence[str], before: PreFix) -> list[ChangeBlock]:
    """A module's own tagged blocks, each put back to the old lines it stands in place of (none,
    in a new file). A tag above a def or class the fix added marks that def: its body is taken
    out instead, as for a new scope."""
    old_lines = before.lines if before.kind == "file" else ()
    current_defs = _top_level_defs("".join(lines))
    old_defs = _top_level_defs("".join(old_lines)) if old_lines else {}
    found = []
    for change in item.changes:
        span = (change.start_line, change.end_line)
        new_def = next(
            (name for name, where in current_defs.items() if _within(*where, span) and name not in old_defs), None
        )
        if new_def is not None:
            block = _new_scope_block(
                TaggedScope(item.path, replace(item.scope, qualname=new_def, start_line=span[0], end_line=span[1]), ()),
                lines,
            )
            found.append(replace(block, qualname=item.scope.qualname))
            continue
        old = tuple(_aligned(old_lines, lines, *span)) if old_lines else ()
        if [line.rstrip("\r\n") for line in old] != [line.rstrip("\r\n") for line in lines[span[0] - 1 : span[1]]]:
            found.append(ChangeBlock(item.path, item.scope.qualname, *span, old, span, new_scope=not old_lines))
    return found


def _top_level_defs(text: str) -> dict[str, tuple[int, int]]:
    try:
        return {name: where for name, where in scope_ranges(text).items() if "." not in name}
    except Exception:  # noqa: BLE001 - a file that does not parse has no defs to match
        return {}


# Reverts


def _ended(lines: Sequence[str]) -> list[str]:
    return [line if line.endswith(("\n", "\r")) else line + "\n" for line in lines]


def _syntax_error(text: str, path: str) -> str | None:
    try:
        compile(text, path, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return f"{error.msg} (line {error.lineno})"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def revert(block: ChangeBlock, current: Sequence[str]) -> Revert:
    """The file with `block` put back to its pre-fix form, by the first of these that parses: the
    block alone (for a new def or class, its body taken out); its whole scope; for new code, the
    scope taken out whole, or `pass` in its place."""
    lines = list(current)
    start, end = block.edit or (block.start_line, block.end_line)
    first, last = block.scope
    primary = (
        "new in the fix: its body taken out"
        if block.edit
        else "new in the fix: taken out"
        if block.new_scope
        else "the block"
    )
    attempts = [(primary, lines[: start - 1] + _ended(block.old) + lines[end:])]
    if block.scope_old is not None and block.scope != (start, end):
        attempts.append(
            (
                f"the whole of `{block.qualname}` put back, as the block alone does not parse",
                lines[: first - 1] + _ended(block.scope_old) + lines[last:],
            )
        )
    if block.new_scope:
        head = lines[first - 1] if first - 1 < len(lines) else ""
        indent = head[: len(head) - len(head.lstrip(" \t"))]
        if block.edit:
            attempts.append(("new in the fix: taken out whole", lines[: first - 1] + lines[last:]))
        attempts.append(
            ("new in the fix: `pass` in its place", lines[: first - 1] + [indent + "pass\n"] + lines[last:])
        )
    problem = None
    for how, attempt in attempts:
        text = "".join(attempt)
        error = _syntax_error(text, block.path)
        if error is None:
            return Revert(text, how)
        problem = problem or error
    return Revert(None, problem=f"its pre-fix form put back alone does not parse: {problem}")


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:]
    return tree


def changes_code(before: str, after: str) -> bool:
    """Whether two texts of a module differ in more than comments, blank lines and docstrings."""
    try:
        return ast.dump(_without_docstrings(ast.parse(before))) != ast.dump(_without_docstrings(ast.parse(after)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
