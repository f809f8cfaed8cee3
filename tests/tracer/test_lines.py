"""Lines as tracer counts them: the range encoding of executed lines, and Python's logical lines
numbered within a scope, blind to what fingerprints are blind to."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracer.fingerprint import fingerprint_source
from tracer.lines import (
    attribute_lines,
    changed_lines,
    decode_ranges,
    encode_ranges,
    lines_within,
    numbered_lines,
    parse_ranges,
    runs_at_import,
    scope_numbers,
    source_index,
)
from tracer.tags import Change, Scope, TaggedScope

line_sets = st.frozensets(st.integers(min_value=1, max_value=5000), max_size=200)


@given(line_sets)
def test_ranges_round_trip(lines):
    assert decode_ranges(encode_ranges(lines)) == lines


@given(line_sets)
def test_ranges_are_ascending_disjoint_and_never_touch(lines):
    text = encode_ranges(lines)
    bounds = [
        tuple(map(int, part.split("-"))) if "-" in part else (int(part), int(part)) for part in text.split(",") if part
    ]
    assert all(start < end for start, end in bounds if start != end)
    assert all(previous[1] + 1 < following[0] for previous, following in zip(bounds, bounds[1:]))
    assert encode_ranges(decode_ranges(text)) == text  # one spelling for each set of lines


@given(st.text(alphabet="0123456789-, ", max_size=20))
def test_any_other_text_is_refused_or_spelled_as_written(text):
    try:
        pairs = parse_ranges(text)
    except ValueError:
        return
    assert ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs) == text
    assert all(a <= b < c - 1 for (a, b), (c, _) in zip(pairs, pairs[1:]))


@given(line_sets, line_sets)
def test_lines_within_ranges_are_found_without_expanding_them(recorded, asked):
    assert lines_within(encode_ranges(recorded), asked) == recorded & asked


def test_a_huge_range_costs_nothing_to_read():
    assert lines_within("1-999999", [5, 1_000_000]) == {5}


@pytest.mark.parametrize("text", ["3,1", "1-3,2", "1-2,3", "3-3", "5-2", "0", "01", "1,", " 1", "-1", "1-"])
def test_ranges_written_by_hand_that_no_writer_writes_are_refused(text):
    with pytest.raises(ValueError):
        decode_ranges(text)


def test_examples():
    assert encode_ranges([3, 4, 5, 7]) == "3-5,7"
    assert encode_ranges([]) == "" and decode_ranges("") == frozenset()
    with pytest.raises(ValueError):
        encode_ranges([0, 1])


SOURCE = textwrap.dedent('''\
    import math


    def step(x, y=(1,
                   2)):
        """Docstring: never runs."""
        # BUG-20250101-001: clamp
        x = min(
            max(x, 0.0),
            1.0)
        global G
        if x:
            pass
        else:
            x = 2
        return math.tanh(x)  # BUG-20250101-001: stable


    class Head:
        # BUG-20250101-001: a class attribute
        k = 50

        @staticmethod
        def m():
            return 1
    ''')


def tagged(qualname: str, kind: str, start: int, end: int, *changes: tuple[int, int]) -> TaggedScope:
    return TaggedScope(
        "demo.py",
        Scope(qualname, kind, start, end, ""),
        tuple(Change(a, b, "comment", "", ("BUG-20250101-001",), a) for a, b in changes),
    )


STEP = tagged("step", "function", 4, 16, (7, 10), (16, 16))
HEAD = tagged("Head", "class", 19, 25, (20, 21))


def test_a_scopes_lines_are_its_logical_lines_numbered_from_its_first():
    index = source_index(SOURCE)
    assert numbered_lines(STEP, index) == (4, 6, 8, 11, 12, 13, 14, 15, 16)  # 4-5 and 8-10 are one line each
    # the docstring, `global` and `else:` never run; the comment is no line
    assert sorted(changed_lines(STEP, index)) == [3, 9]  # `x = min(...)` and the return
    assert scope_numbers(STEP, index, [9, 10, 12, 16]) == frozenset({3, 5, 9})


def test_numbers_survive_what_fingerprints_ignore():
    moved = "\n\n# a comment above\n" + SOURCE.replace(
        "        x = min(\n            max(x, 0.0),\n            1.0)",
        "        # more words\n\n        x = min(max(x, 0.0), 1.0)",
    )
    before, after = source_index(SOURCE), source_index(moved)
    shifted = tagged("step", "function", 7, 19, (10, 12), (19, 19))
    assert fingerprint_source(SOURCE.splitlines()[3]) == fingerprint_source(moved.splitlines()[6])
    assert changed_lines(STEP, before) == changed_lines(shifted, after)
    assert len(numbered_lines(STEP, before)) == len(numbered_lines(shifted, after))


def test_a_class_body_runs_at_import_and_its_methods_when_called():
    index = source_index(SOURCE)
    assert runs_at_import(HEAD, index) and not runs_at_import(STEP, index)
    nested = source_index("def outer():\n    class Inner:\n        k = 1\n    return Inner\n")
    assert not runs_at_import(TaggedScope("x.py", Scope("outer.Inner", "class", 2, 3, ""), ()), nested)


def test_lines_go_to_the_innermost_scope_that_runs_when_they_do():
    index = source_index(SOURCE)
    method = tagged("Head.m", "method", 23, 25, (25, 25))
    scopes = [STEP, HEAD, method]
    assert attribute_lines(scopes, {"demo.py": [9, 16, 25]}, {"demo.py": index}) == {
        "demo.py::Head.m": "3",
        "demo.py::step": "3,9",
    }
    assert attribute_lines(scopes, {"demo.py": [21]}, {"demo.py": index}, at_import=True) == {"demo.py::Head": "2"}
    assert attribute_lines(scopes, {"demo.py": [21]}, {"demo.py": index}) == {}


def test_a_file_that_does_not_parse_has_no_lines():
    assert source_index("def broken(:\n").starts == ()
