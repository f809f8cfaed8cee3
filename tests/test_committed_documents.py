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


STATIC_ITEMS = {"indexed-with-bug-id", "lowercase-filenames", "docstrings-reference-bug"}


def checklist() -> dict[str, list[str]]:
    """Each item of the document's Testing Status, with the lines under it."""
    text = DOCUMENT.read_text().split("## Testing Status", 1)[1].split("\n## ", 1)[0]
    items: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        found = re.match(r"- \[[ x]\] .*\(`([a-z0-9-]+)`\): \*\*(\w+)\*\*", line)
        if found:
            current = found.group(1)
            items[current] = [found.group(2)]
        elif current and line.startswith("    - "):
            items[current].append(line[6:])
    return items


def test_every_test_verified_item_shows_the_changed_lines_its_tests_ran():
    items = checklist()
    verified = {item for item, lines in items.items() if lines[0] == "verified"}
    assert len(verified) == 16
    for item in verified:
        runs = [line for line in items[item][1:] if not line.startswith("Proof against")]
        if item in STATIC_ITEMS:
            assert runs == ["checked without running the code (`kind: static`)"], item
        else:
            assert runs and all(
                re.fullmatch(r"`\w+`( \(\d+ cases\))? ran \d+ of \d+ changed lines \(in `[\w.]+`(, `[\w.]+`)*\)", r)
                for r in runs
            ), (item, runs)


def test_an_edit_to_train_step_alone_stales_only_the_items_whose_tests_ran_it(tmp_path):
    """Per-test staleness on this repository's own evidence: parentheses added in `train_step`
    stale the results of the tests that ran it (through the training fixtures, or directly), and
    no other; an item stays verified while one of its tests that did not run it passes."""
    import shutil

    from tracer.api import Project
    from tracer.config import load_config
    from tracer.status import ItemStatus

    for folder in ("ocr", "docs/bug_reports", "templates", "tests/ocr"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    before = Project(load_config(tmp_path)).bug(BUG)
    assert all(r.current for item in before.items for r in item.results)

    train = tmp_path / "ocr/train.py"
    train.write_text(train.read_text().replace('    images = batch["image"]\n', '    images = (batch["image"])\n', 1))
    after = Project(load_config(tmp_path)).bug(BUG)

    ran_train_step = {
        r.test_id.partition("::")[2]
        for item in after.items
        for r in item.results
        if r.executed and "ocr/train.py::train_step" in dict(r.executed)
    }
    assert ran_train_step == {
        "test_train_400_steps_float32",
        "test_train_200_steps_bfloat16_autocast",
        "test_validation_metrics",
        "test_finite_loss[float32_run]",
        "test_finite_loss[bfloat16_run]",
        "test_grad_norm_range[float32_run]",
        "test_grad_norm_range[bfloat16_run]",
        "test_one_host_sync_per_training_step[float32]",
        "test_one_host_sync_per_training_step[bfloat16]",
        "test_one_host_sync_per_training_step[float16]",
        "test_error_messages_from_the_training_step",
    }
    stale = {r.test_id.partition("::")[2] for item in after.items for r in item.results if not r.current}
    assert stale == ran_train_step
    states = {item.id: item.state for item in after.items}
    assert [item for item, state in states.items() if state is ItemStatus.STALE] == ["validation-metrics"]
    assert all(states[i.id] is i.state for i in before.items if i.id != "validation-metrics")
    train_200 = next(item for item in after.items if item.id == "train-200-steps")
    assert "stale: `test_train_200_steps_bfloat16_autocast`, `test_train_400_steps_float32`" in train_200.detail
