"""The pytest plugin: links tests to checklist items and records which items passing tests verify.

    @pytest.mark.verifies("BUG-20251110-002", "step-edge-cases")
    def test_step_edge_cases(): ...

Registered through the `pytest11` entry point. `--tracer-no-evidence` (or `tracer_evidence =
false` in the ini file) keeps the marker and its checks and writes nothing. Every result carries
the environment it ran in: Python, platform, and what the project's `pytest_tracer_environment`
hooks add. Under pytest-xdist each worker attaches the links to its reports and sends the tests it
collected; the controller alone writes the evidence."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tracer.config import Config as TracerConfig

MARKER = "verifies"
PROPERTY = "tracer_verifies"
COLLECTED = "tracer_collected"  # the key of a worker's collected tests and their links in xdist's workeroutput


@dataclass(frozen=True)
class KnownBugs:
    """The project's bug reports as the marker checks need them."""

    items: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # bug id -> item ids
    broken: Mapping[str, str] = field(default_factory=dict)  # bug id (lowercase) -> why its report cannot be read

    def canonical(self, bug_id: str) -> str | None:
        return next((known for known in self.items if known.casefold() == bug_id.casefold()), None)

    def suggest(self, bug_id: str) -> str:
        close = difflib.get_close_matches(bug_id.upper(), [b.upper() for b in self.items], n=3, cutoff=0.6)
        listed = f" (bug reports: {', '.join(sorted(self.items)) or 'none'})"
        return listed + (f"; did you mean {' or '.join(close)}?" if close else "")


KNOWN = pytest.StashKey[KnownBugs]()
LINK_PROBLEM = pytest.StashKey[str]()  # why a test's verifies markers cannot be taken


class TracerHooks:
    """Hooks a project implements in its conftest.py."""

    @pytest.hookspec(firstresult=False)
    def pytest_tracer_environment(self, config: pytest.Config) -> Mapping[str, str] | None:
        """Facts of the environment the tests run in, recorded with every result, for example
        `{"device": "cuda NVIDIA H100", "torch": "2.11.0"}`. Results from different environments
        are kept side by side."""
        return None


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(TracerHooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracer", "bug-fix evidence (tracer)")
    group.addoption("--tracer-no-evidence", action="store_true", help="Check verifies markers but write no evidence.")
    group.addoption("--tracer-select", metavar="BUG_ID", help="Run only the tests that verify items of BUG_ID.")
    group.addoption("--tracer-report", metavar="FILE", help="Also write this run's linked results as JSON (for tracer prove).")
    group.addoption("--tracer-sign-key", metavar="PATH", default=os.environ.get("TRACER_SIGN_KEY") or None,
                    help="Sign this run's evidence files with this SSH key (default: $TRACER_SIGN_KEY). Write "
                         "--tracer-sign-key=PATH: pytest takes a path after a space for a test path when it looks for its rootdir.")
    parser.addini("tracer_evidence", "Record evidence of linked tests (default true).", type="bool", default=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(bug_id, *item_ids): the test verifies these checklist items of a bug report (tracer)"
    )
    known = _known_bugs(config)
    config.stash[KNOWN] = known
    for why in sorted(set(known.broken.values())):
        config.issue_config_time_warning(pytest.PytestConfigWarning(f"tracer: {why}; its linked tests fail, the others run"), 2)
    selected = config.getoption("--tracer-select")
    if selected and known.canonical(selected) is None:
        raise pytest.UsageError(f"--tracer-select: no bug report for {selected}{known.suggest(selected)}")
    if hasattr(config, "workerinput"):  # an xdist worker: attaches links, sends what it collected
        config.pluginmanager.register(WorkerCollection(config), "tracer-worker")
        return
    recorder = EvidenceRecorder(config)
    config.pluginmanager.register(recorder, "tracer-evidence")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistCollection(recorder), "tracer-xdist")


def _tracer_config(config: pytest.Config) -> TracerConfig:
    from tracer.config import load_config

    return load_config(Path(config.rootpath))


def _known_bugs(config: pytest.Config) -> KnownBugs:
    from tracer.problems import TracerError
    from tracer.reports import load_reports

    try:
        reports = load_reports(_tracer_config(config))
    except TracerError as error:
        raise pytest.UsageError(f"tracer: {error}") from None
    broken: dict[str, str] = {}
    for problem in reports.problems:
        broken.setdefault(Path(problem.path).name.lower(), str(problem))
    return KnownBugs({r.bug_id: tuple(i.id for i in r.checklist) for r in reports.reports}, broken)


