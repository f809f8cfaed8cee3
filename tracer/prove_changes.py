"""`tracer prove --changes`: is each change of a fix needed, and does a linked test say so?

Each change block of the fix (tracer.blocks) is put back to its pre-fix form alone, in a copy of
the current code, and the bug's linked tests run there: the tests that pass on the current code
and fail without the block catch it. One process per block, up to the cores at once, each with
a time limit, so a test that hangs without a block is that block's finding. Only pieces of the
pre-fix revision run, never the revision itself; where this clone lacks it, the pre-fix forms
come from the diffs committed in the bug's document."""

from __future__ import annotations

import codecs
import io
import os
import re
import shutil
import tokenize
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tracer.blocks import (
    ChangeBlock,
    PreFix,
    Revert,
    change_blocks,
    changes_code,
    pre_fix_from_diff,
    pre_fix_from_git,
    revert,
)
from tracer.changes import ChangeProof, ChangeResult, ChangeStatus
from tracer.config import Config
from tracer.environment import Environment
from tracer.evidence import record_change_proof
from tracer.gitio import file_at
from tracer.isolation import isolation
from tracer.problems import TracerError, shown_path
from tracer.render import diffs_path, kept_diffs
from tracer.reports import BugReport
from tracer.sourcetext import SourceDecodeError, read_source, split_lines_keepends
from tracer.tags import TaggedScope
from tracer.testrun import Target, TestRun, check_imports, run_linked_tests, test_files_naming
from tracer.workspace import Workspace, copy_files, project_files, workspace

TIMEOUT_FLOOR = 120.0  # seconds a block's run may take at least, by default
TIMEOUT_FACTOR = 10  # ... or this many times the run on the current code, whichever is longer


@dataclass(frozen=True)
class ChangesResult:
    proof: ChangeProof
    environment: Environment
    note: str  # where the pre-fix forms came from, where that is not git
    timeout: float  # the time limit each block's run had


@dataclass(frozen=True)
class _Plan:
    """What every block's run shares."""

    config: Config
    bug_id: str
    files: tuple[str, ...]  # the project's files, copied for each block
    test_files: tuple[str, ...]
    tagged_paths: tuple[str, ...]
    passing: tuple[str, ...]  # linked tests that pass on the current code
    timeout: float


def prove_changes(
    config: Config,
    report: BugReport,
    tagged: Sequence[TaggedScope],
    target: Target,
    timeout: float | None = None,
    jobs: int | None = None,
) -> ChangesResult:
    """Put back each change block of the fix alone and run the linked tests; keep the findings
    with the evidence of the environment they ran in."""
    test_files = test_files_naming(config.root, list(config.test_roots), report.bug_id)
    if not test_files:
        raise TracerError(f"no test file under {', '.join(config.test_roots)} mentions {report.bug_id}")
    if not tagged:
        raise TracerError(f"no code is tagged with {report.bug_id}: there are no changes to put back")
    current = _current_lines(config, tagged)
    pre_fix, source, note = _pre_fix_forms(config, report, tagged, target, current)
    blocks = change_blocks(tagged, current, pre_fix)
    tagged_paths = tuple(sorted({t.path for t in tagged}))
    files = tuple(project_files(config.root))
    with workspace(config.root) as place:
        baseline_tree = place.place("current")
        copy_files(config.root, files, baseline_tree)
        isolated = isolation(baseline_tree, tagged_paths, config.source_roots, others=[config.root])
        baseline = run_linked_tests(place, baseline_tree, report.bug_id, test_files, isolated, timeout=timeout)
        if baseline.timed_out:
            raise TracerError(
                f"the linked tests ran past --timeout {timeout or 0:g} s on the current code:\n{baseline.tail()}"
            )
        check_imports(baseline, isolated, baseline_tree, "on a copy of the current code")
        passing = tuple(sorted(t for t, outcome in baseline.outcomes.items() if outcome == "passed"))
        if not passing:
            raise TracerError(
                f"no linked test of {report.bug_id} passes on the current code, so none can catch a change "
                f"(pytest exit code {baseline.exit_code}):\n{baseline.tail()}"
            )
        shutil.rmtree(baseline_tree, ignore_errors=True)
        limit = timeout or max(TIMEOUT_FLOOR, TIMEOUT_FACTOR * baseline.seconds)
        plan = _Plan(config, report.bug_id, files, tuple(test_files), tagged_paths, passing, limit)
        results = _run_blocks(place, plan, blocks, current, jobs)
    proof = ChangeProof(target.commit or target.revision, "", source, tuple(sorted(results)))
    record_change_proof(config, report.bug_id, tagged, baseline.environment, proof)
    return ChangesResult(proof, baseline.environment, note, limit)


def _current_lines(config: Config, tagged: Sequence[TaggedScope]) -> dict[str, list[str]]:
    lines = {}
    for path in sorted({t.path for t in tagged}):
        try:
            lines[path] = split_lines_keepends(read_source(config.root / path))
        except (OSError, SourceDecodeError) as error:
            raise TracerError(f"cannot read: {error}", path) from None
    return lines


