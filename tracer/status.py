"""Item states: what the evidence says of each checklist item on the code as it is now, and the
sentences the documents, the site and `tracer check` say it with. Reads evidence, never writes it.

A result is stale when a scope that its test ran has changed since (per test, not per bug): the
scopes it ran as recorded with it, and the code that runs at import (module-level blocks, class
bodies), which every test runs. A result without recorded execution (evidence of schema 1) keeps
the bug-wide meaning, any change of the bug's tagged code makes it stale, until the test runs
again. A test that ran none of the tagged code goes stale with the import-time code alone: an
item checked by reading the code says `kind: static`, and any other gets a W505 finding. A
manual sign-off is pinned the same way to the scopes its item's tests ran, or to the whole bug
where they ran none."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tracer.escape import MarkdownText, code_span, md_inline
from tracer.evidence import BugEvidence, Ghost, Outcome, Verdict, without_ghosts
from tracer.fingerprint import FINGERPRINT_SCHEME, code_id, fingerprints, scope_key
from tracer.lines import SourceIndex, changed_lines, lines_within, runs_at_import, source_index
from tracer.reports import BugReport, ItemKind, ManualSignOff
from tracer.sourcetext import SourceDecodeError, read_source
from tracer.tags import TaggedScope
from tracer.testids import ProjectTests


class ItemStatus(StrEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    STALE = "stale"
    MANUAL = "manual"
    OPEN = "open"
    UNKNOWN = "unknown"  # its tagged code lies in a file that does not parse now: that file's T001 says why

    @property
    def done(self) -> bool:
        return self in (ItemStatus.VERIFIED, ItemStatus.MANUAL)


@dataclass(frozen=True)
class LinkedResult:
    """One linked test's result in one environment, as the matrix shows it."""

    test_id: str
    environment: str  # its label
    outcome: Outcome
    current: bool  # ran on the code as it is now (the scopes it ran have not changed since)
    source: str = ""  # where the result came from, as TestResult.source
    executed: tuple[tuple[str, str], ...] | None = None  # (scope, line ranges) it ran; None: not recorded


@dataclass(frozen=True)
class TestRun:
    """What one linked test (its parametrized cases together) ran of the bug's changed lines."""

    __test__ = False  # not a pytest test class

    test: str  # its name, as `short_tests` shows it
    cases: int
    ran: int | None  # how many of the bug's changed lines it ran; None where that was not recorded
    of: int  # the bug's changed lines that run when called (not at import)
    scopes: tuple[str, ...]  # the tagged scopes it ran, by qualname
    junit: bool = False  # its results came from JUnit XML, which says nothing of the lines a test ran

    @property
    def sentence(self) -> MarkdownText:
        """ "`test_x` ran 12 of 15 changed lines (in `DiceLoss._compute`, `DBHead.forward`)"."""
        name = code_span(self.test) + (f" ({self.cases} cases)" if self.cases > 1 else "")
        if self.ran is None and self.junit:
            return MarkdownText(f"{name}: imported from JUnit, which does not say which lines a test ran")
        if self.ran is None:
            return MarkdownText(f"{name}: which lines it ran is not recorded; rerun the tests")
        if not self.scopes:
            return MarkdownText(
                f"{name} ran none of the bug's tagged code (not observed: code run in a subprocess is not seen)"
            )
        where = ", ".join(code_span(s) for s in self.scopes)
        if not self.of:
            return MarkdownText(f"{name} ran tagged code in {where}")
        ran = "none" if self.ran == 0 else f"{self.ran}"
        return MarkdownText(f"{name} ran {ran} of {self.of} changed lines (in {where})")


@dataclass(frozen=True)
class ItemState:
    """A checklist item as the documents show it."""

    id: str
    group: str
    text: str
    state: ItemStatus
    detail: str
    proof: str = ""  # what `tracer prove` found for the item's tests, where it ran
    results: tuple[LinkedResult, ...] = ()
    verified_in: tuple[str, ...] = ()  # labels of the environments where a test verified it
    kind: ItemKind = ItemKind.RUNTIME
    runs: tuple[TestRun, ...] = ()  # what each linked test ran of the changed lines

    @property
    def execution(self) -> tuple[MarkdownText, ...]:
        """The sentences that say what the item's tests ran, for the documents and the site."""
        if self.kind is ItemKind.STATIC:
            return (MarkdownText("checked without running the code (`kind: static`)"),) if self.results else ()
        return tuple(run.sentence for run in self.runs)

    @property
    def ran_nothing(self) -> tuple[TestRun, ...]:
        """Linked tests recorded running none of the bug's tagged code (W505), unless the item
        is checked without running it."""
        if self.kind is ItemKind.STATIC:
            return ()
        return tuple(run for run in self.runs if run.ran is not None and not run.scopes)


