"""The tag scanner: finds bug-ID comments and docstrings with libcst and maps each to its scope.

Only files whose bytes hold the ID prefix are parsed, and parse results are cached by content
(tracer.cache), so scanning a large tree costs little more than reading it. The scanned code is
never imported."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracer.problems import Problem

if TYPE_CHECKING:  # libcst is imported only when a file must be parsed: importing it costs ~175 ms
    import libcst as cst


@dataclass(frozen=True, order=True)
class Change:
    """One change block: the lines a tag marks and what the tag says of them."""

    start_line: int
    end_line: int
    kind: str  # "comment" or "docstring"
    text: str
    bug_ids: tuple[str, ...]
    tag_line: int


@dataclass(frozen=True)
class Scope:
    """The innermost def, async def or class around a tag, or the module."""

    qualname: str
    kind: str  # "function", "method", "class" or "module"
    start_line: int
    end_line: int
    signature: str


@dataclass(frozen=True)
class TaggedScope:
    path: str
    scope: Scope
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class MalformedTag:
    line: int
    text: str


@dataclass(frozen=True)
class FileScan:
    path: str
    scopes: tuple[TaggedScope, ...] = ()
    malformed: tuple[MalformedTag, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)


def literal_prefix(id_pattern: str) -> str:
    """The literal text an ID pattern starts with (`BUG-` for `BUG-\\d{8}-\\d{3}`): the cheap
    byte search that decides whether a file is parsed at all."""
    prefix = re.match(r"(?:[A-Za-z0-9_]|\\-|-)*", id_pattern)
    return (prefix.group(0) if prefix else "").replace("\\-", "-")


def tag_pattern(id_regex: re.Pattern[str]) -> re.Pattern[str]:
    """A comment tag: one or more IDs at the start of the comment, then an optional colon and text."""
    one = f"(?:{id_regex.pattern})"
    return re.compile(
        rf"""
        ^\#\s*
        (?P<ids>{one}(?:\s*(?:,|&|/|\band\b)?\s*{one})*)  # one or more IDs
        \s*:?\s*
        (?P<text>.*?)\s*$                                  # the change text
        """,
        re.VERBOSE,
    )


def _clean(text: str) -> str:
    """Docstring text without quotes, brackets and punctuation left at its ends."""
    return text.strip().strip("\"'").strip(" ,&/:;.()[]").strip()


def _split_ids(text: str, id_regex: re.Pattern[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(match.group(0) for match in id_regex.finditer(text)))


def scan_source(path: str, source: str, id_regex: re.Pattern[str]) -> FileScan:
    """Every tag of one file, grouped by scope; a file that does not parse gives a problem."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as error:
        return FileScan(path, problems=(Problem(path, error.raw_line, "T001", f"cannot parse: {error.message}"),))
    except Exception as error:  # libcst rejects a few valid files; report, never crash
        return FileScan(path, problems=(Problem(path, 1, "T001", f"cannot parse: {error}"),))
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    parents = wrapper.resolve(ParentNodeProvider)
    return _Scan(path, module, positions, parents, id_regex).run()


