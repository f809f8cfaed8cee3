"""`tracer prove`: run a bug's linked tests on the pre-fix revision and on the current code.

A regression test is proven when it fails before the fix and passes after, the same way in every
one of `repeat` runs of each side; a test whose outcome changes between runs of one side is
flaky and proves nothing. The pre-fix code is checked out into a temporary git worktree with the
current tests and reports laid over it; the user's work tree is never touched, and the workspace
is removed afterwards (tracer.workspace). Each side imports the project from its own tree, and
is checked to have done so (tracer.testrun). The proof is kept with the evidence of the
environment the tests ran in."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tracer.config import Config
from tracer.environment import Environment
from tracer.evidence import Proof, Verdict, record_proof
from tracer.isolation import Isolation, isolation
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.tags import TaggedScope
from tracer.testrun import Target, TestRun, check_imports, run_linked_tests, test_files_naming
from tracer.workspace import workspace

DEFAULT_REPEAT = 3


@dataclass(frozen=True)
class ProveResult:
    proof: Proof
    environment: Environment
    before: tuple[TestRun, ...]  # the runs on the old code, whose output explains a run that did nothing


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


def prove_bug(
    config: Config,
    report: BugReport,
    tagged: Sequence[TaggedScope],
    target: Target,
    repeat: int = DEFAULT_REPEAT,
    timeout: float | None = None,
) -> ProveResult:
    """Run the bug's linked tests `repeat` times before the fix and after it; keep the proof with
    the evidence of the environment they ran in, pinned to the `tagged` code."""
    if repeat < 1:
        raise TracerError("--repeat must be at least 1")
    if target.commit is None:
        raise TracerError(f"cannot check out {target.revision}: not a commit of this repository")
    test_files = test_files_naming(config.root, list(config.test_roots), report.bug_id)
    if not test_files:
        raise TracerError(f"no test file under {', '.join(config.test_roots)} mentions {report.bug_id}")
    tagged_paths = sorted({t.path for t in tagged})
    with workspace(config.root) as place:
        tree = place.checkout(target.commit, config.repo_prefix)
        for relative in [*config.test_roots, config.reports_dir]:
            source = config.root / relative
            if source.is_dir():
                shutil.copytree(
                    source, tree / relative, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
        old = isolation(tree, tagged_paths, config.source_roots, others=[config.root])
        new = isolation(config.root, tagged_paths, config.source_roots, others=[tree])
        before = []
        for _ in range(repeat):
            run = run_linked_tests(place, tree, report.bug_id, test_files, old, timeout=timeout)
            _check(run, old, tree, f"on the pre-fix revision {target.shown}", timeout)
            before.append(run)
        after = []
        for n in range(repeat):
            run = run_linked_tests(place, config.root, report.bug_id, test_files, new, record=(n == 0), timeout=timeout)
            _check(run, new, config.root, "on the current code", timeout)
            after.append(run)
    environment = after[0].environment
    items: dict[str, dict[str, Verdict]] = {}
    for test_id, linked_items in sorted(after[0].links.items()):
        verdict = classify([run.outcomes.get(test_id) for run in before], [run.outcomes.get(test_id) for run in after])
        for item_id in linked_items:
            items.setdefault(item_id, {})[test_id] = verdict
    proof = Proof(target.commit, repeat, items)
    record_proof(config, report.bug_id, tagged, environment, proof)
    return ProveResult(proof, environment, tuple(before))


def _check(run: TestRun, isolated: Isolation, place: Path, side: str, timeout: float | None) -> None:
    """A run that hung or imported other code gives no verdict."""
    if run.timed_out:
        raise TracerError(f"the linked tests {side} ran past --timeout {timeout or 0:g} s; no verdict:\n{run.tail()}")
    check_imports(run, isolated, place, side)