@dataclass(frozen=True)
class BugStatus:
    """A bug's report, tagged code, evidence and item states: computed once per command."""

    report: BugReport
    tagged: tuple[TaggedScope, ...]
    evidence: BugEvidence  # without the results of tests the project does not have
    items: tuple[ItemState, ...]
    ghosts: tuple[Ghost, ...] = ()  # results and proofs of tests the project does not have: they count for nothing
    changed_lines: int = 0  # the bug's changed lines that run when called
    lines_run: int = 0  # of those, how many the current results ran
    at_import: tuple[MarkdownText, ...] = ()  # sentences on the changes that run at import

    @property
    def status_line(self) -> str:
        """For example "fixed: 15 of 19 items verified; 2 stale; 2 open"."""
        parts = [f"{self.count(ItemStatus.VERIFIED)} of {len(self.items)} items verified"]
        parts += [
            f"{self.count(s)} {s}"
            for s in (ItemStatus.FAILED, ItemStatus.STALE, ItemStatus.MANUAL, ItemStatus.OPEN)
            if self.count(s)
        ]
        return f"{self.report.status}: " + "; ".join(parts)

    def count(self, state: ItemStatus) -> int:
        return sum(item.state is state for item in self.items)

    @property
    def summary(self) -> dict[str, Any]:
        """The counts an index shows of a bug, and where its items were verified."""
        return {
            "verified": self.count(ItemStatus.VERIFIED),
            "total": len(self.items),
            "stale": self.count(ItemStatus.STALE),
            "failed": self.count(ItemStatus.FAILED),
            "proven": self.proven,
            "environments": sorted({env for item in self.items for env in item.verified_in}),
            "changed_lines": self.changed_lines,
            "lines_run": self.lines_run,
        }

    @property
    def proven(self) -> int:
        """Items with a test that fails before the fix and passes after, in some environment."""
        return sum(
            any(
                v is Verdict.PROVEN
                for f in self.evidence.environments
                if f.proof
                for v in f.proof.items.get(i.id, {}).values()
            )
            for i in self.items
        )


def assess(
    report: BugReport,
    tagged: Iterable[TaggedScope],
    evidence: BugEvidence,
    root: Path,
    unparsed: frozenset[str] = frozenset(),
    tests: ProjectTests | None = None,
) -> BugStatus:
    """Each checklist item's state across every environment. A test's results on the current code
    speak for it; where it has none, its latest ones on older code do. Failed where such a result
    failed; verified where one passed on the current code; manual where a sign-off covers the
    current code; stale where tests passed (or a sign-off was given) only on older code. A result
    is on the current code when the scopes its test ran are unchanged (see the module's
    docstring). Results (and proofs) of tests the project does not have count for nothing: a test
    whose file is gone, or one that never was (`tests`: the project's, by default anywhere in
    it). An item that would be stale only because a file of `unparsed` (files that do not parse
    now) lost its tags is unknown: one error, one finding."""
    tagged = tuple(tagged)
    recorded_files = {
        key.partition("::")[0] for f in evidence.files.values() for p in f.fingerprints.values() for key in p
    }
    broken = sorted(recorded_files & unparsed)
    current = fingerprints(root, tagged)
    current_id = code_id(current)
    lines = ChangedLines.of(root, tagged)
    evidence, ghosts = without_ghosts(evidence, tests or ProjectTests(root))
    states = []
    all_runs: list[LinkedResult] = []
    for item in report.checklist:
        results, old_scheme, changed = [], set(), set()
        for file in evidence.environments:
            for test_id, result in sorted(file.items.get(item.id, {}).items()):
                is_current = file.scheme == FINGERPRINT_SCHEME and result.code == current_id
                if file.scheme != FINGERPRINT_SCHEME:
                    old_scheme.add(file.scheme)
                elif not is_current:
                    recorded = file.fingerprints.get(result.code, {})
                    moved = _changed(
                        relevant_scopes(result.scopes, recorded, current, lines.import_time), recorded, current
                    )
                    is_current = not moved
                    changed |= moved
                results.append(
                    LinkedResult(
                        test_id, file.environment.label, result.outcome, is_current, result.source, result.executed
                    )
                )
        state, detail = _state(results, old_scheme, changed)
        if state in (ItemStatus.OPEN, ItemStatus.STALE):
            pinned = item_scopes(results, lines.import_time)
            state, detail = _signed_off(
                item.id, item.manual, evidence, current, current_id, (state, detail), report.bug_id, pinned
            )
        if broken and state is ItemStatus.STALE:
            files = ", ".join(code_span(path) for path in broken)
            state, detail = (
                ItemStatus.UNKNOWN,
                f"unknown: {files} does not parse (T001); its state comes back when it does",
            )
        verified_in = tuple(sorted({r.environment for r in results if r.current and r.outcome is Outcome.PASSED}))
        runs = lines.runs(results)
        all_runs += [r for r in results if r.current and r.outcome is not Outcome.SKIPPED]
        states.append(
            ItemState(
                item.id,
                item.group,
                item.text,
                state,
                MarkdownText(detail),
                MarkdownText(_proof_summary(evidence, item.id, current_id)),
                tuple(results),
                verified_in if state is ItemStatus.VERIFIED else (),
                item.kind,
                runs,
            )
        )
    return BugStatus(
        report,
        tagged,
        evidence,
        tuple(states),
        ghosts,
        changed_lines=lines.total,
        lines_run=lines.ran(all_runs),
        at_import=lines.import_sentences(evidence),
    )


