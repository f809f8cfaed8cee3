"""`tracer prove`: run a bug's linked tests on the pre-fix revision and on the current code.

A regression test is proven when it fails before the fix and passes after, the same way in every
one of `repeat` runs of each side; a test whose outcome changes between runs of one side is
flaky and proves nothing. The pre-fix code is checked out into a temporary git worktree with the
current tests and reports laid over it; the user's work tree is never touched, and the worktree
is removed afterwards, on errors and on SIGINT, SIGTERM and SIGHUP too. The proof is kept with
the evidence of the environment the tests ran in."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from tracer.config import Config
from tracer.environment import Environment
from tracer.evidence import Proof, Verdict, record_proof
from tracer.gitio import GitError, git, resolve_revision
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.tags import TaggedScope

DEFAULT_REPEAT = 3


@dataclass(frozen=True)
class TestRun:
    """One pytest run of a bug's linked tests, as the plugin's `--tracer-report` file tells it."""

    __test__ = False  # not a pytest test class

    outcomes: Mapping[str, str]  # test id -> passed, failed, error or skipped
    links: Mapping[str, tuple[str, ...]]  # test id -> the bug's checklist items it verifies
    environment: Environment
    exit_code: int
    output: str


@dataclass(frozen=True)
class ProveResult:
    proof: Proof
    environment: Environment
    before: tuple[TestRun, ...]  # the runs on the old code, whose output explains a run that did nothing


def run_linked_tests(root: Path, bug_id: str, test_files: list[str], extra_env: Mapping[str, str] | None = None,
                     record: bool = False) -> TestRun:
    """Run only the tests linked to `bug_id` in `test_files` under `root`. With `record`, the
    plugin writes the run's evidence as any run would."""
    with tempfile.TemporaryDirectory(prefix="tracer-prove-") as folder:
        report = Path(folder) / "report.json"
        options = [] if record else ["--tracer-no-evidence"]
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--continue-on-collection-errors", *options, f"--tracer-select={bug_id}", f"--tracer-report={report}",
            *test_files,
        ]
        env = {**os.environ, **(extra_env or {})}
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    tests = data.get("tests", {})
    links = {
        test: tuple(item for bug, item in entry["links"] if bug.casefold() == bug_id.casefold())
        for test, entry in tests.items()
    }
    return TestRun(
        {test: entry["outcome"] for test, entry in tests.items()}, links,
        Environment.of(data.get("environment", {})), done.returncode, done.stdout + done.stderr,
    )


def classify(before: list[str | None], after: list[str | None]) -> Verdict:
    """A test's verdict from its outcomes in every run before the fix and after it."""
    if len(set(before)) > 1 or len(set(after)) > 1:
        return Verdict.FLAKY
    was, now = before[0], after[0]
    if now in (None, "skipped") or was == "skipped":
        return Verdict.SKIPPED
    if now in ("failed", "error"):
        return Verdict.FAILS_AFTER
    if was in (None, "error"):
        return Verdict.NOT_RUN_BEFORE
    return Verdict.PROVEN if was == "failed" else Verdict.PASSES_BEFORE


def test_files_naming(root: Path, test_roots: list[str], bug_id: str) -> list[str]:
    """The test files that mention the bug ID: only they are collected, so that a test file that
    cannot even be imported on the old code does not stop the others."""
    needle = bug_id.casefold().encode()
    files = []
    for test_root in test_roots:
        for path in sorted((root / test_root).rglob("*.py")):
            if path.is_file() and needle in path.read_bytes().lower():
                files.append(path.relative_to(root).as_posix())
    return files


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run the way Ctrl-C does, so that `finally` removes the worktree."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                previous[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def pre_fix_worktree(config: Config, commit: str) -> Iterator[Path]:
    """The old project at `commit` (in its folder of the repository's worktree) with the current
    tests and reports laid over it; the worktree is always removed."""
    worktree = Path(tempfile.mkdtemp(prefix="tracer-prove-"))
    added = False
    with _cleanup_on_signals():
        try:
            git(config.root, "worktree", "add", "--detach", "--quiet", str(worktree), commit)
            added = True
            project = worktree / config.repo_prefix
            for relative in [*config.test_roots, config.reports_dir]:
                source = config.root / relative
                if source.is_dir():
                    shutil.copytree(source, project / relative, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            yield project
        finally:
            if added:
                with contextlib.suppress(GitError):
                    git(config.root, "worktree", "remove", "--force", str(worktree))
            shutil.rmtree(worktree, ignore_errors=True)
            with contextlib.suppress(GitError):
                git(config.root, "worktree", "prune")


def prove_bug(config: Config, report: BugReport, tagged: Sequence[TaggedScope], base: str | None = None,
              repeat: int = DEFAULT_REPEAT) -> ProveResult:
    """Run the bug's linked tests `repeat` times before the fix and after it; keep the proof with
    the evidence of the environment they ran in, pinned to the `tagged` code."""
    revision = base or report.pre_fix_revision
    if not revision:
        raise TracerError(f"{report.bug_id} names no pre_fix_revision; give --base REV", report.path, report.line_of("bug_id"))
    if repeat < 1:
        raise TracerError("--repeat must be at least 1")
    test_files = test_files_naming(config.root, list(config.test_roots), report.bug_id)
    if not test_files:
        raise TracerError(f"no test file under {', '.join(config.test_roots)} mentions {report.bug_id}")
    try:
        commit = resolve_revision(config.root, revision)
    except GitError as error:
        raise TracerError(f"cannot check out {revision}: {error}", report.path, report.line_of("pre_fix_revision")) from None
    try:
        with pre_fix_worktree(config, commit) as worktree:
            path = os.pathsep.join(p for p in (str(worktree), os.environ.get("PYTHONPATH", "")) if p)
            before = [run_linked_tests(worktree, report.bug_id, test_files, {"PYTHONPATH": path}) for _ in range(repeat)]
    except GitError as error:
        raise TracerError(f"cannot check out {revision}: {error}", report.path, report.line_of("pre_fix_revision")) from None
    after = [run_linked_tests(config.root, report.bug_id, test_files, record=(n == 0)) for n in range(repeat)]
    environment = after[0].environment
    items: dict[str, dict[str, Verdict]] = {}
    for test_id, linked_items in sorted(after[0].links.items()):
        verdict = classify([run.outcomes.get(test_id) for run in before], [run.outcomes.get(test_id) for run in after])
        for item_id in linked_items:
            items.setdefault(item_id, {})[test_id] = verdict
    proof = Proof(commit, repeat, items)
    record_proof(config, report.bug_id, tagged, environment, proof)
    return ProveResult(proof, environment, tuple(before))
