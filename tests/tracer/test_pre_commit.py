"""The real pre-commit, running the hook this repository offers (`try-repo`) in a new repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_all, git
from tests.tracer.project import BUG, build

pytest.importorskip("pre_commit")
REPO = Path(__file__).resolve().parents[2]
DOCUMENT = f"docs/bug_reports/{BUG.lower()}-overflow-code-changes.md"


def try_repo(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "tracer-check", "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=540,
    )


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def test_the_hook_passes_on_a_clean_tree_and_fails_when_a_tagged_function_moves(tmp_path, monkeypatch, pre_commit_home):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    build(tmp_path)
    monkeypatch.chdir(tmp_path)
    from tracer.cli import main

    assert main(["render", "--all"]) == 0
    commit_all(tmp_path, "documents")

    clean = try_repo(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "tracer check" in clean.stdout and "Passed" in clean.stdout

    source = tmp_path / "src/demo/step.py"
    source.write_text("\n\n" + source.read_text())
    git(tmp_path, "add", "-A")
    moved = try_repo(tmp_path)
    assert moved.returncode == 1
    assert f"{DOCUMENT}:42: C201 differs from what tracer render writes now" in moved.stdout