def relevant_scopes(
    scopes: frozenset[str] | None, recorded: Mapping[str, str], current: Mapping[str, str], import_time: frozenset[str]
) -> set[str]:
    """The scopes whose change makes a result stale: those its test ran and those that run at
    import; every scope of the bug where the test's execution was not recorded."""
    everything = set(recorded) | set(current)
    if scopes is None:
        return everything
    return set(scopes) | {s for s in everything if s in import_time or s.endswith("::<module>")}


def item_scopes(results: Iterable[LinkedResult], import_time: frozenset[str]) -> frozenset[str] | None:
    """The scopes an item's tests ran (what its sign-off is pinned to), None where they ran none."""
    scopes = {scope for r in results if r.executed for scope, _ in r.executed}
    return frozenset(scopes | import_time) if scopes else None


def _changed(scopes: Iterable[str], recorded: Mapping[str, str], current: Mapping[str, str]) -> set[str]:
    return {s for s in scopes if recorded.get(s) != current.get(s)}


@dataclass(frozen=True)
class ChangedLines:
    """The bug's changed lines as the code is now: which run when called, which at import."""

    tagged: tuple[TaggedScope, ...]
    changed: Mapping[str, frozenset[int]]  # scope key -> its changed lines that run when called
    import_time: frozenset[str]  # scope keys whose tagged lines run at import
    import_changed: Mapping[str, frozenset[int]]

    @classmethod
    def of(cls, root: Path, tagged: tuple[TaggedScope, ...]) -> ChangedLines:
        indexes: dict[str, SourceIndex] = {}
        for path in sorted({t.path for t in tagged}):
            try:
                indexes[path] = source_index(read_source(root / path))
            except (OSError, SourceDecodeError):
                indexes[path] = SourceIndex()  # fingerprints() names the file that cannot be read
        changed, import_changed, import_time = {}, {}, set()
        for t in tagged:
            numbers = changed_lines(t, indexes[t.path])
            if runs_at_import(t, indexes[t.path]):
                import_time.add(scope_key(t))
                import_changed[scope_key(t)] = numbers
            else:
                changed[scope_key(t)] = numbers
        return cls(tagged, changed, frozenset(import_time), import_changed)

    @property
    def total(self) -> int:
        return sum(len(numbers) for numbers in self.changed.values())

    def numbers(self, results: Iterable[LinkedResult]) -> dict[str, set[int]] | None:
        """The changed lines these results ran, by the scopes they ran (None where none of them
        was recorded)."""
        found: dict[str, set[int]] | None = None
        for result in results:
            if result.executed is None:
                continue
            found = found or {}
            for scope, ranges in result.executed:
                found.setdefault(scope, set()).update(lines_within(ranges, self.changed.get(scope, ())))
        return found

    def ran(self, results: Iterable[LinkedResult]) -> int:
        found = self.numbers(results) or {}
        return sum(len(found.get(scope, set()) & numbers) for scope, numbers in self.changed.items())

    def runs(self, results: Iterable[LinkedResult]) -> tuple[TestRun, ...]:
        """One TestRun per linked test, its cases and environments together: its current
        results, or where it has none, its latest ones; skips say nothing."""
        spoken = [r for r in results if r.outcome is not Outcome.SKIPPED]
        current = [r for r in spoken if r.current]
        chosen = current or spoken
        by_test: dict[tuple[str, str], list[LinkedResult]] = {}
        for result in chosen:
            path, _, name = result.test_id.partition("::")
            by_test.setdefault((path, name.split("[", 1)[0]), []).append(result)
        order = {scope_key(t): n for n, t in enumerate(self.tagged)}
        runs = []
        for (_, name), group in sorted(by_test.items()):
            found = self.numbers(group)
            cases = len({r.test_id for r in group})
            if found is None:
                runs.append(TestRun(name, cases, None, self.total, (), all(r.source == "junit" for r in group)))
                continue
            scopes = sorted(found, key=lambda s: (order.get(s, len(order)), s))
            ran = sum(len(found.get(scope, set()) & numbers) for scope, numbers in self.changed.items())
            runs.append(TestRun(name, cases, ran, self.total, tuple(s.rpartition("::")[2] for s in scopes)))
        return tuple(runs)

    def import_sentences(self, evidence: BugEvidence) -> tuple[MarkdownText, ...]:
        """ "`<module>` in `ocr/models/numerics.py`: 1 changed line, seen to run at import on cpython 3.11 / linux"."""
        sentences = []
        for t in self.tagged:
            key = scope_key(t)
            if key not in self.import_time:
                continue
            numbers = self.import_changed.get(key, frozenset())
            seen = sorted(f.environment.label for f in evidence.environments if key in f.imported)
            ran = set().union(
                *(lines_within(f.imported[key], numbers) for f in evidence.environments if key in f.imported)
            )
            name = f"{code_span(t.scope.qualname)} in {code_span(t.path)}"
            count = f"{len(numbers)} changed line{'s' if len(numbers) != 1 else ''}"
            if seen:
                where = "; ".join(md_inline(label) for label in seen)
                sentences.append(
                    MarkdownText(f"{name}: {count}, {len(ran & numbers)} seen to run at import (on {where})")
                )
            else:
                sentences.append(
                    MarkdownText(
                        f"{name}: {count}, run at import: not observed (the module was imported before the tests "
                        f"started)"
                    )
                )
        return tuple(sentences)


