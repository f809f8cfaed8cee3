"""What `tracer prove` runs, and one run of a bug's linked tests.

Prove runs code of the repository's history only: the pre-fix revision must be an ancestor of
HEAD, unless the user names a revision with `--base` (and is told which commit's code runs).
Each run imports the project from the one tree it tests (tracer.isolation, tracer.provesite)
and is checked afterwards: a run that imported a tagged module from anywhere else is refused,
naming the module and the file, rather than given a verdict."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracer.config import Config
from tracer.environment import Environment
from tracer.gitio import GitError, git, is_ancestor, resolve_revision
from tracer.isolation import SITE_PLUGIN, SITE_VARIABLE, Isolation, foreign_imports, read_imports
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.workspace import Workspace


@dataclass(frozen=True)
class Target:
    """The pre-fix revision prove takes code from."""

    revision: str  # as the report or --base names it
    commit: str | None  # None: not in this clone (a shallow clone, a rewritten history)
    explicit: bool  # named with --base
    subject: str = ""

    @property
    def shown(self) -> str:
        return self.commit[:12] if self.commit else self.revision


def prove_target(config: Config, report: BugReport, base: str | None, allow_missing: bool = False) -> Target:
    """The revision prove may run: the report's `pre_fix_revision` when it is an ancestor of HEAD,
    or the one `--base` names. Refused, with nothing run, otherwise."""
    revision = base or report.pre_fix_revision
    line = report.line_of("pre_fix_revision") if base is None else None
    if not revision:
        raise TracerError(
            f"{report.bug_id} names no pre_fix_revision; give --base REV", report.path, report.line_of("bug_id")
        )
    try:
        commit = resolve_revision(config.root, revision)
    except GitError as error:
        if allow_missing:
            return Target(revision, None, base is not None)
        raise TracerError(f"cannot check out {revision}: {error}", report.path if line else None, line) from None
    try:
        ancestor = is_ancestor(config.root, commit)
        subject = git(config.root, "log", "-1", "--format=%s", commit).strip()
    except GitError as error:
        raise TracerError(
            f"cannot tell whether {revision} is in the history of HEAD: {error}", report.path, line
        ) from None
    if base is None and not ancestor:
        raise TracerError(
            f"pre_fix_revision {revision} is not an ancestor of HEAD: tracer prove runs only code from the history of "
            f"the commit checked out; nothing was run (give --base {revision} to run that commit's code anyway)",
            report.path,
            line,
        )
    return Target(revision, commit, base is not None, subject)


@dataclass(frozen=True)
class TestRun:
    """One pytest run of a bug's linked tests, as the plugin's `--tracer-report` file tells it."""

    __test__ = False  # not a pytest test class

    outcomes: Mapping[str, str]  # test id -> passed, failed, error or skipped
    links: Mapping[str, tuple[str, ...]]  # test id -> the bug's checklist items it verifies
    environment: Environment
    exit_code: int
    output: str
    imports: Mapping[str, set[str]] | None = None  # module -> the files it came from; None: not recorded
    timed_out: bool = False
    seconds: float = 0.0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.strip().splitlines()[-lines:])


def run_linked_tests(
    workspace: Workspace,
    place: Path,
    bug_id: str,
    test_files: Sequence[str],
    isolation: Isolation,
    record: bool = False,
    timeout: float | None = None,
) -> TestRun:
    """Run only the tests linked to `bug_id` in `test_files` under `place`, importing the project
    from `isolation.tree`. With `record`, the plugin writes the run's evidence as any run would."""
    import time

    scratch = workspace.place("run")
    report = scratch / "report.json"
    options = [] if record else ["--tracer-no-evidence"]
    command = [  # -P: the tree's folders go on sys.path only through tracer.provesite, after tracer itself is loaded
        sys.executable,
        "-P",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        SITE_PLUGIN,
        "--continue-on-collection-errors",
        *options,
        f"--tracer-select={bug_id}",
        f"--tracer-report={report}",
        *test_files,
    ]
    env = {**os.environ, SITE_VARIABLE: isolation.settings(scratch)}
    started = time.monotonic()
    done = workspace.processes.run(command, place, env, timeout)
    seconds = time.monotonic() - started
    data: dict[str, Any] = {}
    if report.is_file():
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
    tests = data.get("tests", {})
    links = {
        test: tuple(item for bug, item in entry["links"] if bug.casefold() == bug_id.casefold())
        for test, entry in tests.items()
    }
    return TestRun(
        {test: entry["outcome"] for test, entry in tests.items()},
        links,
        Environment.of(data.get("environment", {})),
        done.exit_code,
        done.output,
        read_imports(scratch),
        done.timed_out,
        seconds,
    )


def check_imports(run: TestRun, isolation: Isolation, place: Path, side: str) -> None:
    """Refuse a run that imported a tagged module from outside the tree it was meant to test."""
    if run.imports is None:
        if run.outcomes:
            raise TracerError(f"the run {side} did not record where it imported the project's code from; no verdict")
        return
    foreign = foreign_imports(isolation, run.imports, place)
    if foreign:
        listed = "; ".join(f"{name} from {where}" for name, where in foreign[:5])
        raise TracerError(
            f"the run {side} imported {listed}, not from {isolation.tree}: an installed copy of the project "
            f"or a path the tests add put other code first, so no verdict is given (look for sys.path changes in "
            f"conftest.py, PYTHONPATH, and installs of the project: pip show)"
        )


def test_files_naming(root: Path, test_roots: Sequence[str], bug_id: str) -> list[str]:
    """The test files that mention the bug ID: only they are collected, so that a test file that
    cannot even be imported on the old code does not stop the others."""
    needle = bug_id.casefold().encode()
    files = []
    for test_root in test_roots:
        for path in sorted((root / test_root).rglob("*.py")):
            if path.is_file() and needle in path.read_bytes().lower():
                files.append(path.relative_to(root).as_posix())
    return files
