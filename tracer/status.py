"""Item states: what the evidence says of each checklist item on the code as it is now, and the
sentences the documents, the site and `tracer check` say it with. Reads evidence, never writes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
import shlex
from pathlib import Path
from typing import Any

from tracer.escape import MarkdownText, code_span, md_inline
from tracer.evidence import BugEvidence, Ghost, Outcome, Verdict, without_ghosts
from tracer.fingerprint import FINGERPRINT_SCHEME, changed_scopes, code_id, fingerprints
from tracer.reports import BugReport, ManualSignOff
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
    current: bool  # ran on the code as it is now
    source: str = ""  # where the result came from, as TestResult.source


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


@dataclass(frozen=True)
class BugStatus:
    """A bug's report, tagged code, evidence and item states: computed once per command."""

    report: BugReport
    tagged: tuple[TaggedScope, ...]
    evidence: BugEvidence  # without the results of tests the project does not have
    items: tuple[ItemState, ...]
    ghosts: tuple[Ghost, ...] = ()  # results and proofs of tests the project does not have: they count for nothing

    @property
    def status_line(self) -> str:
        """For example "fixed: 15 of 19 items verified; 2 stale; 2 open"."""
        parts = [f"{self.count(ItemStatus.VERIFIED)} of {len(self.items)} items verified"]
        parts += [f"{self.count(s)} {s}" for s in (ItemStatus.FAILED, ItemStatus.STALE, ItemStatus.MANUAL, ItemStatus.OPEN) if self.count(s)]
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
        }

    @property
    def proven(self) -> int:
        """Items with a test that fails before the fix and passes after, in some environment."""
        return sum(
            any(v is Verdict.PROVEN for f in self.evidence.environments if f.proof for v in f.proof.items.get(i.id, {}).values())
            for i in self.items
        )


def assess(report: BugReport, tagged: Iterable[TaggedScope], evidence: BugEvidence, root: Path,
           unparsed: frozenset[str] = frozenset(), tests: ProjectTests | None = None) -> BugStatus:
    """Each checklist item's state across every environment. A test's results on the current code
    speak for it; where it has none, its latest ones on older code do. Failed where such a result
    failed; verified where one passed on the current code; manual where a sign-off covers the
    current code; stale where tests passed (or a sign-off was given) only on older code. Results
    (and proofs) of tests the project does not have count for nothing: a test whose file is gone,
    or one that never was (`tests`: the project's, by default anywhere in it). An item that would
    be stale only because a file of `unparsed` (files that do not parse now) lost its tags is
    unknown: one error, one finding."""
    tagged = tuple(tagged)
    recorded_files = {key.partition("::")[0] for f in evidence.files.values() for p in f.fingerprints.values() for key in p}
    broken = sorted(recorded_files & unparsed)
    current = fingerprints(root, tagged)
    current_id = code_id(current)
    evidence, ghosts = without_ghosts(evidence, tests or ProjectTests(root))
    states = []
    for item in report.checklist:
        results, old_scheme, changed = [], set(), set()
        for file in evidence.environments:
            for test_id, result in sorted(file.items.get(item.id, {}).items()):
                is_current = file.scheme == FINGERPRINT_SCHEME and result.code == current_id
                if file.scheme != FINGERPRINT_SCHEME:
                    old_scheme.add(file.scheme)
                elif not is_current:
                    changed |= changed_scopes(file.fingerprints.get(result.code, {}), current)
                results.append(LinkedResult(test_id, file.environment.label, result.outcome, is_current, result.source))
        state, detail = _state(results, old_scheme, changed)
        if state in (ItemStatus.OPEN, ItemStatus.STALE):
            state, detail = _signed_off(item.id, item.manual, evidence, current, current_id, (state, detail), report.bug_id)
        if broken and state is ItemStatus.STALE:
            files = ", ".join(code_span(path) for path in broken)
            state, detail = ItemStatus.UNKNOWN, f"unknown: {files} does not parse (T001); its state comes back when it does"
        verified_in = tuple(sorted({r.environment for r in results if r.current and r.outcome is Outcome.PASSED}))
        states.append(
            ItemState(item.id, item.group, item.text, state, MarkdownText(detail),
                      MarkdownText(_proof_summary(evidence, item.id, current_id)),
                      tuple(results), verified_in if state is ItemStatus.VERIFIED else ())
        )
    return BugStatus(report, tagged, evidence, tuple(states), ghosts)


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
        return ItemStatus.VERIFIED, "by " + _where(passed) + (f" ({skipped} skipped)" if skipped else "")
    if old_scheme:
        schemes = ", ".join(str(s) for s in sorted(old_scheme))
        return ItemStatus.STALE, f"recorded with fingerprint scheme {schemes}, rerun the tests"
    if any(r.outcome is not Outcome.SKIPPED for r in results):
        scopes = ", ".join(code_span(s) for s in sorted(changed))
        return ItemStatus.STALE, f"verified on code that has since changed: {scopes}; rerun the tests"
    return ItemStatus.OPEN, f"{len(results)} linked test{'s' if len(results) > 1 else ''} ran, none passed (skipped)"


