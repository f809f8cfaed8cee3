"""The scanner's rules, one shape at a time: scope, scope range, change block and text."""

from __future__ import annotations

import re
import textwrap

import pytest

from tracer.config import DEFAULT_ID_PATTERN
from tracer.diffs import scope_ranges
from tracer.scanner import all_tags, iter_tagged, literal_prefix, scan_file, scan_source

ID = re.compile(DEFAULT_ID_PATTERN)
A = "BUG-20250101-001"
B = "BUG-20250101-002"


def scan(source: str):
    return scan_source("example.py", textwrap.dedent(source).lstrip("\n"), ID)


def only(source: str):
    """The one tagged scope of a source, as (qualname, kind, start, end) and its changes."""
    result = scan(source)
    assert not result.problems
    assert len(result.scopes) == 1, result.scopes
    tagged = result.scopes[0]
    s = tagged.scope
    return (s.qualname, s.kind, s.start_line, s.end_line), [
        (c.start_line, c.end_line, c.kind, c.text) for c in tagged.changes
    ]


def test_comment_marks_the_statements_directly_under_it_up_to_a_blank_line():
    scope, changes = only(
        f"""
        def clamp(x):
            y = 1
            # {A}: Clamp inputs to prevent extreme values
            x = max(x, 0)
            x = min(x, 1)

            return x
        """
    )
    assert scope == ("clamp", "function", 1, 7)
    assert changes == [(3, 5, "comment", "Clamp inputs to prevent extreme values")]


def test_comment_lines_directly_under_the_tag_belong_to_the_block():
    _, changes = only(
        f"""
        def f(x):
            # {A}: Explain
            # in two lines
            return x
        """
    )
    assert changes == [(2, 4, "comment", "Explain")]


def test_a_comment_line_ends_the_run_of_statements():
    _, changes = only(
        f"""
        def f(x):
            # {A}: first
            a = 1
            # unrelated
            b = 2
        """
    )
    assert changes == [(2, 3, "comment", "first")]


def test_tag_with_no_statement_directly_after_is_the_comment_lines_alone():
    _, changes = only(
        f"""
        def f(x):
            # {A}: a note

            return x
        """
    )
    assert changes == [(2, 2, "comment", "a note")]


def test_compound_statement_after_a_tag_is_taken_whole():
    _, changes = only(
        f"""
        def f(x):
            # {A}: Validate
            if x != x:
                raise ValueError(
                    "nan"
                )
            return x
        """
    )
    assert changes == [(2, 7, "comment", "Validate")]


def test_method_nested_in_class_gets_a_dotted_qualname():
    scope, _ = only(
        f"""
        class Head:
            k = 50

            def step(self, x):
                # {A}: fix
                return x
        """
    )
    assert scope == ("Head.step", "method", 4, 6)


def test_nested_function_is_named_without_locals():
    scope, _ = only(
        f"""
        def outer():
            def inner():
                # {A}: fix
                return 1
            return inner
        """
    )
    assert scope == ("outer.inner", "function", 2, 4)


def test_decorators_start_the_scope_range_and_properties_are_methods():
    scope, _ = only(
        f"""
        class C:
            @property
            @staticmethod
            def value(self):
                # {A}: fix
                return 1
        """
    )
    assert scope == ("C.value", "method", 2, 6)


def test_async_def_is_a_function():
    scope, changes = only(
        f"""
        async def fetch():
            # {A}: retry
            await go()
        """
    )
    assert scope == ("fetch", "function", 1, 3)
    assert changes == [(2, 3, "comment", "retry")]


def test_tag_in_a_class_body_belongs_to_the_class():
    scope, changes = only(
        f"""
        class Config:
            # {A}: a safer default
            eps = 1e-6
        """
    )
    assert scope == ("Config", "class", 1, 3)
    assert changes == [(2, 3, "comment", "a safer default")]


