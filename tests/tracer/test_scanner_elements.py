"""A tag inside a large expression (PyTorch's `op_db` list runs to 11,000 lines) marks the
smallest element that holds it, never the whole statement; a block several tags mark is listed
once, with every tag's line."""

from __future__ import annotations

import json
import re
import textwrap

from tests.conftest import make_files
from tracer.cli import main
from tracer.scanner import all_tags, iter_tagged, scan_source

ID = re.compile(r"gh-\d+")


def blocks(source: str) -> dict[str, tuple[str, int, int]]:
    """{bug id: (scope, first line, last line)} of each tag in a source."""
    scan = scan_source("ops.py", textwrap.dedent(source).lstrip("\n"), ID)
    assert not scan.problems and not scan.malformed
    return {c.bug_ids[0]: (t.scope.qualname, c.start_line, c.end_line) for t in scan.scopes for c in t.changes}


OP_DB = """
op_db = [
    OpInfo('sin',
           dtypes=floating_types(),
           # gh-1: slow on ROCm
           gradcheck_fast_mode=True,
           skips=(
               DecorateInfo(skip, 'TestA'),
               # gh-2: flaky
               DecorateInfo(skip, 'TestB',
                            device_type='cuda'),
           )),
    # gh-3: a new op
    OpInfo('cos'),
    OpInfo('tan', supports_out=False,  # gh-4: no out= variant
           sample_inputs_func=sample_tan),
    OpInfo('exp'),  # gh-5
    OpInfo('log',
           # gh-6: one comment line above a blank line

           supports_autograd=False),
]
"""


def test_a_tag_above_an_element_marks_the_comment_and_that_element():
    found = blocks(OP_DB)
    assert found["gh-1"] == ("<module>", 4, 5)  # the keyword argument under it
    assert found["gh-2"] == ("<module>", 8, 10)  # a call spanning two lines, inside a tuple inside a call
    assert found["gh-3"] == ("<module>", 12, 13)  # an element of the list itself


def test_a_tag_after_code_marks_the_element_it_trails():
    found = blocks(OP_DB)
    assert found["gh-4"] == ("<module>", 14, 14)  # `supports_out=False,`, not the whole OpInfo
    assert found["gh-5"] == ("<module>", 16, 16)  # `OpInfo('exp'),`


def test_a_tag_that_annotates_no_element_marks_the_smallest_element_holding_it():
    assert blocks(OP_DB)["gh-6"] == ("<module>", 17, 20)  # a blank line follows: the OpInfo('log', ...) holding it


def test_dict_entries_call_arguments_and_parameters_are_elements():
    found = blocks(
        """
        CONFIG = {
            "size": 1,
            # gh-1: larger
            "limit": compute(
                1,
            ),
        }
        result = call(first,
                      second)  # gh-2: after the closing bracket, the statement
        def f(a,
              # gh-3: a new parameter
              b=1):
            return a
        """
    )
    assert found == {"gh-1": ("<module>", 3, 6), "gh-2": ("<module>", 8, 9), "gh-3": ("f", 11, 12)}


def test_a_tag_inside_a_decorators_brackets_marks_the_argument_and_belongs_to_the_def():
    found = blocks(
        """
        @pytest.mark.parametrize(
            "x",
            [
                1,
                2,  # gh-1: the edge case
            ],
        )
        def test_f(x):
            pass
        """
    )
    assert found == {"gh-1": ("test_f", 5, 5)}


def test_a_tag_trailing_a_clause_header_marks_the_whole_clause():
    found = blocks(
        """
        def f():
            try:
                return g()
            except (KeyError,
                    ValueError):  # gh-1: both mean missing
                return None
            finally:
                done()
        """
    )
    assert found == {"gh-1": ("f", 4, 6)}


def test_a_tag_inside_a_long_expression_with_no_elements_marks_its_statement():
    found = blocks(
        """
        total = (first
                 # gh-1: include the second
                 + second)
        """
    )
    assert found == {"gh-1": ("<module>", 1, 3)}


def test_a_block_several_tags_of_one_bug_mark_is_listed_once_with_every_tag_line():
    source = textwrap.dedent(
        """
        def f(x):
            # gh-1: first reason
            # gh-1: second reason
            y = [
                x,  # gh-1: second reason
            ]
            # gh-2: unrelated
            return y
        """
    ).lstrip("\n")
    scan = scan_source("f.py", source, ID)
    assert len(scan.scopes[0].changes) == 4  # the scan keeps one change per tag ...
    ((tagged,),) = [tuple(iter_tagged([scan], "gh-1"))]
    # ... a bug lists each block once: the two tags above mark 2-6 and 3-6, the third one line
    assert [(c.start_line, c.end_line, c.tag_lines, c.text) for c in tagged.changes] == [
        (2, 6, (2,), "first reason"),
        (3, 6, (3,), "second reason"),
        (5, 5, (5,), "second reason"),
    ]
    repeated = scan_source("g.py", "x = [\n    1,  # gh-1: a\n]  # gh-1: b\ny = [  # gh-1: a\n    2]\n", ID)
    ((tagged,),) = [tuple(iter_tagged([repeated], "gh-1"))]
    assert [(c.start_line, c.end_line, c.tag_lines, c.text) for c in tagged.changes] == [
        (1, 3, (3,), "b"),
        (2, 2, (2,), "a"),
        (4, 5, (4,), "a"),
    ]
    twice = scan_source("h.py", "x = (1 +\n     # gh-1: a\n     # gh-1: b\n\n     2)\n", ID)
    ((tagged,),) = [tuple(iter_tagged([twice], "gh-1"))]
    assert [(c.start_line, c.end_line, c.tag_lines, c.text) for c in tagged.changes] == [(1, 5, (2, 3), "a; b")]
    assert all_tags([twice])[0].scopes == (tagged,)


def test_the_json_of_trace_carries_each_blocks_tag_lines(in_tmp, capsys):
    make_files(
        in_tmp,
        {
            "pyproject.toml": "[tool.tracer]\nid_pattern = 'gh-\\d+'\n",
            "m.py": "x = (1 +\n     # gh-1: a\n     # gh-1: b\n\n     2)\n",
        },
    )
    assert main(["trace", "gh-1", "--format", "json"]) == 0
    (function,) = json.loads(capsys.readouterr().out)["functions"]
    assert function["changes"] == [
        {"start_line": 1, "end_line": 5, "kind": "comment", "text": "a; b", "tag_lines": [2, 3]}
    ]