class _Scan:
    """One file's walk: collects tag comments and docstrings, then builds scopes and blocks."""

    def __init__(self, path: str, module: cst.Module, positions, parents, id_regex: re.Pattern[str]):
        self.path, self.module, self.positions, self.parents = path, module, positions, parents
        self.id_regex = id_regex
        self.tag_regex = tag_pattern(id_regex)
        self.prefix = literal_prefix(id_regex.pattern)
        self.lines = module.code.splitlines()
        self.scope_nodes: dict[cst.CSTNode, Scope] = {}
        self.found: dict[cst.CSTNode, list[Change]] = {}
        self.footer_tags: dict[cst.CSTNode, int] = {}
        self.malformed: list[MalformedTag] = []

    def run(self) -> FileScan:
        import libcst as cst

        for node in self.positions:
            if isinstance(node, cst.Comment):
                self._comment(node)
            elif isinstance(node, (cst.Module, cst.FunctionDef, cst.ClassDef)):
                self._docstring(node)
        scopes = []
        for owner, changes in self.found.items():
            scope = self._scope(owner)
            end = max(scope.end_line, self.footer_tags.get(owner, 0))
            scope = Scope(scope.qualname, scope.kind, scope.start_line, end, scope.signature)
            scopes.append(TaggedScope(self.path, scope, tuple(sorted(set(changes)))))
        scopes.sort(key=lambda s: (s.scope.start_line, s.scope.qualname))
        return FileScan(self.path, tuple(scopes), tuple(sorted(self.malformed, key=lambda m: m.line)))

    # Tags

    def _comment(self, comment: cst.Comment) -> None:
        import libcst as cst

        line = self.positions[comment].start.line
        match = self.tag_regex.match(comment.value)
        if match is None:
            body = comment.value.lstrip("#").strip()
            if self.prefix and body.startswith(self.prefix):
                self.malformed.append(MalformedTag(line, comment.value))
            return
        ids = _split_ids(match.group("ids"), self.id_regex)
        parent = self.parents[comment]
        holder = self.parents.get(parent)
        if isinstance(parent, cst.EmptyLine) and isinstance(
            holder, (cst.SimpleStatementLine, cst.BaseCompoundStatement, cst.IndentedBlock, cst.Module)
        ):
            start, end = self._own_line_block(parent, holder, line)
            owner = self._owner(parent)
            if isinstance(holder, (cst.IndentedBlock, cst.Module)) and parent in getattr(holder, "footer", ()):
                self.footer_tags[owner] = max(self.footer_tags.get(owner, 0), end)
        else:  # after code on its line, or inside brackets: the smallest statement holding it
            statement = self._enclosing_statement(comment)
            start, end = self._lines_of(statement) if statement is not None else (line, line)
            owner = self._owner(comment)
        self.found.setdefault(owner, []).append(Change(start, end, "comment", match.group("text"), ids, line))

    def _docstring(self, node: cst.Module | cst.FunctionDef | cst.ClassDef) -> None:
        import libcst as cst

        body = node.body if isinstance(node, cst.Module) else node.body.body
        if not body or not isinstance(body[0], cst.SimpleStatementLine):
            return
        expression = body[0].body[0]
        if not isinstance(expression, cst.Expr) or not isinstance(expression.value, (cst.SimpleString, cst.ConcatenatedString)):
            return
        start, end = self._lines_of(body[0])
        seen: set[str] = set()
        for offset, text in enumerate(self.lines[start - 1 : end]):
            ids = tuple(i for i in _split_ids(text, self.id_regex) if i not in seen)
            if not ids:
                continue
            seen.update(ids)
            match = self.id_regex.search(text)
            assert match is not None
            rest = _clean(self.id_regex.sub("", text[match.end() :]))
            if not rest:  # the ID closes the line, as in "Checks (BUG-...)": take the words before it
                rest = _clean(self.id_regex.sub("", text))
            self.found.setdefault(node, []).append(Change(start, end, "docstring", rest, ids, start + offset))

    # Blocks

    def _own_line_block(self, empty_line: cst.EmptyLine, holder: cst.CSTNode, line: int) -> tuple[int, int]:
        """The comment, the comment lines directly under it, and the statements that directly follow."""
        import libcst as cst

        end = line
        while end < len(self.lines) and self.lines[end].lstrip().startswith("#"):
            end += 1
        following: cst.CSTNode | None = None
        below: list[cst.EmptyLine] = []
        if isinstance(holder, (cst.SimpleStatementLine, cst.BaseCompoundStatement)) and empty_line in holder.leading_lines:
            following, below = holder, list(holder.leading_lines)
        elif isinstance(holder, cst.Module) and empty_line in holder.header and holder.body:
            # libcst keeps the comments that open a file in the module's header, even when the
            # first statement follows directly.
            if not holder.body[0].leading_lines:
                following, below = holder.body[0], list(holder.header)
        if following is not None and all(item.comment is not None for item in below[below.index(empty_line) :]):
            statements = self._following_siblings(following)
            return line, self._lines_of(statements[-1])[1]
        return line, end

    def _following_siblings(self, statement: cst.CSTNode) -> list[cst.CSTNode]:
        """`statement` and the statements after it with no blank or comment line between."""
        import libcst as cst

        siblings: Sequence[cst.CSTNode] = getattr(self.parents[statement], "body", ())
        if statement not in siblings:
            return [statement]
        run = [statement]
        for sibling in siblings[siblings.index(statement) + 1 :]:
            if getattr(sibling, "leading_lines", ()):
                break
            run.append(sibling)
        return run

    def _enclosing_statement(self, node: cst.CSTNode) -> cst.CSTNode | None:
        import libcst as cst

        current = self.parents.get(node)
        while current is not None and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            current = self.parents.get(current)
        return current

    def _lines_of(self, node: cst.CSTNode) -> tuple[int, int]:
        import libcst as cst

        position = self.positions[node]
        start = position.start.line
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.decorators:
            start = self.positions[node.decorators[0]].start.line
        return start, position.end.line

    # Scopes

    def _owner(self, node: cst.CSTNode) -> cst.CSTNode:
        """The innermost def or class around `node` in the syntax tree, else the module. A comment
        above a def (in its leading lines) is outside it."""
        import libcst as cst

        child, current = node, self.parents.get(node)
        while current is not None:
            if isinstance(current, (cst.FunctionDef, cst.ClassDef)) and child not in current.leading_lines:
                return current
            child, current = current, self.parents.get(current)
        return self.module

    def _scope(self, node: cst.CSTNode) -> Scope:
        import libcst as cst

        if node in self.scope_nodes:
            return self.scope_nodes[node]
        if isinstance(node, cst.Module):
            scope = Scope("<module>", "module", 1, max(1, len(self.lines)), "")
        else:
            assert isinstance(node, (cst.FunctionDef, cst.ClassDef))
            names, kind = [], "class" if isinstance(node, cst.ClassDef) else "function"
            parent = self.parents.get(node)
            if isinstance(node, cst.FunctionDef) and isinstance(parent, cst.IndentedBlock):
                if isinstance(self.parents.get(parent), cst.ClassDef):
                    kind = "method"
            current: cst.CSTNode | None = node
            while current is not None:
                if isinstance(current, (cst.FunctionDef, cst.ClassDef)):
                    names.append(current.name.value)
                current = self.parents.get(current)
            start, end = self._lines_of(node)
            scope = Scope(".".join(reversed(names)), kind, start, end, self._signature(node))
        self.scope_nodes[node] = scope
        return scope

    def _signature(self, node: cst.FunctionDef | cst.ClassDef) -> str:
        import libcst as cst

        code = self.module.code_for_node
        if isinstance(node, cst.ClassDef):
            bases = ", ".join(code(arg) for arg in (*node.bases, *node.keywords))
            return f"class {node.name.value}({bases})" if bases else f"class {node.name.value}"
        prefix = "async def" if node.asynchronous else "def"
        returns = f" -> {code(node.returns.annotation)}" if node.returns else ""
        params = " ".join(code(node.params).split())
        return f"{prefix} {node.name.value}({params}){returns}"


