"""The libcst boundary: the one module that imports libcst, loaded only for a file whose syntax
is newer than the running Python (tracer.outline reads every other file with Python's `ast`).

It parses a file and walks it once (`_walk`), maps each tag to its block and scope
(`scan_module`), and finds every def and class by qualified name (`scope_ranges`, which the
tests check against Python's `ast`); both use the same qualname and range rules (`_qualname`,
`_start`). One rule differs from tracer.outline's: a tag inside brackets marks its whole
statement here, not the smallest element holding it.

Why a codegen pass rather than libcst's metadata: resolving PositionProvider and
ParentNodeProvider over a module costs two to four times its parse. libcst's codegen already
visits every node in source order, so a codegen state that writes no text, counts lines as
Python counts them (`\\n`, `\\r\\n`, `\\r`) and keeps the stack of nodes above the current one
gives positions and parents in one pass, at about a tenth of that cost. CodegenState is
libcst-internal; tests/tracer/test_scanner*.py check the ranges against Python's own `ast`."""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import libcst as cst
from libcst._nodes.internal import CodegenState

from tracer.outline import Unparsable
from tracer.outline import parse as python_parse
from tracer.prefilter import Prefilter
from tracer.problems import Problem
from tracer.sourcetext import split_lines
from tracer.tags import Change, FileScan, MalformedTag, Scope, TaggedScope, docstring_text, ids_in, match_tag

Node = cst.CSTNode
Chain = tuple[Node, ...]  # the nodes above a node, from the Module down to its parent
Def = cst.FunctionDef | cst.ClassDef


def _concrete(base: type) -> set[type]:
    found: set[type] = set()
    sub: type
    for sub in base.__subclasses__():
        found |= {sub, *_concrete(sub)}
    return {kind for kind in found if not kind.__name__.startswith("Base")}


_STATEMENTS = frozenset(_concrete(cst.BaseStatement))  # SimpleStatementLine and every compound statement
_CLAUSES = (cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.MatchCase)
_HOLDERS = frozenset((*_STATEMENTS, *_CLAUSES, cst.Decorator))  # what a comment after code may mark
_RECORDED = frozenset((*_HOLDERS, cst.IndentedBlock, cst.SimpleStatementSuite, cst.Expr))
_DEFS = frozenset((cst.FunctionDef, cst.ClassDef))
_NOT_CODE = frozenset(" \t\f\v\\\r\n#")  # how whitespace, line continuations and comments start
_NO_POSITION = contextlib.nullcontext()