def _state(results: list[LinkedResult], old_scheme: set[int], changed: set[str]) -> tuple[ItemStatus, str]:
    if not results:
        return ItemStatus.OPEN, "no linked test has run"
    tests_run_now = {r.test_id for r in results if r.current}
    speaking = [r for r in results if r.current or r.test_id not in tests_run_now]
    failed = [r for r in speaking if r.outcome is Outcome.FAILED]
    if failed:
        older = "" if all(r.current for r in failed) else " (on code that has since changed)"
        return ItemStatus.FAILED, "failed: " + _where(failed) + older
    passed = [r for r in speaking if r.current and r.outcome is Outcome.PASSED]
    if passed:
        skipped = sum(r.outcome is Outcome.SKIPPED for r in results)
        stale = sorted({r.test_id for r in speaking if not r.current and r.outcome is Outcome.PASSED})
        rerun = ""
        if stale:
            scopes = ", ".join(code_span(s) for s in sorted(changed))
            rerun = f"; stale: {short_tests(stale)}, whose code has since changed ({scopes}): rerun them"
        return ItemStatus.VERIFIED, "by " + _where(passed) + (f" ({skipped} skipped)" if skipped else "") + rerun
    if old_scheme:
        schemes = ", ".join(str(s) for s in sorted(old_scheme))
        return ItemStatus.STALE, f"recorded with fingerprint scheme {schemes}, rerun the tests"
    if any(r.outcome is not Outcome.SKIPPED for r in results):
        scopes = ", ".join(code_span(s) for s in sorted(changed))
        return ItemStatus.STALE, f"verified on code that has since changed: {scopes}; rerun the tests"
    return ItemStatus.OPEN, f"{len(results)} linked test{'s' if len(results) > 1 else ''} ran, none passed (skipped)"