def _where(results: list[LinkedResult]) -> str:
    """"`test_a` in `tests/x.py` on cpython 3.11 / linux; `test_b` in `tests/x.py` on cpython 3.12 / linux"."""
    by_environment: dict[str, list[str]] = {}
    imported: set[str] = set()
    for result in results:
        by_environment.setdefault(result.environment, []).append(result.test_id)
        if result.source == "junit":
            imported.add(result.environment)
    return "; ".join(
        f"{short_tests(tests)} on {md_inline(env)}" + (" (from JUnit)" if env in imported else "") for env, tests in sorted(by_environment.items())
    )


def _signed_off(
    item_id: str, manual: ManualSignOff | None, evidence: BugEvidence, current: Mapping[str, str], current_id: str,
    tested: tuple[ItemStatus, str], bug_id: str,
) -> tuple[ItemStatus, str]:
    """A sign-off on the current code makes an open or stale item manual; one on older code makes
    an open item stale."""
    sign_off = evidence.signoffs.get(item_id)
    if sign_off is not None:
        if sign_off.code == current_id:
            return ItemStatus.MANUAL, f"signed off by {md_inline(sign_off.by)}: {md_inline(sign_off.reason)}"
        if tested[0] is ItemStatus.STALE:
            return tested
        recorded = evidence.fingerprints_of(sign_off.code) or {}
        changed = ", ".join(code_span(s) for s in sorted(changed_scopes(recorded, current)))
        return ItemStatus.STALE, (
            f"signed off by {md_inline(sign_off.by)} on code that has since changed: {changed}; "
            f"sign off again with {code_span(signoff_command(bug_id, item_id, sign_off.by, sign_off.reason))}"
        )
    if manual is not None and tested[0] is ItemStatus.OPEN:  # in the report alone: it counts, and check asks to pin it (W504)
        return ItemStatus.MANUAL, (
            f"signed off by {md_inline(manual.by)}: {md_inline(manual.reason)} (not pinned to the code yet: the next test run pins it)"
        )
    return tested


def signoff_command(bug_id: str, item_id: str, by: str, reason: str) -> str:
    """The `tracer signoff` command that records this sign-off, quoted to run as printed."""
    return shlex.join(["tracer", "signoff", bug_id, item_id, "--by", by, "--reason", reason])


def _proof_summary(evidence: BugEvidence, item_id: str, current_id: str) -> str:
    """"fails before the fix, passes after: `test_a`; passes before too: `test_b` (on cpython 3.11 / linux)"."""
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
        ", ".join(code_span(name) + (f" ({n} cases)" if n > 1 else "") for name, n in counts.items()) + f" in {code_span(path)}"
        for path, counts in by_file.items()
    )