def links_of(item: pytest.Item) -> list[tuple[str, str]]:
    """(bug id, item id) pairs of a test's verifies markers, with the bug ID as its report spells it."""
    known = item.config.stash.get(KNOWN, KnownBugs())
    return [
        (known.canonical(str(mark.args[0])) or str(mark.args[0]), str(item_id))
        for mark in item.iter_markers(MARKER)
        for item_id in mark.args[1:]
    ]


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Generator[None, Any, Any]:
    """A marker naming an unknown bug or item, or the bug of a report that cannot be read, fails
    that test alone when it runs, naming the test and suggesting the known ones: every other test
    still runs (a collection error would stop the whole session)."""
    result = yield
    produced = result if isinstance(result, list) else [result]
    known = collector.config.stash[KNOWN]
    for item in produced:
        if isinstance(item, pytest.Item):
            problem = link_problem(item, known)
            if problem:
                item.stash[LINK_PROBLEM] = f"{item.nodeid}: {problem}"
    return result


def link_problem(item: pytest.Item, known: KnownBugs) -> str | None:
    """What is wrong with a test's verifies markers, or None."""
    for mark in item.iter_markers(MARKER):
        if len(mark.args) < 2 or not all(isinstance(arg, str) for arg in mark.args):
            return "verifies needs a bug ID and at least one item ID, as text"
    for bug, item_id in links_of(item):
        if bug not in known.items:
            broken = next((why for name, why in known.broken.items() if name.startswith(bug.lower())), None)
            if broken:
                return f"the report of {bug} cannot be read: {broken}"
            return f"verifies names unknown bug {bug}{known.suggest(bug)}"
        if item_id not in known.items[bug]:
            close = difflib.get_close_matches(item_id, known.items[bug], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"verifies names unknown item {item_id!r} of {bug} (known items: {', '.join(known.items[bug])}){hint}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    problem = item.stash.get(LINK_PROBLEM, None)
    if problem:
        pytest.fail(problem, pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("--tracer-select")
    if not selected:
        return
    bug = config.stash[KNOWN].canonical(selected)
    keep = [item for item in items if any(b == bug for b, _ in links_of(item))]
    drop = [item for item in items if item not in keep]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    links = links_of(item)
    if links and call.when == "setup" and LINK_PROBLEM not in item.stash:  # a broken link records nothing
        report.user_properties.append((PROPERTY, [list(link) for link in links]))
    return report


class WorkerCollection:
    """In an xdist worker: every test it collected, deselected ones too, for the controller."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.collected: dict[str, list[list[str]]] = {}

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected[item.nodeid] = [list(link) for link in links_of(item)]

    def pytest_sessionfinish(self) -> None:
        self.config.workeroutput[COLLECTED] = self.collected  # type: ignore[attr-defined]


class XdistCollection:
    """In the xdist controller: gathers what the workers collected (registered only with xdist)."""

    def __init__(self, recorder: EvidenceRecorder):
        self.recorder = recorder

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        for test_id, links in getattr(node, "workeroutput", {}).get(COLLECTED, {}).items():
            self.recorder.collected[test_id] = {(bug, item) for bug, item in links}


class RunOutcome(StrEnum):
    """A linked test's outcome in this run, as `--tracer-report` writes it for `tracer prove`."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # in setup or teardown: recorded as failed
    SKIPPED = "skipped"  # skips and expected failures never verify


@dataclass
class _Result:
    links: list[tuple[str, str]]
    outcome: RunOutcome = RunOutcome.PASSED


class EvidenceRecorder:
    """Collects the outcome of every linked test and writes the evidence when the session ends.
    Registered in the controller (or the only process): xdist forwards its workers' reports here."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[str, _Result] = {}
        self.collected: dict[str, set[tuple[str, str]]] = {}  # every test collected, deselected ones too -> its links
        self.writes_evidence = bool(config.getini("tracer_evidence")) and not config.getoption("--tracer-no-evidence")

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected[item.nodeid] = set(links_of(item))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        links: Any = next((value for key, value in report.user_properties if key == PROPERTY), None)
        entry = self.results.get(report.nodeid)
        if entry is None:
            if links is None:
                return
            entry = self.results[report.nodeid] = _Result([(str(bug), str(item)) for bug, item in links])
        if report.failed:
            entry.outcome = RunOutcome.FAILED if report.when == "call" else RunOutcome.ERROR
        elif entry.outcome not in (RunOutcome.FAILED, RunOutcome.ERROR) and (report.skipped or hasattr(report, "wasxfail")):
            entry.outcome = RunOutcome.SKIPPED

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report_file = self.config.getoption("--tracer-report")
        if not (report_file or (self.results and self.writes_evidence)):
            return  # the environment's hooks may be costly (a project's may import torch): ask only when needed
        environment = self.environment()
        if report_file:
            tests = {t: {"outcome": str(r.outcome), "links": sorted(map(list, r.links))} for t, r in sorted(self.results.items())}
            Path(report_file).write_text(json.dumps({"environment": environment, "tests": tests}, indent=2), encoding="utf-8")
        if not (self.results and self.writes_evidence):
            return
        try:
            errors = write_evidence(_tracer_config(self.config), self.results, environment, self.collected,
                                    self.partial_files(), self.config.stash[KNOWN].items)
        except Exception as failure:  # noqa: BLE001 - a tracer problem never turns a green run red or loses results
            errors = [f"{failure}"]
        bugs = {bug for entry in self.results.values() for bug, _ in entry.links}
        key = self.config.getoption("--tracer-sign-key")
        try:
            signed = sign_evidence(_tracer_config(self.config), Path(key), environment, bugs) if key else []
        except Exception as failure:  # noqa: BLE001 - as above: a run's outcome is the tests', never tracer's
            signed = [(f"{failure}; evidence not signed", True)]
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for error in errors:
            reporter.write_line(f"tracer: {error}; no evidence written", red=True)
        if len(errors) < len(bugs):  # say where the evidence went: pytest writing into docs/ is no surprise
            folder = _tracer_config(self.config).evidence_dir
            reporter.write_line(f"tracer: recorded {len(self.results)} linked test results of {len(bugs)} "
                                f"bug{'s' if len(bugs) != 1 else ''} in {folder}/")
        for line, failed in signed:
            reporter.write_line(f"tracer: {line}", red=failed)

    def partial_files(self) -> set[str]:
        """Test files collected only in part: named with `file::test` on the command line, or all
        of them where a plugin filters tests while they are collected (`--lf`, `--sw`)."""
        root = Path(self.config.rootpath)
        if any(getattr(self.config.option, name, False) for name in ("lf", "last_failed", "stepwise", "stepwise_skip")):
            return {test_id.partition("::")[0] for test_id in self.collected}
        partial = set()
        for arg in self.config.args:
            if "::" in arg:
                path = Path(arg.partition("::")[0])
                try:
                    partial.add((path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(root.resolve()).as_posix())
                except ValueError:
                    continue
        return partial

    def environment(self) -> dict[str, str]:
        from tracer.environment import python_environment

        facts = python_environment()
        for added in self.config.hook.pytest_tracer_environment(config=self.config):
            facts.update({str(k): str(v) for k, v in (added or {}).items()})
        return facts


def write_evidence(config: TracerConfig, results: Mapping[str, _Result], facts: Mapping[str, str],
                   collected: Mapping[str, set[tuple[str, str]]], partial: set[str], bugs: Mapping[str, Sequence[str]]) -> list[str]:
    """Record each bug's results in this environment's evidence file, forget the results of tests
    that are gone, and pin the report's `manual:` sign-offs not pinned yet, for every bug with a
    report; returns what could not be written (a broken evidence file is left as it is, and the
    other bugs' results still land)."""
    from tracer import evidence
    from tracer.environment import Environment
    from tracer.problems import TracerError
    from tracer.reports import load_reports
    from tracer.scanner import iter_tagged
    from tracer.sources import scan_project

    environment = Environment.of(facts)
    scans = scan_project(config)
    reports = load_reports(config)
    by_bug: dict[str, list[tuple[str, str, evidence.Outcome]]] = {bug: [] for bug in bugs}
    for test_id, entry in sorted(results.items()):
        outcome = evidence.Outcome.FAILED if entry.outcome is RunOutcome.ERROR else evidence.Outcome(entry.outcome.value)
        for bug, item_id in entry.links:
            if item_id in bugs.get(bug, ()):  # a link to no report's item fails its test instead
                by_bug[bug].append((item_id, test_id, outcome))
    errors = []
    for bug, rows in sorted(by_bug.items()):
        try:
            evidence.forget_missing_tests(config, bug, collected, partial, environment)
            tagged = list(iter_tagged(scans, bug))
            if rows:
                evidence.record_results(config, bug, tagged, environment, rows)
            report = reports.find(bug)
            if report is not None:
                evidence.pin_report_signoffs(config, report, tagged)
        except (TracerError, OSError, UnicodeError) as error:
            errors.append(str(error))
    return errors


def sign_evidence(config: TracerConfig, key: Path, facts: Mapping[str, str], bugs: Iterable[str]) -> list[tuple[str, bool]]:
    """Sign this environment's evidence file of each bug the run had results for; returns what to
    tell the user, each line with whether it is a failure. A file that cannot be signed is said,
    and the others are still signed."""
    from tracer.attest import Action, Signer, attest_files, project_signers
    from tracer.environment import Environment
    from tracer.evidence import evidence_folder
    from tracer.problems import TracerError, shown_path

    stem = Environment.of(facts).file_stem
    try:
        signer, signers = Signer.of(key), project_signers(config)
    except TracerError as error:
        return [(f"{error}; evidence not signed", True)]
    lines: list[tuple[str, bool]] = []
    for bug in sorted(bugs):
        path = evidence_folder(config, bug) / f"{stem}.json"
        if not path.is_file():
            continue
        try:
            for outcome in attest_files(config, [path], signer, signers):
                if outcome.action is Action.SIGNED:
                    lines.append((f"signed {shown_path(outcome.path)} with key {signer.fingerprint}", False))
                elif outcome.action is Action.SKIPPED:
                    lines.append((f"{shown_path(outcome.path)}: not signed: {outcome.reason}", True))
                elif outcome.action is Action.REFUSED:
                    lines.append((f"{outcome.reason}; not signed", True))
        except (TracerError, OSError) as error:
            lines.append((f"{error}; not signed", True))
    return lines