def _where(results: list[LinkedResult]) -> str:
    """ "`test_a` in `tests/x.py` on cpython 3.11 / linux; `test_b` in `tests/x.py` on cpython 3.12 / linux"."""
    by_environment: dict[str, list[str]] = {}
    imported: set[str] = set()
    for result in results:
        by_environment.setdefault(result.environment, []).append(result.test_id)
        if result.source == "junit":
            imported.add(result.environment)
    return "; ".join(
        f"{short_tests(tests)} on {md_inline(env)}" + (" (from JUnit)" if env in imported else "")
        for env, tests in sorted(by_environment.items())
    )


def _signed_off(
    item_id: str,
    manual: ManualSignOff | None,
    evidence: BugEvidence,
    current: Mapping[str, str],
    current_id: str,
    tested: tuple[ItemStatus, str],
    bug_id: str,
    pinned: frozenset[str] | None = None,
) -> tuple[ItemStatus, str]:
    """A sign-off on the current code makes an open or stale item manual; one on older code makes
    an open item stale. The current code is that of the scopes the item's tests ran (`pinned`),
    or the whole bug's where they ran none."""
    sign_off = evidence.signoffs.get(item_id)
    if sign_off is not None:
        recorded = evidence.fingerprints_of(sign_off.code) or {}
        scopes = set(pinned) if pinned is not None else set(recorded) | set(current)
        if sign_off.code == current_id or (recorded and not _changed(scopes, recorded, current)):
            return ItemStatus.MANUAL, f"signed off by {md_inline(sign_off.by)}: {md_inline(sign_off.reason)}"
        if tested[0] is ItemStatus.STALE:
            return tested
        changed = ", ".join(code_span(s) for s in sorted(_changed(scopes, recorded, current)))
        return ItemStatus.STALE, (
            f"signed off by {md_inline(sign_off.by)} on code that has since changed: {changed}; "
            f"sign off again with {code_span(signoff_command(bug_id, item_id, sign_off.by, sign_off.reason))}"
        )
    if (
        manual is not None and tested[0] is ItemStatus.OPEN
    ):  # in the report alone: it counts, and check asks to pin it (W504)
        return ItemStatus.MANUAL, (
            f"signed off by {md_inline(manual.by)}: {md_inline(manual.reason)} (not pinned to the code yet: the "
            f"next test run pins it)"
        )
    return tested


def signoff_command(bug_id: str, item_id: str, by: str, reason: str) -> str:
    """The `tracer signoff` command that records this sign-off, quoted to run as printed."""
    return shlex.join(["tracer", "signoff", bug_id, item_id, "--by", by, "--reason", reason])


def _proof_summary(evidence: BugEvidence, item_id: str, current_id: str) -> str:
    """ "fails before the fix, passes after: `test_a`; passes before too: `test_b` (on cpython 3.11 / linux)"."""
    parts = []
    for file in evidence.environments:
        verdicts = file.proof.items.get(item_id, {}) if file.proof else {}
        if not verdicts or file.proof is None:
            continue
        by_verdict: dict[str, list[str]] = {}
        for test_id, verdict in sorted(verdicts.items()):
            by_verdict.setdefault(verdict.description, []).append(test_id)
        summary = "; ".join(f"{verdict}: {short_tests(tests)}" for verdict, tests in sorted(by_verdict.items()))
        older = "" if file.proof.code in ("", current_id) else ", on code that has since changed"
        parts.append(f"{summary} (on {md_inline(file.environment.label)}{older})")
    return " | ".join(parts)


def short_tests(test_ids: list[str]) -> str:
    """Test ids grouped by file, parametrized cases folded:
    "`test_a` (3 cases), `test_b` in `tests/test_x.py`"."""
    by_file: dict[str, dict[str, int]] = {}
    for test_id in sorted(test_ids):
        path, _, name = test_id.partition("::")
        counts = by_file.setdefault(path, {})
        base = name.split("[", 1)[0]
        counts[base] = counts.get(base, 0) + 1
    return "; ".join(
        ", ".join(code_span(name) + (f" ({n} cases)" if n > 1 else "") for name, n in counts.items())
        + f" in {code_span(path)}"
        for path, counts in by_file.items()
    )
