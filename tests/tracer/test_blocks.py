"""The change blocks `tracer prove --changes` puts back one at a time, and the import roots and
module names its runs are held to: pure functions over text, no tests run here."""

from __future__ import annotations

import difflib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import make_files
from tracer.blocks import PreFix, change_blocks, changes_code, old_from_diff, pre_fix_from_git, revert
from tracer.diffs import _shift_hunks
from tracer.isolation import declared_roots, import_roots, module_names
from tracer.scanner import scan_source
from tracer.sourcetext import split_lines_keepends

ID = re.compile(r"BUG-\d{8}-\d{3}")
BUG = "BUG-20250101-001"

OLD = """\
import math


class Head:
    def step(self, x):
        return 1 / (1 + math.exp(-x))

    def scale(self, x):
        return x


def untouched():
    return 0
"""

NEW = f'''\
import math


class Head:
    # {BUG}: a class attribute
    k = 50

    def step(self, x):
        # {BUG}: a stable sigmoid
        return 0.5 * (1 + math.tanh(x / 2))

    def scale(self, x):
        """Scaled by k ({BUG})."""
        return self.k * x

    def spare(self):
        # {BUG}: new in the fix
        return None


# {BUG}: a new helper
def helper():
    return 1


def untouched():
    return 0
'''


def blocks_of(old: str, new: str) -> list[tuple[str, int, int, str]]:
    tagged = list(scan_source("m.py", new, ID).scopes)
    current = {"m.py": split_lines_keepends(new)}
    pre_fix = {("m.py", t.scope.qualname): pre_fix_from_git(old, t, "abc", current["m.py"]) for t in tagged}
    found = []
    for block in change_blocks(tagged, current, pre_fix):
        reverted = revert(block, current["m.py"])
        assert reverted.text is not None, block
        found.append((block.qualname, block.start_line, block.end_line, reverted.how))
    return found


def test_each_change_of_each_tagged_scope_is_a_block_and_new_code_keeps_its_name():
    assert blocks_of(OLD, NEW) == [
        ("Head", 5, 7, "the block"),  # the class's own lines; its methods' changes are theirs
        ("Head.step", 9, 10, "the block"),
        ("Head.scale", 13, 14, "the block"),
        ("Head.spare", 16, 18, "new in the fix: its body taken out"),
        ("<module>", 21, 23, "new in the fix: its body taken out"),
    ]


def test_putting_back_a_block_gives_the_old_lines_in_the_new_file():
    tagged = list(scan_source("m.py", NEW, ID).scopes)
    current = split_lines_keepends(NEW)
    step = next(t for t in tagged if t.scope.qualname == "Head.step")
    (block,) = change_blocks([step], {"m.py": current}, {("m.py", "Head.step"): pre_fix_from_git(OLD, step, "abc")})
    text = revert(block, current).text
    assert text == NEW.replace(
        f"        # {BUG}: a stable sigmoid\n        return 0.5 * (1 + math.tanh(x / 2))\n",
        "        return 1 / (1 + math.exp(-x))\n",
    )

    spare = next(t for t in tagged if t.scope.qualname == "Head.spare")
    (block,) = change_blocks([spare], {"m.py": current}, {("m.py", "Head.spare"): pre_fix_from_git(OLD, spare, "abc")})
    text = revert(block, current).text
    assert (
        f'    def spare(self):\n        # {BUG}: new in the fix\n        raise NotImplementedError("new in the fix'
        in text
    )
    assert "return None" not in text


def test_a_change_of_comments_or_docstrings_only_is_no_code_change():
    assert not changes_code(
        "def f():\n    '''Old.'''\n    return 1\n", "def f():\n    # new\n    '''New.'''\n\n    return 1\n"
    )
    assert changes_code("def f():\n    return 1\n", "def f():\n    return 2\n")


def test_a_pre_fix_form_that_does_not_parse_whole_is_a_finding_with_its_reason():
    new = f"def f(x):\n    # {BUG}: the line was cut short\n    return x + 1\n"
    old = "def f(x):\n    return x +\n"
    (tagged,) = scan_source("m.py", new, ID).scopes
    current = split_lines_keepends(new)
    before = pre_fix_from_git(old, tagged, "abc", current)
    assert before == PreFix(
        "scope", ("def f(x):\n", "    return x +\n"), "m.py does not parse at abc: `f` matched line by line"
    )
    (block,) = change_blocks([tagged], {"m.py": current}, {("m.py", "f"): before})
    reverted = revert(block, current)
    assert reverted.text is None
    assert reverted.problem == "its pre-fix form put back alone does not parse: invalid syntax (line 2)"


