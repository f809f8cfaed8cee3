"""The scanner's line ranges come from one codegen pass over libcst's tree (tracer.syntax), not
from libcst's metadata: checked here against Python's own `ast` on real modules."""

from __future__ import annotations

import ast
import sysconfig
from pathlib import Path

import pytest

from tracer.syntax import scope_ranges

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = ["typing.py", "argparse.py", "dataclasses.py", "asyncio/base_events.py", "email/_header_value_parser.py"]


def ast_ranges(source: str) -> dict[str, tuple[int, int]]:
    ranges: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, names: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = child.decorator_list[0].lineno if child.decorator_list else child.lineno
                ranges.setdefault(".".join([*names, child.name]), (start, child.end_lineno or start))
                visit(child, [*names, child.name])
            else:
                visit(child, names)

    visit(ast.parse(source), [])
    return ranges


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_def_and_class_range_matches_pythons(name, newline):
    path = STDLIB / name
    if not path.is_file():
        pytest.skip(f"{name} is not in this Python's standard library")
    source = path.read_text(encoding="utf-8").replace("\n", newline)
    expected = ast_ranges(source)
    assert len(expected) > 20
    assert scope_ranges(source) == expected
