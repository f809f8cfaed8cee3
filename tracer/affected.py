"""`tracer affected`: the linked tests whose executed code changed between a revision and the
work tree, read from the evidence (the scopes each test ran) and the fingerprints of those
scopes at the revision (its files read with `git show` and the scanner) and now. Nothing runs.

A test is affected when a scope it ran changed, when code that runs at import changed (every
test runs it), or when it has no recorded execution (it was never run with tracer, or its
execution was not recorded): the rules that make its results stale. One more: a test of an item
`kind: static` reads the code instead of running it, so it is affected by any change of the
bug's tagged code, though its results do not go stale with it (a gate that cries stale at every
edit is one people learn to ignore; a rerun costs little)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracer.config import Config
from tracer.evidence import load_evidence
from tracer.fingerprint import changed_scopes, fingerprints, fingerprints_of_lines
from tracer.gitio import GitError, file_at, resolve_revision
from tracer.problems import TracerError
from tracer.reports import ItemKind, load_reports
from tracer.scanner import TaggedScope, iter_tagged, scan_source
from tracer.sources import scan_project
from tracer.sourcetext import split_lines
from tracer.status import ChangedLines, relevant_scopes


@dataclass(frozen=True)
class AffectedTest:
    test_id: str
    bug_id: str
    reason: str  # why it must run again


@dataclass(frozen=True)
class Affected:
    """What changed since `base`, and which linked tests that asks to run again."""

    base: str
    affected: tuple[AffectedTest, ...]
    recorded: frozenset[str]  # linked tests with a recorded execution, affected or not

    @property
    def tests(self) -> frozenset[str]:
        return frozenset(a.test_id for a in self.affected)


def affected_tests(config: Config, base: str) -> Affected:
    """The linked tests of every bug with a report whose executed code changed since `base`."""
    try:
        revision = resolve_revision(config.root, base)
    except GitError:
        raise TracerError(f"{base} is not a commit of this repository") from None
    scans = scan_project(config)
    found: dict[str, AffectedTest] = {}
    recorded: set[str] = set()
    for report in sorted(load_reports(config).reports, key=lambda r: r.bug_id):
        spelling = _spelling(report.bug_id, [i for s in scans for t in s.scopes for c in t.changes for i in c.bug_ids])
        tagged = list(iter_tagged(scans, spelling))
        evidence = load_evidence(config, report.bug_id)
        static = {i.id for i in report.checklist if i.kind is ItemKind.STATIC}
        tests: dict[str, set[str] | None] = {}  # test -> the scopes it ran (None: never recorded)
        reads: set[str] = set()  # tests of static items
        for file in evidence.environments:
            for item_id, results in file.items.items():
                for test_id, result in results.items():
                    if not (config.root / test_id.partition("::")[0]).is_file():
                        continue
                    ran = tests.setdefault(test_id, None)
                    if result.scopes is not None:
                        tests[test_id] = (ran or set()) | result.scopes
                    if item_id in static:
                        reads.add(test_id)
        paths = {t.path for t in tagged} | {s.partition("::")[0] for ran in tests.values() for s in ran or ()}
        now = fingerprints(config.root, tagged)
        then = _fingerprints_at(config, revision, sorted(paths), report.bug_id)
        changed = changed_scopes(then, now)
        import_time = ChangedLines.of(config.root, tuple(tagged)).import_time
        for test_id, ran in sorted(tests.items()):
            if ran is not None:
                recorded.add(test_id)
            reason = _reason(ran, changed, then, now, import_time, test_id in reads)
            if reason and test_id not in found:
                found[test_id] = AffectedTest(test_id, report.bug_id, reason)
    return Affected(base, tuple(found[t] for t in sorted(found)), frozenset(recorded))


def _reason(
    ran: set[str] | None,
    changed: set[str],
    then: Mapping[str, str],
    now: Mapping[str, str],
    import_time: frozenset[str],
    reads: bool,
) -> str:
    if ran is None:
        return "no recorded execution"
    if reads and changed:
        return "checks an item `kind: static`, and the tagged code it reads changed: " + ", ".join(
            f"`{s}`" for s in sorted(changed)
        )
    hit = sorted(relevant_scopes(frozenset(ran), then, now, import_time) & changed)
    if not hit:
        return ""
    verb = "ran" if set(hit) & ran else "runs at import"
    return f"{verb} " + ", ".join(f"`{s}`" for s in hit) + ", which changed"


def _spelling(bug_id: str, tagged_ids: list[str]) -> str:
    return next((i for i in sorted(set(tagged_ids)) if i.casefold() == bug_id.casefold()), bug_id)


def _fingerprints_at(config: Config, revision: str, paths: list[str], bug_id: str) -> dict[str, str]:
    """The fingerprints of the bug's tagged scopes in these files at `revision`."""
    tagged: list[TaggedScope] = []
    sources: dict[str, list[str]] = {}
    for path in paths:
        text = file_at(config.root, revision, path)
        if text is None:
            continue
        scan = scan_source(path, text, config.id_regex)
        ids = [i for t in scan.scopes for c in t.changes for i in c.bug_ids]
        tagged += iter_tagged([scan], _spelling(bug_id, ids))
        sources[path] = split_lines(text)
    return fingerprints_of_lines(sources, tagged)