lines = st.lists(st.sampled_from(["a\n", "b\n", "    c\n", "\n", "# d\n", "e = 1\n"]), max_size=12)


@given(old=lines, new=lines.filter(bool), offset=st.integers(0, 50))
def test_the_old_side_of_a_committed_diff_is_read_back_exactly(old, new, offset):
    """A document keeps each scope's diff with file line numbers; a shallow clone reads the scope's
    pre-fix form back from it and the current code."""
    diff = "".join(difflib.unified_diff(old, new, "m.py@abc", "m.py"))
    diff = _shift_hunks(diff, 0, offset)
    current = ["x\n"] * offset + list(new) + ["y\n"]
    assert old_from_diff(diff, current, offset + 1, offset + len(new)) == tuple(old)
    assert old_from_diff(diff.rstrip("\n"), current, offset + 1, offset + len(new)) == tuple(old)


def test_a_committed_diff_that_does_not_fit_the_code_says_where():
    diff = "--- m.py@abc\n+++ m.py\n@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2"
    assert old_from_diff(diff, ["def f():\n", "    return 3\n"], 1, 2) == "diff line 6 is not line 2 of the code"


# Import roots and module names


@pytest.mark.parametrize(
    ("pyproject", "roots"),
    [
        ('[tool.setuptools.packages.find]\nwhere = ["src"]\n', ["src"]),
        ('[tool.setuptools]\npackage-dir = {"" = "lib"}\n', ["lib"]),
        ('[tool.setuptools]\npackage-dir = {"demo" = "code/demo"}\n', ["code"]),
        ('[tool.hatch.build.targets.wheel]\npackages = ["src/demo"]\n', ["src"]),
        ('[tool.poetry]\npackages = [{include = "demo", from = "lib"}]\n', ["lib"]),
        ('[tool.pdm.build]\npackage-dir = "lib"\n', ["lib"]),
        (
            '[tool.setuptools.packages.find]\nwhere = ["../outside", "/etc", 3]\n',
            [],
        ),  # read as data: only folders inside
        ("not toml at all [", []),
    ],
)
def test_declared_import_roots_are_read_from_the_packaging_metadata(tmp_path, pyproject, roots):
    make_files(
        tmp_path,
        {
            "pyproject.toml": pyproject,
            "src/demo/__init__.py": "",
            "lib/demo/__init__.py": "",
            "code/demo/__init__.py": "",
        },
    )
    assert [r for r in import_roots(tmp_path, [], []) if r not in ("src", ".")] == [
        r for r in roots if r not in ("src", ".")
    ]
    if "outside" in pyproject:
        assert "../outside" in declared_roots(tmp_path)  # declared, but import_roots keeps it out


def test_setup_cfg_roots_and_source_roots_above_their_packages(tmp_path):
    make_files(
        tmp_path,
        {
            "setup.cfg": "[options]\npackage_dir =\n    =lib\n",
            "lib/demo/__init__.py": "",
            "ocr/__init__.py": "",
            "ocr/models/__init__.py": "",
        },
    )
    assert import_roots(tmp_path, ["ocr/models"], ["ocr/models/head.py"]) == ("lib", ".")


def test_a_module_is_watched_under_every_name_it_can_be_imported_by(tmp_path):
    make_files(tmp_path, {"src/acme/demo/__init__.py": "", "src/acme/demo/step.py": "", "scripts/types.py": ""})
    # src/ and src/acme/ are not regular packages: either could be on sys.path
    assert module_names(tmp_path, "src/acme/demo/step.py") == ["src.acme.demo.step", "acme.demo.step", "demo.step"]
    assert module_names(tmp_path, "src/acme/demo/__init__.py") == ["src.acme.demo", "acme.demo", "demo"]
    assert module_names(tmp_path, "scripts/types.py") == ["scripts.types"]  # never the standard library's `types`
