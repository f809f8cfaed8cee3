"""Fingerprints, stale evidence and `tracer prove`, on projects built in tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import commit_all, git
from tests.tracer.conftest import BUG, SLOW_TEST, prove_in_a_process
from tests.tracer.test_plugin import EVIDENCE
from tracer.cli import main
from tracer.fingerprint import fingerprint_source

FUNCTION = """\
def step(x):
    # clamp
    return min(max(x, 0.0), 1.0)
"""


def test_fingerprint_ignores_moves_indentation_and_comments():
    moved = textwrap.indent(FUNCTION, "    ")
    recommented = FUNCTION.replace("# clamp", "# clamp both ends\n\n    # more words")
    assert fingerprint_source(moved) == fingerprint_source(FUNCTION)
    assert fingerprint_source(recommented) == fingerprint_source(FUNCTION)


def test_fingerprint_changes_with_any_code_change():
    assert fingerprint_source(FUNCTION.replace("1.0", "2.0")) != fingerprint_source(FUNCTION)
    assert fingerprint_source(FUNCTION.replace("x)", "value)")) != fingerprint_source(FUNCTION)


def rendered(project, capsys) -> str:
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    return capsys.readouterr().out


def test_editing_a_tagged_function_makes_its_items_stale_until_the_tests_run_again(project, monkeypatch, capsys):
    monkeypatch.chdir(project.path)
    project.runpytest()
    assert "fixed: 2 of 3 items verified; 1 open" in rendered(project, capsys)

    source = project.path / "demo" / "step.py"
    source.write_text("\n\n# an unrelated comment\n" + source.read_text())  # lines move: still verified
    assert "fixed: 2 of 3 items verified; 1 open" in rendered(project, capsys)

    source.write_text(source.read_text().replace("1.0)", "1.0) * 1"))
    text = rendered(project, capsys)
    assert "fixed: 0 of 3 items verified; 2 stale; 1 open" in text
    assert "**stale**: verified on code that has since changed: `demo/step.py::step`" in text

    project.runpytest()
    assert "fixed: 2 of 3 items verified; 1 open" in rendered(project, capsys)


BUGGY = "def step(x):\n    return x\n"

NEW_IMPORT_TEST = f"""\
import pytest

from demo.step import helper_added_by_the_fix


@pytest.mark.verifies("{BUG}", "gradient")
def test_helper():
    assert helper_added_by_the_fix() == 1
"""


@pytest.fixture
def history(project):
    """The project in git: the buggy code first, then the fix with its report and tests."""
    fixed_code = (project.path / "demo" / "step.py").read_text()
    (project.path / "demo" / "step.py").write_text(BUGGY)
    report = project.path / "docs" / "bug_reports" / f"{BUG.lower()}-overflow.md"
    report_text = report.read_text()
    report.unlink()
    tests = {p: p.read_text() for p in (project.path / "tests").iterdir() if p.is_file()}
    for path in tests:
        path.unlink()
    revision = commit_all(project.path, "buggy")
    (project.path / "demo" / "step.py").write_text(fixed_code + "\n\ndef helper_added_by_the_fix():\n    return 1\n")
    for path, text in tests.items():
        path.write_text(text)
    (project.path / "tests" / "test_helper.py").write_text(NEW_IMPORT_TEST)
    report.write_text(report_text.replace("author: someone", f"author: someone\npre_fix_revision: {revision}"))
    commit_all(project.path, "fix")
    return project


def test_prove_tells_proven_tests_from_tests_that_pass_before_too(history, monkeypatch, capsys):
    monkeypatch.chdir(history.path)
    status_before = git(history.path, "status", "--porcelain")
    assert main(["prove", BUG]) == 0
    out = capsys.readouterr().out
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in out
    assert "edge-cases                   passes before too  tests/test_step.py::test_middle" in out
    assert "gradient                     cannot run before  tests/test_helper.py::test_helper" in out
    assert "on-gpu                       skipped            tests/test_step.py::test_gpu" in out

    proof = json.loads((history.path / EVIDENCE).read_text())["proof"]
    assert proof["items"]["edge-cases"]["tests/test_step.py::test_edges"] == "proven"
    assert git(history.path, "worktree", "list").count("\n") == 1  # the temporary worktree is gone
    assert git(history.path, "status", "--porcelain").replace("?? docs/bug_reports/evidence/\n", "") == status_before

    text = rendered(history, capsys)
    assert (
        "Proof against the pre-fix revision: fails before the fix, passes after: `test_edges` in `tests/test_step.py`; "
        "passes before too: `test_middle` in `tests/test_step.py`"
    ) in text


def test_prove_without_a_revision_is_a_clear_error(project, monkeypatch, capsys):
    monkeypatch.chdir(project.path)
    assert main(["prove", BUG]) == 2
    assert "names no pre_fix_revision; give --base REV" in capsys.readouterr().err
    commit_all(project.path, "only commit")
    assert main(["prove", BUG, "--base", "no-such-rev"]) == 2
    assert "cannot check out no-such-rev" in capsys.readouterr().err


FLAKY_TEST = f"""\
import os
from pathlib import Path

import pytest


@pytest.mark.verifies("{BUG}", "edge-cases")
def test_flaky():
    counter = Path(os.environ["FLAKY_COUNTER"])
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    assert runs % 2 == 0  # passes, fails, passes: a coin, not a proof
"""


def test_a_test_whose_outcome_changes_between_runs_is_flaky_never_proven(
    history, monkeypatch, capsys, tmp_path_factory
):
    monkeypatch.chdir(history.path)
    monkeypatch.setenv("FLAKY_COUNTER", str(tmp_path_factory.mktemp("counter") / "runs"))
    (history.path / "tests" / "test_flaky.py").write_text(FLAKY_TEST)
    assert main(["prove", BUG, "--repeat", "3"]) == 0
    out = capsys.readouterr().out
    assert "edge-cases                   flaky              tests/test_flaky.py::test_flaky" in out
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in out
    assert "3 runs each" in out


def test_prove_extends_pythonpath_for_the_old_code(history, monkeypatch, capsys, tmp_path_factory):
    dependencies = tmp_path_factory.mktemp("site")
    (dependencies / "extdep.py").write_text("VALUE = 0.5\n")
    (history.path / "tests" / "test_dep.py").write_text(
        f"import pytest\nimport extdep\n\nfrom demo.step import step\n\n\n"
        f"@pytest.mark.verifies('{BUG}', 'edge-cases')\ndef test_dep():\n    assert step(extdep.VALUE) == extdep.VALUE\n"
    )
    monkeypatch.chdir(history.path)
    monkeypatch.setenv("PYTHONPATH", str(dependencies))
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   passes before too  tests/test_dep.py::test_dep" in capsys.readouterr().out


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_prove_killed_by_a_signal_removes_its_worktree(history, signal_name):
    import signal
    import time

    (history.path / "tests" / "test_slow.py").write_text(SLOW_TEST)
    prove = prove_in_a_process(history.path)
    deadline = time.monotonic() + 60
    while git(history.path, "worktree", "list").count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    worktrees = git(history.path, "worktree", "list")
    assert worktrees.count("\n") == 2, "prove never added its worktree"
    folder = worktrees.splitlines()[1].split()[0]
    prove.send_signal(getattr(signal, signal_name))
    assert prove.wait(timeout=60) != 0
    assert git(history.path, "worktree", "list").count("\n") == 1
    assert not Path(folder).exists()
