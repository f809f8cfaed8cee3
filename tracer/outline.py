"""The tag scan on Python's own `ast` and the file's text: which comments and docstrings name an
ID, which def or class holds each, and the lines each tag marks.

Why not libcst: parsing a whole file with libcst costs 8 to 17 times `ast.parse` of it, and its
tree is most of a scan's memory. `ast` (in C) places every statement, clause and element; the
lines between statements (blank and comment lines) are read from the text, and given to the
statement, clause, decorator or body footer that libcst would give them (its rules, restated in
`_File.gap`); `tokenize` reads only a header whose colon or signature is needed, and a string
literal that runs over several lines where a `#` sits inside it. Comments are found on the text
and checked against the string literals `ast` places on their line. tracer.syntax keeps the
libcst walk for syntax newer than the running Python; tests/tracer/test_outline.py checks that
both give the same scopes and blocks on real code."""

from __future__ import annotations

import ast
import bisect
import re
import tokenize
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from tracer.prefilter import Prefilter
from tracer.sourcetext import split_lines
from tracer.tags import Change, FileScan, MalformedTag, Scope, TaggedScope, TagMatch, docstring_text, ids_in, match_tag

Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
Chain = tuple[Def, ...]  # the defs and classes around a place, outermost first; the last one owns it
Span = tuple[tuple[int, int], tuple[int, int]]  # (line, byte column) of the first character and after the last

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TRIES: tuple[type[ast.stmt], ...] = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))
_STRINGS: tuple[type[ast.AST], ...] = tuple(
    kind for kind in (ast.Constant, ast.JoinedStr, getattr(ast, "TemplateStr", None)) if kind is not None
)
_HASH = re.compile("#")
_TRAILING = " \t\f\v,"  # what a comment after code may follow on its line besides the code it annotates
_KEYWORD = {kind: re.compile(rf"[ \t\f]*{kind}\b") for kind in ("else", "finally", "case")}


