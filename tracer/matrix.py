"""The traceability matrix as data: one row a checklist item, one column an environment (and one
for `tracer prove`), each cell a verdict over the item's linked tests that ran there, with the
tests themselves. The site and the MkDocs plugin draw it; neither decides a verdict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tracer.evidence import Outcome, Verdict
from tracer.status import BugStatus, ItemState, LinkedResult


class CellVerdict(StrEnum):
    """An item's verdict in one environment, from the results of its tests there."""

    PASSED = "passed"  # a linked test passed on the current code, none failed
    FAILED = "failed"  # a linked test's latest result failed
    STALE = "stale"  # tests ran only on code that has since changed
    SKIPPED = "skipped"  # every linked test was skipped
    NONE = "none"  # no linked test ran here


@dataclass(frozen=True)
class Cell:
    verdict: CellVerdict
    results: tuple[LinkedResult, ...] = ()

    @property
    def tests(self) -> int:
        return len({r.test_id for r in self.results})


@dataclass(frozen=True)
class ProofCell:
    """What `tracer prove` found for the item's tests, in every environment where it ran."""

    verdict: str  # the strongest verdict ("proven", "fails after", ...), "" where the item has no proof
    proofs: tuple[tuple[str, str, str], ...] = ()  # (test id, verdict description, environment label)

    @property
    def tests(self) -> int:
        return len({test for test, _, _ in self.proofs})


@dataclass(frozen=True)
class Row:
    bug_id: str
    item: ItemState
    cells: tuple[Cell, ...]  # one per environment of the matrix, in its order
    proof: ProofCell


@dataclass(frozen=True)
class Matrix:
    environments: tuple[str, ...]  # labels, sorted
    rows: tuple[Row, ...]


def cell_verdict(results: Sequence[LinkedResult]) -> CellVerdict:
    """The item's verdict in one environment: each test's results on the current code speak for
    it, else its results on older code (as for the item's state across environments)."""
    if not results:
        return CellVerdict.NONE
    current_tests = {r.test_id for r in results if r.current}
    speaking = [r for r in results if r.current or r.test_id not in current_tests]
    if any(r.outcome is Outcome.FAILED for r in speaking):
        return CellVerdict.FAILED
    if any(r.current and r.outcome is Outcome.PASSED for r in speaking):
        return CellVerdict.PASSED
    if any(r.outcome is not Outcome.SKIPPED for r in speaking):
        return CellVerdict.STALE
    return CellVerdict.SKIPPED


_PROOF_ORDER = [
    Verdict.FAILS_AFTER,
    Verdict.PROVEN,
    Verdict.FLAKY,
    Verdict.PASSES_BEFORE,
    Verdict.NOT_RUN_BEFORE,
    Verdict.SKIPPED,
]


def proof_cell(bug: BugStatus, item_id: str) -> ProofCell:
    found: list[tuple[str, Verdict, str]] = []
    for file in bug.evidence.environments:
        if file.proof is not None:
            found += [
                (test, verdict, file.environment.label) for test, verdict in file.proof.items.get(item_id, {}).items()
            ]
    if not found:
        return ProofCell("")
    strongest = min((verdict for _, verdict, _ in found), key=_PROOF_ORDER.index)
    return ProofCell(strongest.value, tuple(sorted((t, v.description, e) for t, v, e in found)))


def bug_matrix(bugs: Iterable[BugStatus]) -> Matrix:
    """Every item of `bugs` against every environment any of their tests ran in."""
    bugs = list(bugs)
    environments = tuple(sorted({r.environment for bug in bugs for item in bug.items for r in item.results}))
    rows = []
    for bug in bugs:
        for item in bug.items:
            cells = []
            for environment in environments:
                results = tuple(
                    sorted((r for r in item.results if r.environment == environment), key=lambda r: r.test_id)
                )
                cells.append(Cell(cell_verdict(results), results))
            rows.append(Row(bug.report.bug_id, item, tuple(cells), proof_cell(bug, item.id)))
    return Matrix(environments, tuple(rows))
