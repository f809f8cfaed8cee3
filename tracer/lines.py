"""Lines of code as tracer counts them when it says what a test ran: Python's logical lines,
numbered within a tagged scope, and the compact ranges ("1-3,5") evidence stores them as.

A logical line is what Python runs as one: a statement broken over several lines is one, a
comment or a blank line is none. A scope's lines are numbered from 1 at its first logical line
(for a module, at the first of its tagged blocks), so the numbers are blind to what fingerprints
are blind to (moves, comments, blank lines, line breaks): lines recorded on code whose
fingerprint has not changed map exactly onto the code as it is now, whichever interpreter
recorded them.

Which lines can run at all is read with `ast`, the same under every Python version: every
statement, decorator, `except` and `case` line, except a function's docstring and `global` or
`nonlocal` (Python emits no code for them)."""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from tracer.tags import TaggedScope

_RANGES = re.compile(r"(?:[1-9][0-9]*(?:-[1-9][0-9]*)?(?:,[1-9][0-9]*(?:-[1-9][0-9]*)?)*)?")
MAX_LINE = 1_000_000  # no scope has more lines; a larger number in evidence is a broken file


def encode_ranges(numbers: Iterable[int]) -> str:
    """Positive line numbers as ascending, disjoint ranges: {1, 2, 3, 5} -> "1-3,5"; none -> ""."""
    ordered = sorted(set(numbers))
    if ordered and ordered[0] < 1:
        raise ValueError(f"line numbers start at 1, got {ordered[0]}")
    parts = []
    start = previous = None
    for number in ordered:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        start = previous = number
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def parse_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """The (first, last) pairs of ranges `encode_ranges` wrote, never expanded (evidence is
    hostile input: "1-999999" costs nothing here); ValueError for any other text (ranges out of
    order, overlapping or touching, "3-3", "5-2", zero, signs, spaces), so that every set of lines
    has exactly one spelling and evidence stays byte-for-byte deterministic."""
    if not _RANGES.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not line ranges such as '1-3,5'")
    pairs: list[tuple[int, int]] = []
    for part in text.split(",") if text else []:
        first, _, last = part.partition("-")
        start, end = int(first), int(last or first)
        if end > MAX_LINE:
            raise ValueError(f"line {end} is past any scope's end")
        if last and end <= start:
            raise ValueError(f"range {part!r} must run from a smaller to a larger line")
        if pairs and start <= pairs[-1][1] + 1:
            raise ValueError(f"range {part!r} overlaps or touches the one before it: join them")
        pairs.append((start, end))
    return tuple(pairs)


def decode_ranges(text: str) -> frozenset[int]:
    """The line numbers of ranges `encode_ranges` wrote (see `parse_ranges`)."""
    return frozenset(n for start, end in parse_ranges(text) for n in range(start, end + 1))


def lines_within(text: str, numbers: Iterable[int]) -> frozenset[int]:
    """Those of `numbers` that the ranges hold, without expanding the ranges."""
    pairs = parse_ranges(text)
    starts = [start for start, _ in pairs]
    found = set()
    for number in numbers:
        at = bisect.bisect_right(starts, number) - 1
        if at >= 0 and pairs[at][1] >= number:
            found.add(number)
    return frozenset(found)


@dataclass(frozen=True)
class SourceIndex:
    """A file's logical lines, which of them hold code that runs when reached, and where each def
    and class starts its body. Built from the text alone (tokenize and ast): nothing is run."""

    starts: tuple[int, ...] = ()  # the first physical line of each logical line, ascending
    ends: tuple[int, ...] = ()  # its last physical line
    runnable: frozenset[int] = frozenset()  # start lines of the logical lines that run when reached
    headers: Mapping[int, int] = field(default_factory=dict)  # def/class start (first decorator) -> its first body line
    in_function: frozenset[int] = frozenset()  # start lines of defs and classes nested in a function

    def logical_start(self, line: int) -> int | None:
        """The first physical line of the logical line that holds `line` (None: a comment or blank)."""
        at = bisect.bisect_right(self.starts, line) - 1
        if at < 0 or self.ends[at] < line:
            return None
        return self.starts[at]