def test_module_level_tag_belongs_to_the_module_spanning_the_file():
    scope, changes = only(
        f"""
        import math

        # {A}: a constant
        LIMIT = 88.0
        """
    )
    assert scope == ("<module>", "module", 1, 4)
    assert changes == [(3, 4, "comment", "a constant")]


def test_comment_above_a_def_is_outside_it_and_marks_the_whole_def():
    scope, changes = only(
        f"""
        # {A}: new helper
        def helper():
            return 1
        """
    )
    assert scope[0] == "<module>"
    assert changes == [(1, 3, "comment", "new helper")]


def test_comment_after_code_marks_its_statement():
    _, changes = only(
        f"""
        def f(x):
            y = 2
            return min(x, 1)  # {A}: cap at one
        """
    )
    assert changes == [(3, 3, "comment", "cap at one")]


def test_comment_inside_brackets_marks_the_smallest_statement_holding_it():
    _, changes = only(
        f"""
        def f(x):
            total = sum(
                # {A}: skip NaN
                v for v in x if v == v
            )
            return total
        """
    )
    assert changes == [(2, 5, "comment", "skip NaN")]


def test_trailing_comment_of_a_body_belongs_to_it_and_extends_the_scope():
    scope, changes = only(
        f"""
        def f(x):
            return x
            # {A}: nothing after the return is reachable
        y = 1
        """
    )
    assert scope == ("f", "function", 1, 3)
    assert changes == [(3, 3, "comment", "nothing after the return is reachable")]


def test_docstring_tag_marks_the_docstring_and_belongs_to_its_function():
    scope, changes = only(
        f'''
        def step(x):
            """Stable step.

            {A}: sigmoid instead of reciprocal + exp.
            """
            return x
        '''
    )
    assert scope == ("step", "function", 1, 6)
    assert changes == [(2, 5, "docstring", "sigmoid instead of reciprocal + exp")]


def test_module_docstring_tag_with_id_at_the_end_of_the_line():
    scope, changes = only(
        f'''
        """Checks cheap enough for every pass ({A})."""
        X = 1
        '''
    )
    assert scope == ("<module>", "module", 1, 2)
    assert changes == [(1, 1, "docstring", "Checks cheap enough for every pass")]


def test_one_comment_may_name_several_ids():
    result = scan(
        f"""
        def f():
            # {A}, {B}: shared fix
            return 1
        """
    )
    (change,) = result.scopes[0].changes
    assert change.bug_ids == (A, B) and change.text == "shared fix"


def test_tag_without_colon_and_ordinary_strings_are_handled():
    result = scan(
        f"""
        def f():
            # {A} fix without colon
            s = "{B}: inside a string is not a tag"
            return s
        """
    )
    (change,) = result.scopes[0].changes
    assert change.text == "fix without colon" and change.bug_ids == (A,)


def test_crlf_files_give_the_same_lines():
    source = f"def f(x):\r\n    y = 1\r\n    # {A}: fix\r\n    return x\r\n"
    result = scan_source("crlf.py", source, ID)
    tagged = result.scopes[0]
    assert (tagged.scope.start_line, tagged.scope.end_line) == (1, 4)
    assert [(c.start_line, c.end_line, c.text) for c in tagged.changes] == [(3, 4, "fix")]


def test_a_file_with_a_syntax_error_is_a_problem_with_its_line_not_a_crash():
    result = scan_source("broken.py", f"def f():\n    x = = 1  # {A}: x\n", ID)
    assert result.scopes == ()
    (problem,) = result.problems
    assert problem.path == "broken.py" and problem.line == 2 and "cannot parse" in problem.message


def test_malformed_ids_are_reported_not_traced():
    result = scan(
        """
        def f():
            # BUG-2025-01: not a valid id
            return 1
        """
    )
    assert result.scopes == ()
    assert [(m.line, m.text) for m in result.malformed] == [(2, "# BUG-2025-01: not a valid id")]


