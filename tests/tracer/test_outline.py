"""The scan reads Python's `ast` and the file's text (tracer.outline), not libcst's tree. Checked
here against the libcst walk it replaced (tracer.syntax, still the reader of syntax newer than
the running Python): on real modules and on generated files, with nearly every comment and
docstring line a tag, both give the same scopes and the same blocks, except that a tag inside
brackets now marks the element holding it, which lies within the statement it marked before."""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer import outline, syntax
from tracer.prefilter import Prefilter
from tracer.scanner import scan_source
from tracer.tags import FileScan

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = [
    "typing.py",
    "argparse.py",
    "dataclasses.py",
    "asyncio/base_events.py",
    "email/_header_value_parser.py",
    "inspect.py",
    "functools.py",
]
EVERY_WORD = Prefilter(re.compile(r"[A-Za-z]\w*"))  # nearly every comment and docstring line is a tag


def assert_agrees(source: str) -> None:
    try:
        module = syntax.parse(source)
    except outline.Unparsable:
        return  # the old walk had nothing to say of it (T001)
    if module.code != source:
        return  # libcst lost a line (`pass\n\n  # t\n` comes back without its blank line): the old walk misnumbers
    old = syntax.scan_module("m.py", source, EVERY_WORD)
    new = outline.scan("m.py", source, outline.parse(source), EVERY_WORD)
    assert scopes(new) == scopes(old)
    assert new.malformed == old.malformed
    old_blocks, new_blocks = comment_blocks(old), comment_blocks(new)
    assert old_blocks.keys() == new_blocks.keys()
    for key, (start, end) in new_blocks.items():
        old_start, old_end = old_blocks[key]
        assert old_start <= start <= end <= old_end, (key, (start, end), (old_start, old_end))
    assert docstrings(new) == docstrings(old)


def scopes(scan: FileScan) -> set[tuple[str, str, int, int]]:
    return {(t.scope.qualname, t.scope.kind, t.scope.start_line, t.scope.end_line) for t in scan.scopes}


def comment_blocks(scan: FileScan) -> dict[tuple[str, int], tuple[int, int]]:
    return {
        (t.scope.qualname, c.tag_line): (c.start_line, c.end_line)
        for t in scan.scopes
        for c in t.changes
        if c.kind == "comment"
    }


def docstrings(scan: FileScan) -> list[object]:
    return sorted((t.scope.qualname, c) for t in scan.scopes for c in t.changes if c.kind == "docstring")


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_the_scan_agrees_with_the_libcst_walk_on_real_modules(name, newline):
    path = STDLIB / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this Python's standard library")
    assert_agrees(path.read_text(encoding="utf-8").replace("\n", newline))


# Generated files: valid Python whose statements, clauses, decorators and brackets have comment
# lines ("# t", a tag) and blank lines between them at every indentation.
SIMPLE = [
    "pass",
    "return x",
    "x = 1  # t",
    "x = 1; y = 2  # t",
    "s = 'a # t'  # t",
    "z = ('a'  # t\n{i}     'b')",
    "x = [\n{i}    1,  # t\n{i}    # t\n{i}    f(a,\n{i}      b),\n{i}]",
    "y = {{'a': 1,  # t\n{i}     # t\n\n{i}     'b': 2}}",
    "call(\n{i}    # t\n{i}    a, *b, k=(\n{i}        1),\n{i})  # t",
    "total = (a\n{i}         # t\n{i}         + b)",
]
HEADERS = [
    ("def f(x):", []),
    ("async def g(\n{i}    a,  # t\n{i}    # t\n{i}    b=1,\n{i}) -> int:", []),
    ("class C(A,  # t\n{i}        B):", []),
    ("if x:", ["elif y:  # t", "else:"]),
    ("for i in x:", ["else:"]),
    ("while x:  # t", []),
    ("with a as b, c:", []),
    ("try:", ["except (A,  # t\n{i}        B):  # t", "else:", "finally:"]),
    ("match x:", []),
]
FILLER = ["# t", "# t: two", "", "# not a tag line t", "        # t", "  # t"]


@st.composite
def fillers(draw: st.DrawFn, indent: str) -> list[str]:
    return [
        line if not line or line.startswith(" ") else indent + line
        for line in draw(st.lists(st.sampled_from([*FILLER, "\x0c"]), max_size=3))
    ]


@st.composite
def body(draw: st.DrawFn, indent: str, depth: int) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        out += draw(fillers(indent))
        if depth >= 3 or draw(st.booleans()):
            out.append(indent + draw(st.sampled_from(SIMPLE)).format(i=indent))
            continue
        header, clauses = draw(st.sampled_from(HEADERS))
        if header.startswith(("def", "async", "class")):
            for _ in range(draw(st.integers(0, 2))):
                out.append(
                    indent
                    + draw(st.sampled_from(["@d", "@d(\n{i}    1,  # t\n{i}    # t\n{i}    2,\n{i})"])).format(i=indent)
                )
                out += draw(fillers(indent))
        out.append(indent + header.format(i=indent))
        inner = indent + "    "
        if header.startswith("match"):
            for pattern in draw(
                st.lists(st.sampled_from(["case 1:", "case [1,\n{i}      2]:  # t", "case _:"]), min_size=1, max_size=2)
            ):
                out += draw(fillers(inner))
                out.append(inner + pattern.format(i=inner))
                out += draw(body(inner + "    ", depth + 1))
            continue
        if draw(st.booleans()):
            out += draw(fillers(inner))
            out.append(inner + '"""doc t"""')
        out += draw(body(inner, depth + 1))
        for number, clause in enumerate(clauses):
            if draw(st.booleans()) or (header == "try:" and number == 0):  # a try needs its except
                out += draw(fillers(indent))
                out.append(indent + clause.format(i=indent))
                out += draw(body(inner, depth + 1))
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.tuples(fillers(""), body("", 0), fillers("")), st.sampled_from(["\n", "\r\n", "\r"]))
def test_the_scan_agrees_with_the_libcst_walk_on_generated_files(parts, newline):
    head, middle, tail = parts
    source = "\n".join([*head, *middle, *tail]).replace("\n", newline) + newline
    outline.parse(source)  # the generator writes valid Python only
    assert_agrees(source)


def test_a_file_python_parses_and_libcst_does_not_is_traced():
    source = "def f():\n    # BUG-20250101-001: a parenthesised annotated target\n    (y): int = 1\n"
    with pytest.raises(outline.Unparsable):
        syntax.parse(source)  # what the scan stopped at before: a T001, and the tag lost
    scan = scan_source("grammar.py", source, re.compile(r"BUG-\d{8}-\d{3}"))
    assert not scan.problems
    ((tagged,),) = [scan.scopes]
    assert (tagged.scope.qualname, [(c.start_line, c.end_line) for c in tagged.changes]) == ("f", [(2, 3)])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="`type` statements parse on this Python")
def test_syntax_newer_than_this_python_is_read_by_libcst():
    source = "type Alias = int\n\ndef f():\n    # BUG-20250101-001: fix\n    return 1\n"
    scan = scan_source("new.py", source, re.compile(r"BUG-\d{8}-\d{3}"))
    assert not scan.problems and scan.scopes[0].scope.qualname == "f"


def test_no_tree_is_kept_after_a_scan():
    import gc

    source = (STDLIB / "typing.py").read_text(encoding="utf-8")
    scan_source("typing.py", source, re.compile(r"[A-Za-z]\w*"))
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is outline._File]