def _pre_fix_forms(
    config: Config, report: BugReport, tagged: Sequence[TaggedScope], target: Target, current: Mapping[str, list[str]]
) -> tuple[dict[tuple[str, str], PreFix], str, str]:
    """Each scope's pre-fix form, where it came from, and a note where that is not git."""
    if target.commit is not None:
        old_files: dict[str, str | None] = {}
        forms = {}
        for item in tagged:
            if item.path not in old_files:
                old_files[item.path] = file_at(config.root, target.commit, config.in_repo(item.path))
            forms[(item.path, item.scope.qualname)] = pre_fix_from_git(
                old_files[item.path], item, target.commit[:12], current[item.path]
            )
        return forms, "git", ""
    if target.explicit:
        raise TracerError(
            f"--base {target.revision} is not a commit of this clone; the kept diffs are against the "
            "report's pre_fix_revision: run without --base"
        )
    kept = diffs_path(config, report)
    diffs = kept_diffs(config, report)
    shown = shown_path(kept)
    if not diffs:
        raise TracerError(
            f"{target.revision} is not a commit of this clone, and there are no diffs in {shown} to take "
            "the pre-fix forms from; fetch the history (git fetch --unshallow) or render the document where it is",
            report.path,
            report.line_of("pre_fix_revision"),
        )
    forms = {
        (item.path, item.scope.qualname): pre_fix_from_diff(
            diffs.get((item.path, item.scope.qualname)), item, current[item.path]
        )
        for item in tagged
    }
    note = (
        f"{target.revision} is not a commit of this clone: the pre-fix forms come from the diffs committed in {shown}"
    )
    return forms, "committed diffs", note


def _run_blocks(
    place: Workspace, plan: _Plan, blocks: Sequence[ChangeBlock], current: Mapping[str, list[str]], jobs: int | None
) -> list[ChangeResult]:
    """Each block's finding: those that need no run at once, the others one process each, in parallel."""
    results: list[ChangeResult] = []
    runs: list[tuple[ChangeBlock, Revert]] = []
    for block in blocks:
        reverted = revert(block, current[block.path]) if not block.problem else Revert(None)
        if block.problem:
            results.append(_result(block, ChangeStatus.UNAVAILABLE, message=block.problem))
        elif reverted.text is None:
            results.append(_result(block, ChangeStatus.DOES_NOT_PARSE, message=reverted.problem))
        elif not changes_code("".join(current[block.path]), reverted.text):
            results.append(
                _result(
                    block,
                    ChangeStatus.NO_CODE_CHANGE,
                    message="comments, blank lines or docstrings only: nothing to run",
                )
            )
        else:
            runs.append((block, reverted))
    if not runs:
        return results
    workers = max(1, min(len(runs), jobs or os.cpu_count() or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tracer-prove")
    try:
        futures = [pool.submit(_run_block, place, plan, block, reverted) for block, reverted in runs]
        for future in as_completed(futures):
            results.append(future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        place.processes.stop()  # a refused or interrupted run stops the others' tests
        pool.shutdown(wait=True)
    return results


def _run_block(place: Workspace, plan: _Plan, block: ChangeBlock, reverted: Revert) -> ChangeResult:
    tree = place.place("block")
    try:
        copy_files(plan.config.root, plan.files, tree)
        target = tree / block.path
        original = (plan.config.root / block.path).read_bytes()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a link in the copy is replaced, never written through
        target.write_bytes(_encoded(reverted.text or "", original))
        isolated = isolation(tree, plan.tagged_paths, plan.config.source_roots, others=[plan.config.root])
        run = run_linked_tests(place, tree, plan.bug_id, plan.test_files, isolated, timeout=plan.timeout)
        if not run.timed_out:
            check_imports(run, isolated, tree, f"without {block.path}:{block.start_line}-{block.end_line}")
        return _classified(block, reverted, run, plan, tree)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def _encoded(text: str, original: bytes) -> bytes:
    """Text in the encoding the original file declares (its cookie or BOM), as Python will read it."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    except SyntaxError:
        encoding = "utf-8"
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8", "surrogateescape")
    try:
        return text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return text.encode("utf-8", "surrogateescape")


def _classified(block: ChangeBlock, reverted: Revert, run: TestRun, plan: _Plan, tree: Path) -> ChangeResult:
    how = "" if reverted.how == "the block" else reverted.how
    if run.timed_out:
        return _result(
            block,
            ChangeStatus.TIMED_OUT,
            message=_joined(
                "the linked tests did not finish in time without it (a test hangs without it, or --timeout is too "
                "short)",
                how,
            ),
        )
    caught = tuple(t for t in plan.passing if run.outcomes.get(t) in ("failed", "error"))
    missing = [t for t in plan.passing if t not in run.outcomes]
    if missing or not run.outcomes:
        return _result(
            block, ChangeStatus.DOES_NOT_IMPORT, caught, _joined(_first_error(run.output, tree, missing), how)
        )
    return _result(block, ChangeStatus.CAUGHT if caught else ChangeStatus.NOT_CAUGHT, caught, how)


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


_ERROR_LINE = re.compile(r"^E\s+(\w*(?:Error|Exception)\b.*)$", re.MULTILINE)


def _first_error(output: str, tree: Path, missing: Sequence[str]) -> str:
    """Why the linked tests could not be collected without the block: the first error pytest
    printed, without the temporary folder's path (the evidence must not change from run to run)."""
    found = _ERROR_LINE.search(output)
    what = found[1].strip() if found else f"{len(missing)} linked test(s) could not be collected"
    for folder in {str(tree), os.path.realpath(tree)}:
        what = what.replace(folder + os.sep, "").replace(folder, ".")
    return f"the linked tests cannot be collected without it: {what[:300]}"


def _result(block: ChangeBlock, status: ChangeStatus, caught_by: Sequence[str] = (), message: str = "") -> ChangeResult:
    return ChangeResult(
        block.path, block.start_line, block.end_line, block.qualname, status, tuple(sorted(caught_by)), message
    )