def test_signature_of_a_method_is_on_one_line():
    result = scan(
        f"""
        class C:
            async def run(
                self,
                x: int = 1,
            ) -> int:
                # {A}: fix
                return x
        """
    )
    assert result.scopes[0].scope.signature == "async def run(self, x: int = 1,) -> int"


@pytest.mark.parametrize(
    ("pattern", "prefix"), [(DEFAULT_ID_PATTERN, "BUG-"), (r"ISSUE-\d+", "ISSUE-"), (r"[A-Z]+-\d+", "")]
)
def test_literal_prefix_of_the_id_pattern(pattern, prefix):
    assert literal_prefix(pattern) == prefix


def test_old_scope_ranges_by_qualname():
    source = "class A:\n    @d\n    def f(self):\n        pass\n\ndef f():\n    pass\n"
    assert scope_ranges(source)["A.f"] == (2, 4)
    assert scope_ranges(source)["f"] == (6, 7)
    assert "missing" not in scope_ranges(source)


def test_each_id_of_a_docstring_gets_the_text_of_the_line_that_first_names_it():
    result = scan(
        f'''
        def f():
            """Summary.

            {A}: first fix.
            {B}: second fix; see also {A}.
            """
        '''
    )
    changes = result.scopes[0].changes
    assert [(c.bug_ids, c.text, c.tag_line) for c in changes] == [
        ((A,), "first fix", 4),
        ((B,), "second fix; see also", 5),
    ]


# Clauses, decorators and docstrings on the def line (issue 10)


@pytest.mark.parametrize(
    ("clause", "header"),
    [
        ("else:", "else:"),
        ("elif y:", "elif y:"),
        ("except ValueError:", "except ValueError:"),
        ("finally:", "finally:"),
    ],
)
def test_a_tag_above_a_clause_marks_the_comment_and_the_clause_header(clause, header):
    opener = "try:" if clause.startswith(("except", "finally")) else "if x:"
    _, changes = only(
        f"""
        def f(x, y):
            {opener}
                a = 1
            # {A}: why this clause
            {clause}
                b = 2
            return a
        """
    )
    assert changes == [(4, 5, "comment", "why this clause")]


def test_a_tag_above_a_multi_line_clause_header_marks_it_to_its_colon():
    _, changes = only(
        f"""
        def f():
            try:
                pass
            # {A}: catch both
            except (ValueError,
                    TypeError):
                pass
        """
    )
    assert changes == [(4, 6, "comment", "catch both")]


def test_a_tag_between_decorators_marks_the_comment_and_that_decorator():
    scope, changes = only(
        f"""
        @first
        # {A}: cache the result
        @functools.lru_cache(
            maxsize=1,
        )
        @last
        def f():
            return 1
        """
    )
    assert scope == ("f", "function", 1, 8)
    assert changes == [(2, 5, "comment", "cache the result")]


def test_a_tag_between_the_decorators_and_the_def_marks_the_def_line():
    _, changes = only(
        f"""
        @d
        # {A}: async now
        async def f(
            x,
        ):
            return x
        """
    )
    assert changes == [(2, 5, "comment", "async now")]


def test_a_docstring_that_opens_on_the_def_line_is_found():
    scope, changes = only(f'def basics(): r"""{A}: raw docstring on the def line"""\n')
    assert scope == ("basics", "function", 1, 1)
    assert changes == [(1, 1, "docstring", "raw docstring on the def line")]


def test_bytes_and_f_strings_are_not_docstrings():
    result = scan(
        f'''
        def f():
            b"{A}: bytes"
        def g():
            f"{A}: {{x}}"
        '''
    )
    assert result.scopes == () and result.problems == ()


# Lines as Python counts them (issue 10)


