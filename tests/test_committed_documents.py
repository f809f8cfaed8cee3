"""The committed code-changes document of BUG-20251110-002, checked against the code with
Python's own `ast`, independently of tracer's libcst scanner."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUG = "BUG-20251110-002"
DOCUMENT = ROOT / "docs/bug_reports/bug-20251110-002-nan-gradients-from-step-function-overflow-code-changes.md"
SECTION = re.compile(
    r"^### \d+\. (?:`(?P<qualname>[^`(]+)(?:\(\))?`|(?P<module>Module-level code)) - `(?P<path>[^`]+)`$(?P<body>.*?)^---$",
    re.MULTILINE | re.DOTALL,
)
BLOCK = re.compile(r"\*\*Lines? (\d+)(?:-(\d+))?\*\* \((comment|docstring)")


def qualname(section: re.Match[str]) -> str:
    return "<module>" if section["module"] else section["qualname"]


def ast_ranges(path: Path) -> dict[str, tuple[int, int]]:
    """qualname -> (first decorator or def line, last line) for every def and class."""
    ranges: dict[str, tuple[int, int]] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                ranges[name] = (start, child.end_lineno)
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return ranges


def sections() -> list[re.Match[str]]:
    found = list(SECTION.finditer(DOCUMENT.read_text()))
    assert found, "no function sections in the document"
    return found


def test_every_tagged_scope_of_ocr_is_in_the_document():
    tagged_files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "ocr").rglob("*.py") if BUG in p.read_text()}
    assert tagged_files == {s["path"] for s in sections()}
    listed = {qualname(s) for s in sections()}
    assert {"differentiable_binarization", "DBHead.forward", "DiceLoss._compute"} <= listed


@pytest.mark.parametrize("section", sections(), ids=qualname)
def test_line_ranges_in_the_document_match_the_code(section):
    path = ROOT / section["path"]
    lines = path.read_text().splitlines()
    blocks = [(int(first), int(last or first), kind) for first, last, kind in BLOCK.findall(section["body"])]
    if section["module"]:  # a module shows the lines of its tagged blocks, not the whole file
        shown = re.search(r"\*\*Lines:\*\* (.+)", section["body"])[1]
        assert shown == ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b, _ in blocks)
        start, end = 1, len(lines)
    else:
        start, end = map(int, re.search(r"\*\*Lines:\*\* (\d+)-(\d+)", section["body"]).groups())
        assert (start, end) == ast_ranges(path)[section["qualname"]]
    for block_start, block_end, kind in blocks:
        block = lines[block_start - 1 : block_end]
        assert start <= int(block_start) <= int(block_end) <= end
        if kind == "comment":
            assert block[0].lstrip().startswith(f"# {BUG}")
        else:
            assert block[0].lstrip().startswith(('"""', "'''")) and any(BUG in line for line in block)


@pytest.mark.parametrize("section", sections(), ids=qualname)
def test_every_function_shows_its_diff_against_the_pre_fix_revision(section):
    body = section["body"]
    if section["module"]:
        assert "_New since the pre-fix revision" in body or "_No diff for the module itself" in body
    else:
        assert "#### Diff against `796e24f9bf35`" in body or "_New since the pre-fix revision" in body


def test_tracer_check_is_clean_on_this_repository(monkeypatch, capsys):
    from tracer.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["check"]) == 0, capsys.readouterr().out
