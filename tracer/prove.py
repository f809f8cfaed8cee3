"""`tracer prove`: run a bug's linked tests on the pre-fix revision and on the current code.

A regression test is proven when it fails before the fix and passes after. The pre-fix code is
checked out into a temporary git worktree with the current tests and reports laid over it; the
user's work tree is never touched, and the worktree is removed afterwards, on error too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tracer.config import Config
from tracer.gitio import GitError, git, resolve_revision

PROVEN = "proven"  # fails before, passes after
PASSES_BEFORE = "passes before too"  # the test does not catch the bug
FAILS_AFTER = "fails after"
NOT_RUN_BEFORE = "cannot run before"  # not collected or not set up on the old code: no proof
SKIPPED = "skipped"


@dataclass(frozen=True)
class TestRun:
    __test__ = False  # not a pytest test class

    outcomes: dict[str, str]  # test id -> passed, failed, error, skipped
    exit_code: int
    output: str


def run_linked_tests(
    root: Path, bug_id: str, test_files: list[str], extra_env: dict[str, str] | None = None, record: bool = False
) -> TestRun:
    """Run only the tests linked to `bug_id` in `test_files` under `root`; junit XML tells each
    test's outcome. With `record`, the plugin writes the run's evidence as any run would."""
    with tempfile.TemporaryDirectory(prefix="tracer-junit-") as folder:
        report = Path(folder) / "junit.xml"
        options = [] if record else ["--tracer-no-evidence"]
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
            *options, f"--tracer-select={bug_id}",
            f"--junitxml={report}", "-o", "junit_family=xunit2", *test_files,
        ]
        env = {**os.environ, **(extra_env or {})}
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)
        outcomes = parse_junit(report, root) if report.exists() else {}
    return TestRun(outcomes, done.returncode, done.stdout + done.stderr)


def parse_junit(path: Path, root: Path) -> dict[str, str]:
    """Test id -> passed, failed, error or skipped."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = [p for p in case.get("classname", "").split(".") if p]
        name = case.get("name", "")
        # classname is "tests.ocr.test_x" or "tests.ocr.test_x.TestClass": the module is the
        # longest prefix that is a file.
        cut = next((n for n in range(len(parts), 0, -1) if (root / ("/".join(parts[:n]) + ".py")).is_file()), len(parts))
        test_id = "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], name])
        if case.find("error") is not None:
            outcome = "error"
        elif case.find("failure") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        outcomes[test_id] = outcome
    return outcomes


def classify(before: str | None, after: str | None) -> str:
    if after in (None, "skipped") or before == "skipped":
        return SKIPPED
    if after in ("failed", "error"):
        return FAILS_AFTER
    if before in (None, "error"):
        return NOT_RUN_BEFORE
    return PROVEN if before == "failed" else PASSES_BEFORE


def test_files_naming(root: Path, test_roots: list[str], bug_id: str) -> list[str]:
    """The test files that mention the bug ID: only they are collected, so that a test file that
    cannot even be imported on the old code does not stop the others."""
    needle = bug_id.encode()
    files = []
    for test_root in test_roots:
        for path in sorted((root / test_root).rglob("*.py")):
            if needle in path.read_bytes():
                files.append(path.relative_to(root).as_posix())
    return files


def run_before(config: Config, revision: str, bug_id: str, test_roots: list[str], test_files: list[str]) -> tuple[str, TestRun]:
    """The linked tests on `revision`, in a temporary worktree that is always removed."""
    commit = resolve_revision(config.root, revision)
    worktree = Path(tempfile.mkdtemp(prefix="tracer-prove-"))
    added = False
    try:
        git(config.root, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
        added = True
        for relative in [*test_roots, config.reports_dir]:
            source = config.root / relative
            if source.is_dir():
                shutil.copytree(source, worktree / relative, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        return commit, run_linked_tests(worktree, bug_id, test_files, {"PYTHONPATH": str(worktree)})
    finally:
        if added:
            try:
                git(config.root, "worktree", "remove", "--force", str(worktree))
            except GitError:
                pass
        shutil.rmtree(worktree, ignore_errors=True)
        try:
            git(config.root, "worktree", "prune")
        except GitError:
            pass


def proof_of(commit: str, before: TestRun, after: TestRun, linked: dict[str, list[str]]) -> dict:
    """Each linked test's classification, grouped by checklist item."""
    items = {
        item_id: {t: classify(before.outcomes.get(t), after.outcomes.get(t)) for t in sorted(tests)}
        for item_id, tests in sorted(linked.items())
    }
    return {"revision": commit, "items": items}