def iter_tagged(scans: Sequence[FileScan], bug_id: str) -> Iterator[TaggedScope]:
    """The scopes that carry a tag for `bug_id`, with only that bug's changes, sorted by path and line."""
    for scan in sorted(scans, key=lambda s: s.path):
        for tagged in scan.scopes:
            changes = tuple(c for c in tagged.changes if bug_id in c.bug_ids)
            if changes:
                yield TaggedScope(tagged.path, tagged.scope, changes)


def find_scope(source: str, qualname: str) -> tuple[int, int] | None:
    """Line range (first decorator to end of body) of the def or class named `qualname`."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    try:
        module = cst.parse_module(source)
    except Exception:
        return None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    found: list[tuple[int, int]] = []

    class Finder(cst.CSTVisitor):
        def __init__(self) -> None:
            self.names: list[str] = []

        def _enter(self, node: cst.FunctionDef | cst.ClassDef) -> None:
            self.names.append(node.name.value)
            if ".".join(self.names) == qualname and not found:
                start = positions[node.decorators[0]].start.line if node.decorators else positions[node].start.line
                found.append((start, positions[node].end.line))

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self._enter(node)

        def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.names.pop()

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            self._enter(node)

        def leave_ClassDef(self, node: cst.ClassDef) -> None:
            self.names.pop()

    module.visit(Finder())
    return found[0] if found else None
