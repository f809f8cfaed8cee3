"""A tagged function's diff against the pre-fix revision is taken over the lines Python counts."""

from __future__ import annotations

import re

from tests.conftest import commit_all, make_files
from tracer.diffs import diff_scopes
from tracer.scanner import scan_source
from tracer.sourcetext import split_lines

BEFORE = "x = 'a\fb'  # a form feed: one line for Python, two for str.splitlines\n\ndef f():\n    return 1\n"
AFTER = BEFORE.replace("    return 1\n", "    # BUG-20250101-001: two\n    return 2\n")


def test_diffs_cut_the_old_function_on_pythons_lines(tmp_path):
    make_files(tmp_path, {"m.py": BEFORE})
    base = commit_all(tmp_path, "before")
    (tmp_path / "m.py").write_text(AFTER, newline="")
    (tagged,) = scan_source("m.py", AFTER, re.compile(r"BUG-\d{8}-\d{3}")).scopes
    diff = diff_scopes(tmp_path, base, [tagged], {"m.py": split_lines(AFTER)})[("m.py", "f")]
    assert diff.status == "changed"
    assert diff.diff.splitlines()[2:] == [
        "@@ -3,2 +3,3 @@",
        " def f():",
        "-    return 1",
        "+    # BUG-20250101-001: two",
        "+    return 2",
    ]