@pytest.mark.parametrize("odd", ["\f", "\v", "\x85", "\u2028", "\x1c"])
def test_only_python_line_breaks_count(odd):
    source = f"s = 'a{odd}b'  # {odd}\ndef f():\n    # {A}: fix\n    return 1\n"
    (tagged,) = scan_source("odd.py", source, ID).scopes
    assert (tagged.scope.start_line, tagged.scope.end_line) == (2, 4)
    assert [(c.start_line, c.end_line) for c in tagged.changes] == [(3, 4)]


def test_lone_carriage_returns_are_line_breaks():
    source = f"x = 1\rdef f():\r    # {A}: fix\r    return 1\r"
    (tagged,) = scan_source("cr.py", source, ID).scopes
    assert (tagged.scope.start_line, [(c.start_line, c.end_line) for c in tagged.changes]) == (2, [(3, 4)])


def test_files_are_decoded_by_their_cookie_and_bom():
    latin = f"# -*- coding: latin-1 -*-\ndef f():\n    # {A}: caf\xe9\n    return 1\n".encode("latin-1")
    assert scan_file("latin.py", latin, ID).scopes[0].changes[0].text == "caf\xe9"
    bom = b"\xef\xbb\xbf" + f"def f():\n    # {A}: with a BOM\n    return 1\n".encode()
    assert scan_file("bom.py", bom, ID).scopes[0].scope.start_line == 1
    (problem,) = scan_file("bad.py", b"x = 1\n# \xff\n", ID).problems
    assert (problem.code, problem.line) == ("T002", 2)


# Failures are findings (issue 10)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("def f(:\n    pass\n", 1),
        ("x = (\n1,\n", 1),
        ("if x:\n    pass\n  else:\n    pass\n", 3),
        ("x = 1\n\n\nclass\n", 4),
        ("x = " + "(" * 300 + "1" + ")" * 300 + "\n", 1),
        ("x = " + " + ".join(["1"] * 20000) + "\n", 0),  # too deep for Python to say where
    ],
    ids=["open-paren", "unclosed", "dedent", "class", "deep-parens", "long-sum"],
)
def test_a_file_that_does_not_parse_is_a_finding_on_pythons_line(source, line):
    (problem,) = scan_source("broken.py", f"# {A}: x\n" + source, ID).problems
    assert (problem.code, problem.line) == ("T001", line + 1) and problem.message.startswith("cannot parse")
    # one line above each: the tag that makes the file worth parsing


def test_a_long_chain_of_concatenated_strings_is_scanned():
    source = "x = (\n" + "".join(f'    "s{i}"\n' for i in range(3000)) + f")  # {A}: long\n"
    ((change,),) = [t.changes for t in scan_source("chain.py", source, ID).scopes]  # 3000 levels deep in libcst
    assert (change.start_line, change.end_line) == (1, 3002)


def test_anything_a_file_raises_is_its_finding(monkeypatch):
    import tracer.outline

    def explode(*args):
        raise MemoryError("out of memory")

    monkeypatch.setattr(tracer.outline._File, "locate", explode)
    (problem,) = scan_source("x.py", f"# {A}: x\n", ID).problems
    assert problem.code == "T001" and "MemoryError: out of memory" in problem.message


def test_old_scope_ranges_of_a_file_that_does_not_parse_say_so():
    with pytest.raises(SyntaxError):
        scope_ranges("def f(:\n")


# Every tag of every ID


def test_all_tags_lists_every_id_with_its_scopes():
    result = scan(
        f"""
        def f():
            # {B}, {A}: both
            return 1

        def g():
            \"\"\"{B}: only b.\"\"\"
        """
    )
    tags = all_tags([result])
    assert [t.bug_id for t in tags] == [A, B]
    assert [s.scope.qualname for s in tags[1].scopes] == ["f", "g"]
    assert tags[0].scopes == tuple(iter_tagged([result], A))


def test_without_a_thread_for_the_parser_the_scan_runs_inline(monkeypatch):
    import threading

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    _, changes = only(f"def f():\n    # {A}: still found\n    return 1\n")
    assert changes == [(2, 3, "comment", "still found")]
