"""The libcst walk (tracer.syntax, the scanner for syntax newer than the running Python) takes
its line ranges from one codegen pass over libcst's tree, not from libcst's metadata; the diffs
read old files' ranges with Python's own `ast` (tracer.diffs.scope_ranges). Checked here to
agree on real modules; tests/tracer/test_outline.py checks the ast scan against the libcst walk."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from tracer import syntax
from tracer.diffs import scope_ranges

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = ["typing.py", "argparse.py", "dataclasses.py", "asyncio/base_events.py", "email/_header_value_parser.py"]


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_def_and_class_range_matches_pythons(name, newline):
    path = STDLIB / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this Python's standard library")
    source = path.read_text(encoding="utf-8").replace("\n", newline)
    expected = scope_ranges(source)
    assert len(expected) > 20
    assert syntax.scope_ranges(source) == expected