class _Walk(CodegenState):
    """One codegen pass that writes nothing: the line of every comment it keeps and the chain of
    nodes above it, the defs it keeps with theirs, and for statements, clauses, decorators and
    suites the line where their code starts (after their leading comment lines) and ends."""

    def __init__(self, module: cst.Module, keep_comment: Callable[[str], bool], keep_def: Callable[[Def], bool]):
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.last_code_line = 1
        self.chain: list[Node] = []
        self.starts: list[int] = []
        self.ranges: dict[Node, tuple[int, int]] = {}
        self.comments: list[tuple[cst.Comment, int, Chain]] = []
        self.defs: list[tuple[Def, Chain]] = []
        self.keep_comment, self.keep_def = keep_comment, keep_def

    def add_token(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            self.line += value.count("\n") + value.count("\r") - value.count("\r\n")
        if value and value[0] not in _NOT_CODE:
            self.last_code_line = self.line

    def add_indent_tokens(self) -> None:  # indentation holds no line break
        pass

    def increase_indent(self, value: str) -> None:
        pass

    def decrease_indent(self) -> None:
        pass

    def before_codegen(self, node: Node) -> None:
        kind = type(node)
        if kind is cst.Comment:
            assert isinstance(node, cst.Comment)
            if self.keep_comment(node.value):
                self.comments.append((node, self.line, tuple(self.chain)))
        elif (kind is cst.FunctionDef or kind is cst.ClassDef) and self.keep_def(node):  # type: ignore[arg-type]
            self.defs.append((node, tuple(self.chain)))  # type: ignore[arg-type]
        self.chain.append(node)
        self.starts.append(self.line)

    def after_codegen(self, node: Node) -> None:
        self.chain.pop()
        start = self.starts.pop()
        if type(node) in _RECORDED:
            self.ranges[node] = (start, self.last_code_line)

    def record_syntactic_position(
        self, node: Node, *, start_node: Node | None = None, end_node: Node | None = None
    ) -> Any:
        return _NO_POSITION  # positions come from before/after_codegen; a no-op is far cheaper


def parse(source: str) -> cst.Module:
    """The module, or Unparsable with the line Python itself would name. Python's own parser
    runs first: it is fast, names the right line, and refuses the deep nesting on which
    libcst's native parser overflows its stack (a segfault, not an exception) or runs for
    minutes. Where only libcst fails (a construct it does not know), its own line is kept."""
    python_error: SyntaxError | None = None
    try:
        python_parse(source)
    except SyntaxError as error:  # maybe syntax newer than this Python: libcst may still read it
        python_error = error
    try:
        return _deep(lambda: cst.parse_module(source))
    except cst.ParserSyntaxError as error:
        if python_error is not None:
            raise Unparsable(f"cannot parse: {python_error.msg}", python_error.lineno or 1) from None
        raise Unparsable(f"cannot parse: {error.message}", error.raw_line) from None


def scan_module(path: str, source: str, prefilter: Prefilter) -> FileScan:
    """Every tag of one file, grouped by scope; a file that does not parse is a T001 finding."""
    try:
        module = parse(source)
    except Unparsable as error:
        return FileScan(path, problems=(Problem(path, error.line, "T001", str(error)),))
    return _deep(lambda: _scan(path, source, module, prefilter))


def _scan(path: str, source: str, module: cst.Module, prefilter: Prefilter) -> FileScan:
    id_regex = prefilter.id_regex

    def keep_comment(value: str) -> bool:
        return match_tag(value, id_regex) is not None or prefilter.looks_like_tag(value.lstrip("#").strip())

    def keep_def(node: Def) -> bool:
        docstring = _docstring(node)
        return docstring is not None and bool(ids_in(_raw_string(docstring.value), id_regex))

    walk = _walk(module, keep_comment, keep_def)
    found: dict[Node, tuple[Chain, list[Change]]] = {}
    scope_ends: dict[Node, int] = {}
    malformed = []
    for comment, line, chain in walk.comments:
        tag = match_tag(comment.value, id_regex)
        if tag is None:
            malformed.append(MalformedTag(line, comment.value))
            continue
        start, end, in_footer = _comment_block(line, chain, walk.ranges)
        owner, owner_chain = _owner(chain, comment)
        if in_footer:  # a comment under the last statement of a body still belongs to it
            scope_ends[owner] = max(scope_ends.get(owner, 0), end)
        found.setdefault(owner, (owner_chain, []))[1].append(Change(start, end, "comment", tag.text, tag.ids, line))
    for node, chain in [(module, ()), *walk.defs]:
        docstring = _docstring(node)
        if docstring is not None:
            changes = _docstring_changes(module, docstring, walk.ranges[docstring], id_regex)
            if changes:
                found.setdefault(node, (chain, []))[1].extend(changes)
    line_count = max(1, len(split_lines(source)))
    scopes = []
    for owner, (chain, changes) in found.items():
        scope = _scope(module, owner, chain, walk.ranges, line_count)
        end = max(scope.end_line, scope_ends.get(owner, 0))
        scope = Scope(scope.qualname, scope.kind, scope.start_line, end, scope.signature)
        scopes.append(TaggedScope(path, scope, tuple(sorted(set(changes)))))
    scopes.sort(key=lambda s: (s.scope.start_line, s.scope.qualname))
    return FileScan(path, tuple(scopes), tuple(sorted(malformed, key=lambda m: m.line)))


def scope_ranges(source: str) -> dict[str, tuple[int, int]]:
    """Line range (first decorator to the end of the body) of every def and class, by qualified
    name; where two share a name, the first. Empty for a file that does not parse."""
    try:
        module = parse(source)
    except Unparsable:
        return {}
    walk = _deep(lambda: _walk(module, lambda value: False, lambda node: True))
    ranges: dict[str, tuple[int, int]] = {}
    for node, chain in walk.defs:
        ranges.setdefault(_qualname(node, chain), (_start(node, walk.ranges), walk.ranges[node][1]))
    return ranges


# The walk

_T = TypeVar("_T")
_STACK_BYTES = 512 << 20
_RECURSION_LIMIT = 200_000


def _walk(module: cst.Module, keep_comment: Callable[[str], bool], keep_def: Callable[[Def], bool]) -> _Walk:
    walk = _Walk(module, keep_comment, keep_def)
    module._codegen(walk)
    return walk


_deep_lock = threading.Lock()


def _deep(work: Callable[[], _T]) -> _T:
    """`work()` in a thread with a large stack and recursion limit, and without the cyclic
    garbage collector: libcst recurses once per nesting level (a chain of 3000 concatenated
    strings is 3000 levels deep), past the default limit of 1000 and, in its native parser,
    past the 8 MB of a main thread. A syntax tree holds no cycles, so collecting while it is
    built only costs time (10-40% of a parse)."""
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # noqa: BLE001 - handed back to the caller below
            failure.append(error)

    with _deep_lock:  # the limit, the stack size and the collector are the process's, not the thread's
        limit, collecting = sys.getrecursionlimit(), gc.isenabled()
        sys.setrecursionlimit(max(limit, _RECURSION_LIMIT))
        gc.disable()
        try:
            size = threading.stack_size(_STACK_BYTES)
            try:
                thread = threading.Thread(target=run, name="tracer-parse")
                thread.start()
            finally:
                threading.stack_size(size)
        except (RuntimeError, ValueError, MemoryError):  # no such thread here (a tight ulimit -v): run inline,
            thread = None  # within the default limit, which this thread's stack is sized for
            sys.setrecursionlimit(limit)
        try:
            if thread is None:
                run()
            else:
                thread.join()
        finally:
            sys.setrecursionlimit(limit)
            if collecting:
                gc.enable()
    if failure:
        raise failure[0]
    return outcome[0]


# Ranges and scopes, shared by the tag walk and scope_ranges


def _start(node: Node, ranges: dict[Node, tuple[int, int]]) -> int:
    """The first line of a statement, clause or decorator's own code: after its leading comment
    and blank lines (each exactly one line in libcst), at its first decorator for a def or class."""
    line = ranges[node][0] + len(getattr(node, "leading_lines", ()))
    decorators = getattr(node, "decorators", ())
    return line + len(decorators[0].leading_lines) if decorators else line


def _header_end(node: Node, ranges: dict[Node, tuple[int, int]]) -> int:
    """The line of the colon that ends a clause's or def's header: where its body's codegen starts."""
    body = getattr(node, "body", None)
    return ranges[body][0] if body in ranges else _start(node, ranges)


def _qualname(node: Def, chain: Chain) -> str:
    return ".".join([n.name.value for n in chain if type(n) in _DEFS] + [node.name.value])  # type: ignore[attr-defined]


def _scope(module: cst.Module, node: Node, chain: Chain, ranges: dict[Node, tuple[int, int]], line_count: int) -> Scope:
    if not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        return Scope("<module>", "module", 1, line_count, "")
    kind = "class" if isinstance(node, cst.ClassDef) else "function"
    if (
        kind == "function"
        and len(chain) >= 2
        and isinstance(chain[-1], cst.IndentedBlock)
        and isinstance(chain[-2], cst.ClassDef)
    ):
        kind = "method"
    return Scope(_qualname(node, chain), kind, _start(node, ranges), ranges[node][1], _signature(module, node))


def _signature(module: cst.Module, node: Def) -> str:
    code = module.code_for_node
    if isinstance(node, cst.ClassDef):
        bases = ", ".join(code(arg) for arg in (*node.bases, *node.keywords))
        return f"class {node.name.value}({bases})" if bases else f"class {node.name.value}"
    prefix = "async def" if node.asynchronous else "def"
    returns = f" -> {code(node.returns.annotation)}" if node.returns else ""
    params = " ".join(code(node.params).split())
    return f"{prefix} {node.name.value}({params}){returns}"


def _owner(chain: Chain, leaf: Node) -> tuple[Node, Chain]:
    """The innermost def or class around `leaf`, else the module. A comment above a def (in its
    leading lines) is outside it; one among its decorators is inside."""
    path = (*chain, leaf)
    for index in range(len(chain) - 1, 0, -1):
        node = chain[index]
        if type(node) in _DEFS and not _holds(node.leading_lines, path[index + 1]):  # type: ignore[attr-defined]
            return node, chain[:index]
    return chain[0], ()


def _holds(items: Sequence[Node], node: Node) -> bool:
    return any(item is node for item in items)


# Change blocks


def _comment_block(line: int, chain: Chain, ranges: dict[Node, tuple[int, int]]) -> tuple[int, int, bool]:
    """The lines a tag comment marks, and whether it sits in a body's footer (after its last
    statement). A comment on its own line marks itself, the comment lines directly under it and,
    when no blank line follows, what it annotates: the run of statements under it (up to a blank
    or comment line), the clause header (`else:`, `except E:`) or the decorator under it. A
    comment after code, or on its own line inside brackets, marks the smallest statement, clause
    or decorator holding it."""
    holder, container = chain[-1], chain[-2] if len(chain) >= 2 else None
    if isinstance(holder, cst.EmptyLine) and container is not None:
        for field in ("leading_lines", "lines_after_decorators", "header", "footer"):
            lines = getattr(container, field, None)
            if not isinstance(lines, (tuple, list)) or not _holds(lines, holder):
                continue
            index = next(i for i, item in enumerate(lines) if item is holder)
            below = list(lines[index + 1 :])
            run = next((i for i, item in enumerate(below) if item.comment is None), len(below))
            directly = run == len(below)  # only comment lines between the tag and what follows
            target = _annotated(field, container, chain, ranges) if directly else None
            return line, target if target is not None else line + run, field == "footer"
    for node in reversed(chain):  # exact types: isinstance on libcst's ABCs costs 10x more
        if type(node) in _HOLDERS:
            return _start(node, ranges), ranges[node][1], False
    return line, line, False


def _annotated(field: str, container: Node, chain: Chain, ranges: dict[Node, tuple[int, int]]) -> int | None:
    """The last line of what a tag directly above `container`'s code annotates, if anything."""
    parent = chain[-3] if len(chain) >= 3 else None
    if field == "leading_lines":
        if isinstance(container, _CLAUSES) or (isinstance(parent, cst.If) and parent.orelse is container):
            return _header_end(container, ranges)  # `else:`, `except E:`, `finally:`, `elif x:`, `case p:`
        if isinstance(container, cst.Decorator):
            return ranges[container][1]
        if type(container) in _STATEMENTS and parent is not None:
            return ranges[_last_of_run(container, parent)][1]
    if field == "lines_after_decorators":  # between the last decorator and `def`: the def's header
        return _header_end(container, ranges)
    if (
        field == "header"
        and isinstance(container, cst.Module)
        and container.body
        and not container.body[0].leading_lines
    ):
        # libcst keeps the comments that open a file in the module's header, even when the
        # first statement follows directly.
        return ranges[_last_of_run(container.body[0], container)][1]
    return None


def _last_of_run(statement: Node, parent: Node) -> Node:
    """The last of `statement` and the statements after it with no blank or comment line between."""
    body = getattr(parent, "body", ())
    if not isinstance(body, (tuple, list)):
        return statement
    index = next((i for i, item in enumerate(body) if item is statement), None)
    if index is None:
        return statement
    last = statement
    for sibling in body[index + 1 :]:
        if getattr(sibling, "leading_lines", ()):
            break
        last = sibling
    return last


# Docstrings


def _docstring(node: Node) -> cst.Expr | None:
    """The docstring expression of a module, def or class, as Python decides it: a string
    (not bytes, not an f-string) as the first statement, also on the `def` line itself."""
    if isinstance(node, cst.Module):
        statements: Sequence[Node] = node.body
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        statements = node.body.body
    else:
        return None
    if not statements:
        return None
    first = statements[0]
    if isinstance(first, cst.SimpleStatementLine):
        first = first.body[0] if first.body else first
    if isinstance(first, cst.Expr) and _is_text(first.value):
        return first
    return None


def _is_text(value: Node) -> bool:
    if isinstance(value, cst.SimpleString):
        return "b" not in value.prefix.lower()
    if isinstance(value, cst.ConcatenatedString):
        return _is_text(value.left) and _is_text(value.right)
    return False


def _raw_string(value: Node) -> str:
    if isinstance(value, cst.SimpleString):
        return value.value
    if isinstance(value, cst.ConcatenatedString):
        return _raw_string(value.left) + "\n" + _raw_string(value.right)
    return ""


def _docstring_changes(module: cst.Module, docstring: cst.Expr, span: tuple[int, int], id_regex: Any) -> list[Change]:
    """One change per ID a docstring names, with the text of the line that first names it."""
    start, end = span
    changes = []
    seen: set[str] = set()
    for offset, text in enumerate(split_lines(module.code_for_node(docstring))):
        ids = tuple(i for i in ids_in(text, id_regex) if i not in seen)
        if ids:
            seen.update(ids)
            changes.append(Change(start, end, "docstring", docstring_text(text, id_regex), ids, start + offset))
    return changes