@lru_cache(maxsize=64)
def source_index(source: str) -> SourceIndex:
    """The index of a file's text; an empty one where it does not tokenize or parse (the scan
    names that file's problem)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        tree = ast.parse(source)
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return SourceIndex()
    starts, ends = [], []
    first: int | None = None
    skipped = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.ENCODING}
    for token in tokens:
        if token.type == tokenize.NEWLINE:
            if first is not None:
                starts.append(first)
                ends.append(token.start[0])
            first = None
        elif token.type not in skipped and first is None:
            first = token.start[0]
    index = SourceIndex(tuple(starts), tuple(ends))
    docstrings = {  # a function's docstring is no code: Python stores it, never runs it
        id(node.body[0])
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
        and isinstance(node.body[0].value.value, str)
    }
    runnable: set[int] = set()
    headers: dict[int, int] = {}
    nested: set[int] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.stmt)
                and not isinstance(child, (ast.Global, ast.Nonlocal))
                and id(child) not in docstrings
            ) or isinstance(child, ast.ExceptHandler):
                runnable.add(child.lineno)
            elif isinstance(child, ast.match_case):
                runnable.add(child.pattern.lineno)
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                runnable.update(d.lineno for d in child.decorator_list)
                headers[start] = child.body[0].lineno
                if in_function:
                    nested.add(start)
                visit(child, in_function or not isinstance(child, ast.ClassDef))
            else:
                visit(child, in_function)

    visit(tree, False)
    return SourceIndex(
        index.starts,
        index.ends,
        frozenset(s for s in (index.logical_start(line) for line in runnable) if s is not None),
        headers,
        frozenset(nested),
    )


def numbered_lines(tagged: TaggedScope, index: SourceIndex) -> tuple[int, ...]:
    """The start lines of a scope's logical lines, in order: the Nth is the scope's line N. A
    module's lines are those of its tagged blocks (its functions are scopes of their own)."""
    if tagged.scope.kind == "module":
        spans = [(c.start_line, c.end_line) for c in tagged.changes]
    else:
        spans = [(tagged.scope.start_line, tagged.scope.end_line)]
    return tuple(s for s in index.starts if any(a <= s <= b for a, b in spans))


def runs_at_import(tagged: TaggedScope, index: SourceIndex) -> bool:
    """A module's tagged blocks and a class body outside any function run when the module is
    imported, before any test; a function's lines run when it is called."""
    return tagged.scope.kind == "module" or (
        tagged.scope.kind == "class" and tagged.scope.start_line not in index.in_function
    )


def changed_lines(tagged: TaggedScope, index: SourceIndex) -> frozenset[int]:
    """The scope's numbers of the logical lines its change blocks mark that run when reached: a
    function's decorators and `def` line run where it is defined, not when it is called, so they
    are not among a function's changed lines."""
    numbered = numbered_lines(tagged, index)
    body = index.headers.get(tagged.scope.start_line, 0) if tagged.scope.kind in ("function", "method") else 0
    return frozenset(
        number
        for number, start in enumerate(numbered, start=1)
        if start in index.runnable
        and start >= body
        and any(c.start_line <= start <= c.end_line for c in tagged.changes)
    )


def scope_numbers(tagged: TaggedScope, index: SourceIndex, physical: Iterable[int]) -> frozenset[int]:
    """The scope's numbers of the logical lines that hold these physical lines."""
    numbered = numbered_lines(tagged, index)
    position = {start: number for number, start in enumerate(numbered, start=1)}
    found = set()
    for line in physical:
        start = index.logical_start(line)
        if start is not None and start in position and start in index.runnable:
            found.add(position[start])
    return frozenset(found)


def attribute_lines(
    tagged: Sequence[TaggedScope],
    lines: Mapping[str, Iterable[int]],
    indexes: Mapping[str, SourceIndex],
    at_import: bool = False,
) -> dict[str, str]:
    """Physical lines run, by file, as each scope's line ranges: `scope key -> "1-3,5"`. A line
    belongs to the innermost of the scopes around it; scopes that run at import take only
    `at_import` lines (and the others only test lines), so a module is never credited with
    what its functions ran. Scopes that ran nothing are left out."""
    by_scope: dict[str, set[int]] = {}
    for path, physical in lines.items():
        index = indexes.get(path)
        scopes = [t for t in tagged if t.path == path]
        if index is None or not scopes:
            continue
        chosen = [t for t in scopes if runs_at_import(t, index) == at_import]
        for line in physical:
            around = [t for t in chosen if _holds(t, line)]
            if around:
                inner = max(around, key=lambda t: (t.scope.start_line, -t.scope.end_line))
                by_scope.setdefault(f"{inner.path}::{inner.scope.qualname}", set()).add(line)
    result = {}
    for t in tagged:
        key = f"{t.path}::{t.scope.qualname}"
        if key in by_scope:
            numbers = scope_numbers(t, indexes[t.path], by_scope[key])
            if numbers:
                result[key] = encode_ranges(numbers)
    return dict(sorted(result.items()))


def _holds(tagged: TaggedScope, line: int) -> bool:
    if tagged.scope.kind == "module":
        return any(c.start_line <= line <= c.end_line for c in tagged.changes)
    return tagged.scope.start_line <= line <= tagged.scope.end_line
