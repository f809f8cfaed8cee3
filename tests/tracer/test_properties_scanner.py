"""Properties of the scanner over generated input: it never raises, its ranges lie inside the
file and each change inside its scope; the tag matcher agrees with a plain regex; the prefilter
never drops a file that holds an ID. A few hundred examples each; set
TRACER_HYPOTHESIS_EXAMPLES for a longer run."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer.scanner import FileScan, Prefilter, compile_id_pattern, match_tag, scan_file, scan_source
from tracer.sourcetext import split_lines

EXAMPLES = int(os.environ.get("TRACER_HYPOTHESIS_EXAMPLES", "200"))
ID = re.compile(r"BUG-\d{8}-\d{3}")
TAG = "# BUG-20250101-001: fix"
quick = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Lines that make up generated files: valid and broken Python, tags in every place a comment
# can go, odd line breaks and characters Python does not break lines at.
FRAGMENTS = [
    "def f(x):",
    "async def g():",
    "class C(Base):",
    "@decorator",
    "@d(\n    1,\n)",
    "if x:",
    "elif y:",
    "else:",
    "try:",
    "except ValueError:",
    "finally:",
    "for i in x:",
    "while x:",
    "with a as b:",
    "match x:",
    "case 1:",
    "return x",
    "pass",
    "x = (",
    ")",
    "y = [1,",
    "2]",
    "'''",
    '"""doc BUG-20250101-002"""',
    "r'''BUG-20250101-003: raw'''",
    TAG,
    "# BUG-2025: malformed",
    "# BUG-20250101-001, BUG-20250101-002 and",
    "x = 1  " + TAG,
    "",
    "\\",
    "s = 'a\fb'",
    "\x0c",
    "lambda: (",
    "\t",
    "# -*- coding: latin-1 -*-",
    "\0",
]
INDENTS = ["", "    ", "        ", "  ", "\t"]
line = st.tuples(st.sampled_from(INDENTS), st.sampled_from(FRAGMENTS)).map("".join)
ending = st.sampled_from(["\n", "\r\n", "\r"])
sources = st.lists(st.tuples(line, ending).map("".join), max_size=25).map("".join)


def check_ranges(scan: FileScan, source: str) -> None:
    lines = max(1, len(split_lines(source)))
    for tagged in scan.scopes:
        scope = tagged.scope
        assert 1 <= scope.start_line <= scope.end_line <= lines, scope
        for change in tagged.changes:
            assert scope.start_line <= change.start_line <= change.end_line <= scope.end_line, (scope, change)
            assert change.start_line <= change.tag_line <= change.end_line, change
    for problem in scan.problems:
        assert 1 <= problem.line <= lines + 1, problem


@quick
@given(sources)
def test_the_scanner_never_raises_and_its_ranges_nest(source):
    scan = scan_source("gen.py", source, ID)
    if scan.problems:
        assert [p.code for p in scan.problems] == ["T001"] and "cannot scan" not in scan.problems[0].message
    check_ranges(scan, source)


@quick
@given(st.binary(max_size=200).map(lambda noise: TAG.encode() + b"\n" + noise))
def test_bytes_never_raise(data):
    scan = scan_file("gen.py", data, ID)
    assert all(p.code in ("T001", "T002") and "cannot scan" not in p.message for p in scan.problems)


@settings(
    max_examples=max(5, EXAMPLES // 25),
    deadline=None,  # generating valid Python is slow
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(st.data())
def test_valid_python_with_tags_everywhere(data):
    hypothesmith = pytest.importorskip("hypothesmith")
    source = data.draw(hypothesmith.from_grammar())
    lines = source.splitlines(keepends=True) or [""]
    at = data.draw(st.integers(0, len(lines)))
    indent = data.draw(st.sampled_from(INDENTS))
    tagged = "".join(lines[:at]) + f"{indent}{TAG}\n" + "".join(lines[at:])
    scan = scan_source("gen.py", tagged, ID)
    check_ranges(scan, tagged)
    assert all("cannot scan" not in p.message for p in scan.problems)


# The matcher against a plain regex, for patterns a regex can embed safely

SIMPLE_PATTERNS = [r"BUG-\d+", r"[A-Z]+-\d{2}", r"gh-\d+|bpo-\d+", r"X\d?"]
comment_parts = st.sampled_from(
    [
        "BUG-1",
        "BUG-22",
        "AB-12",
        "gh-3",
        "bpo-4",
        "X",
        "X1",
        " ",
        ",",
        "&",
        "/",
        "and",
        " and ",
        ":",
        "x",
        "\t",
        "\f",
        "\u2028",
        "#",
        "-",
        "1",
    ]
)
comments = st.lists(comment_parts, max_size=12).map(lambda parts: "#" + "".join(parts))


def reference(comment: str, pattern: str) -> tuple[tuple[str, ...], str] | None:
    one = f"(?:{pattern})"
    found = re.match(
        rf"#\s*(?P<ids>{one}(?:\s*(?:,|&|/|\band\b)?\s*{one})*)\s*:?\s*(?P<text>.*?)\s*\Z", comment, re.DOTALL
    )
    if found is None or not found.group("ids"):
        return None
    ids = [m.group() for m in re.finditer(pattern, found.group("ids")) if m.group()]
    return tuple(dict.fromkeys(ids)), found.group("text")


@quick
@given(comments, st.sampled_from(SIMPLE_PATTERNS))
def test_the_matcher_agrees_with_a_plain_regex(comment, pattern):
    found = match_tag(comment, re.compile(pattern))
    expected = reference(comment, pattern)
    assert (found.ids, found.text) == expected if found else expected is None


# The prefilter never drops a file with a match

atoms = st.sampled_from(
    ["bug", "BUG", "gh", "bpo", "-", r"\d", r"\d+", "[Bb]", "[a-z]", "s?", "(?:x|y)", "k", "i", "_", r"\w"]
)
patterns = st.lists(atoms, min_size=1, max_size=4).map("".join)
alternations = st.lists(patterns, min_size=1, max_size=3).map("|".join)
flagged = st.tuples(st.sampled_from(["", "(?i)", "(?a)", "(?ai)"]), alternations).map("".join)
texts = st.lists(
    st.sampled_from(
        [
            "bug",
            "BUG",
            "Bug",
            "gh",
            "GH",
            "bpo",
            "-",
            "1",
            "22",
            "x",
            "y",
            "s",
            "k",
            "i",
            "\u0130",
            "\u0131",
            "\u017f",
            "\u212a",
            "\u0663",
            " ",
            "_",
            "\n",
        ]
    ),
    max_size=10,
).map("".join)


@quick
@given(flagged, texts, st.sampled_from(["utf-8", "latin-1"]))
def test_the_prefilter_never_drops_a_file_with_a_match(pattern, text, encoding):
    try:
        regex = compile_id_pattern(pattern)
    except Exception:
        return  # an empty-matching pattern is refused before any scan
    source = f"# -*- coding: {encoding} -*-\nx = 1  # {text}\n"
    try:
        data = source.encode(encoding)
    except UnicodeEncodeError:
        return
    if regex.search(source):
        assert Prefilter(regex).may_match(data)


# The prefilter never drops a file the scan finds a tag or a malformed tag in, whichever way it
# searches (the literal, the pattern over the bytes, or over the text)

byte_atoms = st.sampled_from(["#", r"\d", r"\d+", r"\s", r"\w", r"\b", "x", "X", "-", "[^a]", "é", r"(?i)", "k", "#?"])
byte_patterns = st.lists(byte_atoms, min_size=1, max_size=4).map("".join)
byte_texts = st.lists(
    st.sampled_from(
        ["#", " ", "x", "X", "K", "\u212a", "1", "\u0663", "-", "\x1c", "\x85", "\u00a0", "é", "a", "\n", "# "]
    ),
    max_size=12,
).map("".join)


@quick
@given(byte_patterns, byte_texts)
def test_the_prefilter_never_drops_a_file_the_scan_finds_something_in(pattern, text):
    try:
        regex = compile_id_pattern(pattern)
    except Exception:
        return  # refused before any scan
    data = f"x = 1\n{text}\n".encode()
    scan = scan_file("gen.py", data, regex)
    if scan.scopes or scan.malformed:
        assert Prefilter(regex).may_match(data), (pattern, text)