class Unparsable(Exception):
    """A file Python cannot parse, with the line to report."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def parse(source: str) -> ast.Module:
    """The module as Python parses it. A plain SyntaxError is raised as it is (the file may hold
    syntax newer than this Python, which libcst may still read); what no parser can read (null
    bytes, nesting past Python's limits) is Unparsable with the line Python names."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError) as error:  # ValueError: null bytes, before Python 3.12
        message = getattr(error, "msg", None) or str(error)
        if "\0" in source and "null bytes" in message:
            raise Unparsable(f"cannot parse: {message}", len(split_lines(source[: source.index("\0")] + "."))) from None
        if "too many" in message:  # nesting or indentation past Python's own limits
            raise Unparsable(f"cannot parse: {message}", getattr(error, "lineno", None) or 1) from None
        if isinstance(error, SyntaxError):
            raise
        raise Unparsable(f"cannot parse: {message}", 1) from None
    except (RecursionError, MemoryError):
        raise Unparsable("cannot parse: nested too deeply", 1) from None


def scan(path: str, source: str, tree: ast.Module, prefilter: Prefilter) -> FileScan:
    """Every tag of one parsed file, grouped by scope."""
    file = _File(source, tree)
    id_regex = prefilter.id_regex

    read: dict[str, TagMatch | None | bool] = {}  # a comment's tag, False where it is neither tag nor malformed

    def reading(value: str) -> TagMatch | None | bool:
        if value not in read:
            tag = match_tag(value, id_regex)
            read[value] = (
                tag if tag is not None else (None if prefilter.looks_like_tag(value.lstrip("#").strip()) else False)
            )
        return read[value]

    found: dict[Def | None, tuple[Chain, list[Change]]] = {}
    scope_ends: dict[Def | None, int] = {}
    malformed = []
    for line in file.candidate_lines(lambda value: reading(value) is not False, prefilter.malformed_comment):
        place = file.locate(line)
        column = file.comment_start(line, place)
        if column is None:
            continue
        value = file.text(line)[column:]
        tag = reading(value)
        if tag is False:
            continue
        if not isinstance(tag, TagMatch):
            malformed.append(MalformedTag(line, value))
            continue
        start, end = file.block(line, column, place)
        owner = place.chain[-1] if place.chain else None
        if place.footer:  # a comment under the last statement of a body still belongs to it
            scope_ends[owner] = max(scope_ends.get(owner, 0), end)
        found.setdefault(owner, (place.chain, []))[1].append(Change(start, end, "comment", tag.text, tag.ids, line))
    for docstring, chain in file.docstrings():
        changes = _docstring_changes(
            file.segment(docstring), docstring.lineno, docstring.end_lineno or docstring.lineno, id_regex
        )
        if changes:
            found.setdefault(chain[-1] if chain else None, (chain, []))[1].extend(changes)
    scopes = []
    for owner, (chain, changes) in found.items():
        scope = file.scope(chain, max(1, len(file.lines)))
        end = max(scope.end_line, scope_ends.get(owner, 0))
        scope = Scope(scope.qualname, scope.kind, scope.start_line, end, scope.signature)
        scopes.append(TaggedScope(path, scope, tuple(sorted(set(changes)))))
    scopes.sort(key=lambda s: (s.scope.start_line, s.scope.qualname))
    return FileScan(path, tuple(scopes), tuple(sorted(malformed, key=lambda m: m.line)))


def _docstring_changes(text: str, start: int, end: int, id_regex: re.Pattern[str]) -> list[Change]:
    """One change per ID a docstring names, with the text of the line that first names it."""
    changes = []
    seen: set[str] = set()
    for offset, line in enumerate(split_lines(text)):
        ids = tuple(i for i in ids_in(line, id_regex) if i not in seen)
        if ids:
            seen.update(ids)
            changes.append(Change(start, end, "docstring", docstring_text(line, id_regex), ids, start + offset))
    return changes


@dataclass(frozen=True)
class _Place:
    """Where a line sits. In code (`roots`: the nodes its code belongs to; `holder`: the lines of
    the statement, clause or decorator holding it), or between statements (`segment`: the blank
    and comment lines around it that belong to one owner; `footer`: those lines end a body;
    `target`: the last line of what the segment's lines annotate, where they run into it)."""

    chain: Chain
    roots: tuple[ast.AST, ...] = ()
    holder: tuple[int, int] | None = None
    segment: tuple[int, int] | None = None
    footer: bool = False
    target: Callable[[], int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class _Clause:
    """One clause of a compound statement: `if`, `elif`, `else`, `except`, `case` ..."""

    kind: str
    head: int  # the line of its keyword
    body: list[ast.stmt] | None  # None for `match x:` (its cases are clauses) and `elif` (a statement of its own)
    holder: tuple[int, int]
    roots: tuple[ast.AST, ...]
    node: ast.AST | None = None


class _File:
    """One file's text and tree, and the questions the scan asks of them."""

    def __init__(self, source: str, tree: ast.Module):
        self.source = source
        self.tree = tree
        self.lines = split_lines(source)
        self._starts: dict[int, list[int]] = {}
        self._headers: dict[int, tuple[list[tokenize.TokenInfo], int]] = {}
        self._within: dict[int, set[tuple[int, int]]] = {}
        self._kids: dict[int, tuple[list[ast.AST], list[int], list[int]]] = {}

    # Text

    def text(self, line: int) -> str:
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else ""

    def is_comment(self, line: int) -> bool:
        return self.text(line).lstrip().startswith("#")

    def is_code(self, line: int) -> bool:
        stripped = self.text(line).strip()
        return bool(stripped) and not stripped.startswith("#")

    def char_col(self, line: int, byte_col: int) -> int:
        text = self.text(line)
        return byte_col if text.isascii() else len(text.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))

    def byte_col(self, line: int, char_col: int) -> int:
        text = self.text(line)
        return char_col if text.isascii() else len(text[:char_col].encode("utf-8"))

    def segment(self, node: ast.AST) -> str:
        """The source text of a node, from its first character to its last."""
        first, last = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        start = self.char_col(first, node.col_offset)  # type: ignore[attr-defined]
        end = self.char_col(last, node.end_col_offset or 0)  # type: ignore[attr-defined]
        if first == last:
            return self.text(first)[start:end]
        return "\n".join([self.text(first)[start:], *self.lines[first : last - 1], self.text(last)[:end]])

    def candidate_lines(self, keep: Callable[[str], bool], opening: re.Pattern[str] | None) -> list[int]:
        """The lines with a `#` from which a kept comment could start (a superset of the lines
        whose comment is kept: the `#` may sit in a string, or after another `#`). `opening`,
        where the ID pattern has literal starts, finds the `#`s that one follows (in C)."""
        source = self.source
        found: list[int] = []
        line, counted = 1, 0
        for match in (opening or _HASH).finditer(source):
            at = match.start()
            # Python's line breaks between the last match and this one (a `#` never splits a \r\n)
            line += (
                source.count("\n", counted, at) + source.count("\r", counted, at) - source.count("\r\n", counted, at)
            )
            counted = at
            if found and found[-1] == line:
                continue
            begins = max(source.rfind("\n", 0, at), source.rfind("\r", 0, at)) + 1
            # The comment may open at an earlier `#` of the line than the one matched (`# ###
            # heading` for Django's `#\d{4,5}`, `# #12345: fix`): each is a possible start.
            text = self.text(line)
            starts = [column for column, char in enumerate(text[: at - begins + 1]) if char == "#"]
            if any(keep(text[column:]) for column in starts):
                found.append(line)
        return found

    # Statements

    def start(self, node: ast.AST) -> int:
        """The first line of a statement: its first decorator's `@` for a def or class."""
        decorators = getattr(node, "decorator_list", None)
        return self.at_line(decorators[0]) if decorators else int(node.lineno)  # type: ignore[attr-defined]

    def at_line(self, decorator: ast.expr) -> int:
        """The line of a decorator's `@` (above its expression where that opens a line of its own)."""
        line = decorator.lineno
        text = self.text(line)[: self.char_col(line, decorator.col_offset)]
        while "@" not in text and line > 1:
            line -= 1
            text = self.text(line)
        return line

    def starts(self, body: list[ast.stmt]) -> list[int]:
        key = id(body)
        if key not in self._starts:
            self._starts[key] = [self.start(s) for s in body]
        return self._starts[key]

    def suite(self, body: list[ast.stmt]) -> bool:
        """Whether a body follows its header's colon on the same line (`if x: pass`)."""
        first = body[0]
        line = self.start(first)
        column = getattr(first, "decorator_list", None)
        col = column[0].col_offset if column else first.col_offset
        return bool(self.text(line)[: self.char_col(line, col)].strip().strip("@"))

    def indent(self, body: list[ast.stmt]) -> str:
        text = self.text(self.start(body[0]))
        return text[: len(text) - len(text.lstrip(" \t\f"))]

    def header(self, line: int) -> tuple[list[tokenize.TokenInfo], int]:
        """The tokens of a compound statement's or clause's header opening on `line`, up to its
        colon, and the line of that colon (`line` itself where the tokens cannot be read)."""
        if line in self._headers:
            return self._headers[line]
        text = self.text(line)
        if _ONE_LINE_HEADER.fullmatch(text) and _balanced(text):  # most headers: no tokenizer needed
            pieces = [
                tokenize.TokenInfo(
                    tokenize.NAME if m.lastgroup == "name" else tokenize.OP,
                    m.group(),
                    (1, m.start()),
                    (1, m.end()),
                    text,
                )
                for m in _PIECE.finditer(text, 0, text.rstrip().rindex(":"))
            ]
            self._headers[line] = (pieces, line)
            return self._headers[line]
        lines = (text + "\n" for text in self.lines[line - 1 :])
        tokens: list[tokenize.TokenInfo] = []
        depth = lambdas = 0
        result = (tokens, line)
        try:
            for token in tokenize.generate_tokens(lambda: next(lines, "")):
                if token.type == tokenize.OP and token.string in _OPENING:
                    depth += 1
                elif token.type == tokenize.OP and token.string in _CLOSING:
                    depth -= 1
                elif token.type == tokenize.NAME and token.string == "lambda" and depth == 0:
                    lambdas += 1
                elif token.type == tokenize.OP and token.string == ":" and depth == 0:
                    if not lambdas:
                        result = (tokens, line + token.start[0] - 1)
                        break
                    lambdas -= 1
                elif token.type == tokenize.ENDMARKER:
                    break
                tokens.append(token)
        except (tokenize.TokenError, SyntaxError):
            pass
        self._headers[line] = result
        return result

    def colon(self, line: int) -> int:
        return self.header(line)[1]

    def clauses(self, node: ast.stmt) -> list[_Clause]:
        """A compound statement's clauses in order. `else`, `finally` and `case` have no line in
        `ast`: it is the line of their keyword, the first code line before their body."""
        whole = (self.start(node), node.end_lineno or node.lineno)
        first_roots: tuple[ast.AST, ...] = (node,)
        if isinstance(node, ast.If):
            clauses = [_Clause("if", node.lineno, node.body, whole, first_roots)]
            if node.orelse and self.is_elif(node):
                elif_ = node.orelse[0]
                clauses.append(
                    _Clause("elif", elif_.lineno, None, (elif_.lineno, elif_.end_lineno or elif_.lineno), (), elif_)
                )
            else:
                clauses += self.else_clause("else", node.body, node.orelse)
            return clauses
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            return [
                _Clause("loop", node.lineno, node.body, whole, first_roots),
                *self.else_clause("else", node.body, node.orelse),
            ]
        if isinstance(node, (ast.With, ast.AsyncWith)):
            return [_Clause("with", node.lineno, node.body, whole, first_roots)]
        if isinstance(node, _TRIES):
            attempt = cast(ast.Try, node)  # ast.TryStar has the same fields
            clauses = [_Clause("try", node.lineno, attempt.body, whole, first_roots)]
            last = attempt.body
            for handler in attempt.handlers:
                span = (handler.lineno, handler.end_lineno or handler.lineno)
                clauses.append(_Clause("except", handler.lineno, handler.body, span, (handler,)))
                last = handler.body
            clauses += self.else_clause("else", last, attempt.orelse)
            clauses += self.else_clause("finally", attempt.orelse or last, attempt.finalbody)
            return clauses
        if isinstance(node, ast.Match):
            clauses = [_Clause("match", node.lineno, None, whole, (node.subject,))]
            for case in node.cases:
                line = case.pattern.lineno
                while line > 1 and not _KEYWORD["case"].match(self.text(line)):
                    line -= 1
                roots = (case.pattern, *((case.guard,) if case.guard else ()), *case.body)
                clauses.append(_Clause("case", line, case.body, (line, case.body[-1].end_lineno or line), roots))
            return clauses
        return []

    def is_elif(self, node: ast.If) -> bool:
        if len(node.orelse) != 1 or not isinstance(node.orelse[0], ast.If):
            return False
        inner = node.orelse[0]
        return self.text(inner.lineno)[self.char_col(inner.lineno, inner.col_offset) :].startswith("elif")

    def else_clause(self, kind: str, before: list[ast.stmt], body: list[ast.stmt]) -> list[_Clause]:
        if not body:
            return []
        line = before[-1].end_lineno or before[-1].lineno
        limit = self.start(body[0])
        while line < limit and not _KEYWORD[kind].match(self.text(line)):
            line += 1
        return [_Clause(kind, line, body, (line, body[-1].end_lineno or line), ())]

    def blocks(self, statement: ast.stmt, chain: Chain) -> list[tuple[str, Chain]]:
        """The indented bodies that end where `statement` ends, innermost first, with the chain
        that owns each: the bodies whose footers (comment lines indented at their level) take
        the lines that follow, before the next statement or clause does."""
        found: list[tuple[str, Chain]] = []
        while True:
            body: list[ast.stmt]
            if isinstance(statement, _DEFS):
                chain = (*chain, statement)
                body = statement.body
            elif isinstance(statement, ast.If):
                if statement.orelse and self.is_elif(statement):
                    statement = statement.orelse[0]
                    continue
                body = statement.orelse or statement.body
            elif isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
                body = statement.orelse or statement.body
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                body = statement.body
            elif isinstance(statement, _TRIES):
                attempt = cast(ast.Try, statement)
                body = (
                    attempt.finalbody
                    or attempt.orelse
                    or (attempt.handlers[-1].body if attempt.handlers else attempt.body)
                )
            elif isinstance(statement, ast.Match):
                cases = [clause for clause in self.clauses(statement) if clause.kind == "case"]
                text = self.text(cases[0].head)
                found.append((text[: len(text) - len(text.lstrip(" \t\f"))], chain))
                body = statement.cases[-1].body
            else:
                break
            if self.suite(body):
                break
            found.append((self.indent(body), chain))
            statement = body[-1]
        return found[::-1]

    def defs(self) -> Iterator[Chain]:
        stack: list[tuple[list[ast.stmt], Chain]] = [(self.tree.body, ())]
        while stack:
            body, chain = stack.pop()
            for statement in body:
                if isinstance(statement, _DEFS):
                    yield (*chain, statement)
                    stack.append((statement.body, (*chain, statement)))
                else:
                    stack.extend((sub, chain) for sub in _bodies(statement))

    def docstrings(self) -> Iterator[tuple[ast.Expr, Chain]]:
        """The docstrings of the module, every def and class, as Python decides them: a str
        (not bytes, not an f-string) as the first statement, also on the `def` line itself."""
        module = _docstring(self.tree.body)
        if module is not None:
            yield module, ()
        for chain in self.defs():
            found = _docstring(chain[-1].body)
            if found is not None:
                yield found, chain

    # Where a line sits

    def locate(self, line: int) -> _Place:
        body = self.tree.body
        if not body:
            return _Place((), segment=(1, max(1, len(self.lines))), footer=True)
        starts = self.starts(body)
        if line < starts[0]:  # libcst keeps the lines that open a file in the module's header
            return self._gap(line, 1, starts[0] - 1, [], (), self._run_target(body, 0))
        last = body[-1]
        if line > (last.end_lineno or last.lineno):
            return self._gap(
                line, (last.end_lineno or last.lineno) + 1, len(self.lines), self.blocks(last, ()), (), None
            )
        chain: Chain = ()
        while True:
            starts = self.starts(body)
            index = bisect.bisect_right(starts, line) - 1
            statement = body[index]
            if line > (statement.end_lineno or statement.lineno):
                following = self._run_target(body, index + 1)
                return self._gap(
                    line,
                    (statement.end_lineno or statement.lineno) + 1,
                    starts[index + 1] - 1,
                    self.blocks(statement, chain),
                    chain,
                    following,
                )
            found = self._inside(line, statement, body, index, chain)
            if isinstance(found, _Place):
                return found
            body, chain = found

    def _inside(
        self, line: int, statement: ast.stmt, body: list[ast.stmt], index: int, chain: Chain
    ) -> _Place | tuple[list[ast.stmt], Chain]:
        """Where a line within a statement's lines sits, or the body to look in next."""
        if isinstance(statement, _DEFS):
            inner = (*chain, statement)
            decorators = statement.decorator_list
            previous = 0
            for number, decorator in enumerate(decorators):
                first = self.at_line(decorator)
                last = self._decorator_end(statement, number)
                if line < first:
                    return self._gap(line, previous + 1, first - 1, [], inner, _constant(last))
                if line <= last:
                    return _Place(inner, roots=(decorator,), holder=(first, last))
                previous = last
            if line < statement.lineno:  # between the last decorator and the `def`: its header
                return self._gap(
                    line, previous + 1, statement.lineno - 1, [], inner, lambda: self.colon(statement.lineno)
                )
            opens = self.start(statement.body[0])
            if line == statement.lineno or (line < opens and line <= self.colon(statement.lineno)):
                return _Place(
                    inner, roots=(statement,), holder=(self.start(statement), statement.end_lineno or statement.lineno)
                )
            if line < opens:
                return self._gap(
                    line, self.colon(statement.lineno) + 1, opens - 1, [], inner, self._run_target(statement.body, 0)
                )
            return statement.body, inner
        clauses = self.clauses(statement)
        if not clauses:  # a simple statement, with those sharing its line after `;`
            first = last = index
            while first > 0 and body[first - 1].end_lineno == body[first].lineno:
                first -= 1
            while last + 1 < len(body) and body[last + 1].lineno == body[last].end_lineno:
                last += 1
            group = body[first : last + 1]
            return _Place(chain, roots=tuple(group), holder=(group[0].lineno, group[-1].end_lineno or group[-1].lineno))
        heads = [clause.head for clause in clauses]
        number = bisect.bisect_right(heads, line) - 1
        clause = clauses[number]
        if clause.kind == "elif":
            assert isinstance(clause.node, ast.stmt)
            return self._inside(line, clause.node, [clause.node], 0, chain)
        if clause.body is None:  # `match x:` and the lines up to its first case
            if line == clause.head or line <= self.colon(clause.head):
                return _Place(chain, roots=clause.roots, holder=clause.holder)
            following = clauses[number + 1].head
            return self._gap(line, self.colon(clause.head) + 1, following - 1, [], chain, lambda: self.colon(following))
        opens = self.start(clause.body[0])
        if line == clause.head or (line < opens and line <= self.colon(clause.head)):
            return _Place(chain, roots=clause.roots, holder=clause.holder)
        if line < opens:
            return self._gap(line, self.colon(clause.head) + 1, opens - 1, [], chain, self._run_target(clause.body, 0))
        closing = clause.body[-1]
        if line <= (closing.end_lineno or closing.lineno):
            return clause.body, chain
        following = clauses[number + 1].head  # a line after this clause's body and before the next clause
        blocks = self.blocks(closing, chain) + ([] if self.suite(clause.body) else [(self.indent(clause.body), chain)])
        return self._gap(
            line,
            (closing.end_lineno or closing.lineno) + 1,
            following - 1,
            blocks,
            chain,
            lambda: self.colon(following),
        )

    def _decorator_end(self, node: Def, number: int) -> int:
        """The last line of a decorator: its expression's, or that of a bracket closing after it."""
        decorator = node.decorator_list[number]
        end = decorator.end_lineno or decorator.lineno
        limit = self.at_line(node.decorator_list[number + 1]) if number + 1 < len(node.decorator_list) else node.lineno
        return max([end, *(line for line in range(end + 1, limit) if self.is_code(line))])

    def _run_target(self, body: list[ast.stmt], index: int) -> Callable[[], int]:
        """The last line of the statements from `body[index]` on with nothing between them (no
        blank or comment line but those the footers of the bodies ending above take)."""

        def target() -> int:
            statement = body[index]
            end = statement.end_lineno or statement.lineno
            starts = self.starts(body)
            for following in range(index + 1, len(body)):
                if starts[following] > end + 1:
                    rest = self._footers(end + 1, starts[following] - 1, self.blocks(body[following - 1], ()))[1]
                    if rest[0] <= rest[1]:
                        break
                end = body[following].end_lineno or body[following].lineno
            return end

        return target

    def _footers(
        self, first: int, last: int, blocks: list[tuple[str, Chain]]
    ) -> tuple[list[tuple[int, int, Chain]], tuple[int, int]]:
        """libcst's share of the lines `first`..`last` between two statements: each body that ends
        above them (innermost first) takes the lines up to the last one indented at its level;
        the rest lead the next statement or clause."""
        footers = []
        for indent, chain in blocks:
            ends = [line for line in range(first, last + 1) if self.text(line).startswith(indent)]
            if ends:
                footers.append((first, ends[-1], chain))
                first = ends[-1] + 1
        return footers, (first, last)

    def _gap(
        self,
        line: int,
        first: int,
        last: int,
        blocks: list[tuple[str, Chain]],
        chain: Chain,
        target: Callable[[], int] | None,
    ) -> _Place:
        """A line between statements: in the footer of a body that ends above it, or leading
        what follows (`target`: the last line of what that is; None at the end of the file)."""
        footers, (first, last) = self._footers(first, last, blocks)
        for start, end, owner in footers:
            if start <= line <= end:
                return _Place(owner, segment=(start, end), footer=True)
        return _Place(chain, segment=(first, last), footer=target is None, target=target)

    # Comments and the lines a tag marks

    def comment_start(self, line: int, place: _Place) -> int | None:
        """The column where the line's comment starts, if it has one: its first `#` outside a
        string literal."""
        text = self.text(line)
        if place.segment is not None:
            stripped = text.lstrip()
            return len(text) - len(stripped) if stripped.startswith("#") else None
        spans = self._strings_on(line, place.roots)
        column = text.find("#")
        while column >= 0:
            inside = [node for node, start, end in spans if start <= column < end]
            if not inside or any(
                (line, column) in self._comments_within(node)
                for node in inside
                if node.lineno != node.end_lineno  # type: ignore[attr-defined]
            ):
                return column
            column = text.find("#", column + 1)
        return None

    def _strings_on(self, line: int, roots: Sequence[ast.AST]) -> list[tuple[ast.AST, int, int]]:
        """The string literals with a character on `line`, and the columns they cover there."""
        found = []
        stack = [node for node in roots if node.lineno <= line <= (node.end_lineno or node.lineno)]  # type: ignore[attr-defined]
        while stack:
            node = stack.pop()
            if isinstance(node, _STRINGS) and (
                not isinstance(node, ast.Constant) or isinstance(node.value, (str, bytes))
            ):
                start = self.char_col(line, node.col_offset) if node.lineno == line else 0  # type: ignore[attr-defined]
                end = (
                    self.char_col(line, node.end_col_offset or 0)  # type: ignore[attr-defined]
                    if node.end_lineno == line  # type: ignore[attr-defined]
                    else len(self.text(line)) + 1
                )
                found.append((node, start, end))
            else:
                stack.extend(self.on_line(node, line))
        return found

    def on_line(self, node: ast.AST, line: int) -> list[ast.AST]:
        """The children of `node` with a character on `line`: found by bisection in its children
        sorted once (a list of ten thousand elements is not walked again for every tag in it)."""
        kids = self._kids.get(id(node))
        if kids is None:
            nodes = sorted(_children([node]), key=lambda n: (n.lineno, n.col_offset))  # type: ignore[attr-defined]
            kids = self._kids[id(node)] = (nodes, [n.lineno for n in nodes], [n.end_lineno or n.lineno for n in nodes])  # type: ignore[attr-defined]
        nodes, firsts, lasts = kids
        index = bisect.bisect_right(firsts, line) - 1
        found = []
        while index >= 0 and lasts[index] >= line:  # siblings do not overlap: their last lines only grow
            found.append(nodes[index])
            index -= 1
        return found

    def _comments_within(self, node: ast.AST) -> set[tuple[int, int]]:
        """The comments between the parts of a string literal that runs over several lines
        (`("a"  # why` / `"b")`), as (line, column)."""
        if id(node) in self._within:
            return self._within[id(node)]
        first = node.lineno  # type: ignore[attr-defined]
        shift = self.char_col(first, node.col_offset) - 1  # type: ignore[attr-defined]
        lines = (text + "\n" for text in ("(" + self.segment(node) + ")").split("\n"))
        found = set()
        try:
            for token in tokenize.generate_tokens(lambda: next(lines, "")):
                if token.type == tokenize.COMMENT:
                    row, column = token.start
                    found.add((first + row - 1, column + shift if row == 1 else column))
        except (tokenize.TokenError, SyntaxError):
            pass
        self._within[id(node)] = found
        return found

    def block(self, line: int, column: int, place: _Place) -> tuple[int, int]:
        """The lines a tag comment marks. Between statements: itself, the comment lines directly
        under it and, when no blank line follows, what it annotates (the statements directly
        under it, the clause header, the decorator or the def line). In code: the element it
        stands above or trails, else the smallest element holding it, else its statement,
        clause or decorator."""
        if place.segment is not None:
            last = place.segment[1]
            run = 0
            while line + run < last and self.is_comment(line + run + 1):
                run += 1
            if line + run == last and place.target is not None and not place.footer:
                return line, place.target()
            return line, line + run
        assert place.holder is not None
        return self._element(line, column, place.roots) or place.holder

    def _element(self, line: int, column: int, roots: Sequence[ast.AST]) -> tuple[int, int] | None:
        text = self.text(line)
        own_line = not text[:column].strip()
        at = column
        if not own_line:  # the code the comment trails: its last character, not counting commas
            at = column - 1
            while at > 0 and text[at] in _TRAILING:
                at -= 1
        position = (line, self.byte_col(line, at))
        holding: list[ast.AST] = []
        nodes = [node for node in roots if hasattr(node, "lineno")]
        while nodes:
            node = next((n for n in nodes if _span(n)[0] <= position < _span(n)[1]), None)
            if node is None:
                break
            holding.append(node)
            nodes = self.on_line(node, line)
        for node in reversed(holding):
            elements = _elements(node)
            for start, end in elements:
                if start <= position < end:
                    return start[0], end[0]
            if own_line:
                below = [(start, end) for start, end in elements if start > position]
                if below:
                    start, end = min(below)
                    if start[0] > line and all(self.is_comment(n) for n in range(line + 1, start[0])):
                        return line, end[0]
        return None

    # Scopes

    def scope(self, chain: Chain, line_count: int) -> Scope:
        if not chain:
            return Scope("<module>", "module", 1, line_count, "")
        node = chain[-1]
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        if (
            kind == "function"
            and len(chain) >= 2
            and isinstance(chain[-2], ast.ClassDef)
            and any(s is node for s in chain[-2].body)
        ):
            kind = "method"
        qualname = ".".join(n.name for n in chain)
        return Scope(qualname, kind, self.start(node), node.end_lineno or node.lineno, self.signature(node))

    def signature(self, node: Def) -> str:
        """`def name(parameters) -> annotation` or `class Name(bases)`, on one line, without comments."""
        tokens = [t for t in self.header(node.lineno)[0] if t.type not in _NOT_SIGNATURE]
        names = [n for n, t in enumerate(tokens) if t.type == tokenize.NAME and t.string == node.name]
        after = names[0] + 1 if names else len(tokens)
        if after < len(tokens) and tokens[after].string == "[":  # type parameters (Python 3.12)
            after = _closing(tokens, after) + 1
        inner = ""
        if after < len(tokens) and tokens[after].string == "(":
            close = _closing(tokens, after)
            inner, after = _text(tokens[after + 1 : close]), close + 1
        if isinstance(node, ast.ClassDef):
            return f"class {node.name}({inner})" if inner else f"class {node.name}"
        prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        returns = _text(tokens[after + 1 :]) if after < len(tokens) and tokens[after].string == "->" else ""
        return f"{prefix} {node.name}({inner})" + (f" -> {returns}" if returns else "")


# A header on one line, with no string, comment, backslash or lambda in it, that ends with its colon
_ONE_LINE_HEADER = re.compile(r"(?![^'\"#\\]*\blambda\b)[^'\"#\\]*:[ \t\f]*")
_PIECE = re.compile(r"(?P<name>\w+)|(?P<op>->|\*\*|:=|[^\s\w])")


def _balanced(text: str) -> bool:
    """Whether the brackets of a line close, and only at its end (the colon is then the header's)."""
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _constant(value: int) -> Callable[[], int]:
    return lambda: value


_OPENING, _CLOSING = ("(", "[", "{"), (")", "]", "}")
_NOT_SIGNATURE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def _closing(tokens: list[tokenize.TokenInfo], opening: int) -> int:
    depth = 0
    for number in range(opening, len(tokens)):
        if tokens[number].string in _OPENING:
            depth += 1
        elif tokens[number].string in _CLOSING:
            depth -= 1
            if depth == 0:
                return number
    return len(tokens)


def _text(tokens: list[tokenize.TokenInfo]) -> str:
    """Tokens as their source wrote them, any run of spaces or line breaks as one space."""
    parts: list[str] = []
    for number, token in enumerate(tokens):
        if number and (token.start[0] != tokens[number - 1].end[0] or token.start[1] > tokens[number - 1].end[1]):
            parts.append(" ")
        parts.append(token.string)
    return " ".join("".join(parts).split())


def _bodies(statement: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        body = getattr(statement, name, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            yield body
    for handler in getattr(statement, "handlers", ()):
        yield handler.body
    for case in getattr(statement, "cases", ()):
        yield case.body


def _docstring(body: list[ast.stmt]) -> ast.Expr | None:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def _span(node: ast.AST) -> Span:
    return (node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0)  # type: ignore[attr-defined]


def _children(nodes: Sequence[ast.AST]) -> list[ast.AST]:
    """The children of `nodes` that have a place in the text; those that have none (a def's
    `arguments`, a comprehension's `for`, a `with` item) are looked through."""
    found = []
    stack = [child for node in nodes for child in ast.iter_child_nodes(node)]
    stack.reverse()
    while stack:
        node = stack.pop()
        if hasattr(node, "lineno"):
            found.append(node)
        else:
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found


def _elements(node: ast.AST) -> list[Span]:
    """The elements a tag inside `node`'s brackets may mark: list, tuple and set elements, dict
    entries, call arguments, parameters, base classes, imported names and `with` items."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_span(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return [(_span(k if k is not None else v)[0], _span(v)[1]) for k, v in zip(node.keys, node.values)]
    if isinstance(node, ast.Call):
        return sorted(_span(e) for e in [*node.args, *node.keywords])
    if isinstance(node, ast.ClassDef):
        return sorted(_span(e) for e in [*node.bases, *node.keywords])
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return _parameters(node.args)
    if isinstance(node, ast.ImportFrom):
        return [_span(alias) for alias in node.names]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [(_span(i.context_expr)[0], _span(i.optional_vars or i.context_expr)[1]) for i in node.items]
    return []


def _parameters(arguments: ast.arguments) -> list[Span]:
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    pairs: list[tuple[ast.arg, ast.expr | None]] = list(zip(positional, [*defaults, *arguments.defaults]))
    if arguments.vararg:
        pairs.append((arguments.vararg, None))
    pairs += zip(arguments.kwonlyargs, arguments.kw_defaults)
    if arguments.kwarg:
        pairs.append((arguments.kwarg, None))
    return sorted((_span(name)[0], _span(default or name)[1]) for name, default in pairs)
