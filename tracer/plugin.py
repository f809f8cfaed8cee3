"""The pytest plugin: links tests to checklist items and records which items passing tests verify.

    @pytest.mark.verifies("BUG-20251110-002", "step-edge-cases")
    def test_step_edge_cases(): ...

Registered through the `pytest11` entry point. `--tracer-no-evidence` (or `tracer_evidence =
false` in the ini file) keeps the marker and its checks and writes nothing. Every result carries
the environment it ran in: Python, platform, and what the project's `pytest_tracer_environment`
hooks add, and which tagged lines the test ran (tracer.recording: its set-up, its wider fixtures'
set-ups and its call; not its teardown). Under pytest-xdist each worker attaches the links to its
reports and sends the tests it collected and the lines they ran; the controller alone writes the
evidence. `--tracer-affected REV` runs only the linked tests whose executed code changed since REV."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tracer.config import Config as TracerConfig
    from tracer.recording import Executions, LineRecorder, ProcessRecording

MARKER = "verifies"
PROPERTY = "tracer_verifies"
COLLECTED = "tracer_collected"  # the key of a worker's collected tests and their links in xdist's workeroutput
EXECUTED = "tracer_executed"  # the key of a worker's recorded executions in xdist's workeroutput


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
RECORDER = pytest.StashKey["LineRecorder | None"]()


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
    group.addoption(
        "--tracer-report", metavar="FILE", help="Also write this run's linked results as JSON (for tracer prove)."
    )
    group.addoption(
        "--tracer-sign-key",
        metavar="PATH",
        default=os.environ.get("TRACER_SIGN_KEY") or None,
        help="Sign this run's evidence files with this SSH key (default: $TRACER_SIGN_KEY). Write "
        "--tracer-sign-key=PATH: pytest takes a path after a space for a test path when it looks for its rootdir.",
    )
    group.addoption(
        "--tracer-affected",
        metavar="REV",
        help="Run only the linked tests whose executed tagged code changed since REV (and those with none recorded).",
    )
    parser.addini("tracer_evidence", "Record evidence of linked tests (default true).", type="bool", default=True)


def _writes_evidence(config: pytest.Config, no_evidence: object) -> bool:
    return bool(config.getini("tracer_evidence")) and not no_evidence


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Start recording before the conftests import the project, so that the module-level blocks
    of tagged modules imported from here on are seen as they run."""
    early_config.stash[RECORDER] = None
    if not _writes_evidence(early_config, getattr(early_config.known_args_namespace, "tracer_no_evidence", False)):
        return
    try:
        early_config.stash[RECORDER] = start_recording(_tracer_config(early_config))
    except Exception:  # noqa: BLE001 - a project tracer cannot read is pytest_configure's error to report
        return


def start_recording(config: TracerConfig) -> LineRecorder:
    """A recorder of the tagged code of every ID, started."""
    from tracer.lines import runs_at_import, source_index
    from tracer.recording import LineRecorder
    from tracer.sources import scan_project
    from tracer.sourcetext import decode_source

    traced: dict[str, list[tuple[int, int]]] = {}
    classes: dict[str, set[int]] = {}
    modules: dict[str, list[tuple[int, int]]] = {}
    digests: dict[str, str] = {}
    for scan in scan_project(config):
        if not scan.scopes:
            continue
        data = (config.root / scan.path).read_bytes()
        digests[scan.path] = _digest(data)
        index = source_index(decode_source(data))
        for tagged in scan.scopes:
            if tagged.scope.kind == "module":
                modules.setdefault(tagged.path, []).extend((c.start_line, c.end_line) for c in tagged.changes)
                continue
            traced.setdefault(tagged.path, []).append((tagged.scope.start_line, tagged.scope.end_line))
            if runs_at_import(tagged, index):
                classes.setdefault(tagged.path, set()).add(tagged.scope.start_line)
    recorder = LineRecorder(str(config.root), traced, classes, modules, digests)
    recorder.start()
    return recorder


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(bug_id, *item_ids): the test verifies these checklist items of a bug report (tracer)"
    )
    known = _known_bugs(config)
    config.stash[KNOWN] = known
    for why in sorted(set(known.broken.values())):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(f"tracer: {why}; its linked tests fail, the others run"), 2
        )
    selected = config.getoption("--tracer-select")
    if selected and known.canonical(selected) is None:
        raise pytest.UsageError(f"--tracer-select: no bug report for {selected}{known.suggest(selected)}")
    line_recorder = config.stash.get(RECORDER, None)
    worker = hasattr(config, "workerinput")
    controller = not worker and getattr(config.option, "dist", "no") != "no"  # xdist's option, where xdist is loaded
    if line_recorder is not None:
        if controller or not _writes_evidence(config, config.getoption("--tracer-no-evidence")):
            line_recorder.stop()  # the controller runs no test; workers record
            config.stash[RECORDER] = line_recorder = None
        else:
            config.pluginmanager.register(ExecutionHooks(line_recorder), "tracer-executions")
    if worker:  # an xdist worker: attaches links, sends what it collected and what its tests ran
        config.pluginmanager.register(WorkerCollection(config), "tracer-worker")
        return
    recorder = EvidenceRecorder(config)
    config.pluginmanager.register(recorder, "tracer-evidence")
    if hasattr(config.hook, "pytest_testnodedown"):  # xdist is loaded (as "xdist" or "xdist.plugin")
        config.pluginmanager.register(XdistCollection(recorder), "tracer-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    line_recorder = config.stash.get(RECORDER, None)
    if line_recorder is not None:
        line_recorder.stop()
        config.stash[RECORDER] = None


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
            return (
                f"verifies names unknown item {item_id!r} of {bug} (known items: {', '.join(known.items[bug])}){hint}"
            )
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    problem = item.stash.get(LINK_PROBLEM, None)
    if problem:
        pytest.fail(problem, pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("--tracer-select")
    if selected:
        bug = config.stash[KNOWN].canonical(selected)
        _keep(config, items, lambda item: any(b == bug for b, _ in links_of(item)))
    base = config.getoption("--tracer-affected")
    if base:
        from tracer.affected import affected_tests
        from tracer.problems import TracerError

        try:
            found = affected_tests(_tracer_config(config), base)
        except TracerError as error:
            raise pytest.UsageError(f"--tracer-affected: {error}") from None
        _keep(
            config,
            items,
            lambda item: bool(links_of(item)) and (item.nodeid in found.tests or item.nodeid not in found.recorded),
        )


def _keep(config: pytest.Config, items: list[pytest.Item], wanted: Callable[[pytest.Item], bool]) -> None:
    """Deselect the items `wanted` says no to, as `-k` would."""
    keep = [item for item in items if wanted(item)]
    drop = [item for item in items if not wanted(item)]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    links = links_of(item)
    if links and call.when == "setup" and LINK_PROBLEM not in item.stash:  # a broken link records nothing
        report.user_properties.append((PROPERTY, [list(link) for link in links]))
    return report


class ExecutionHooks:
    """Tells the line recorder which test, or which wider fixture, is running (in a worker or the
    only process)."""

    def __init__(self, recorder: LineRecorder):
        self.recorder = recorder
        self.keys: dict[object, str] = {}  # a wider fixture's definition -> the key of its latest set-up

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        self.recorder.begin_test(item.nodeid, bool(links_of(item)))
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        keys = [self.keys[d] for d in _active_fixturedefs(item) if d in self.keys]
        self.recorder.end_test(item.nodeid, keys)
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        if fixturedef.scope == "function":
            return (yield)
        from tracer.recording import fixture_scope_key

        node = getattr(request, "node", None)
        param = getattr(request, "param_index", None) if hasattr(request, "param") else None
        key = fixture_scope_key(
            fixturedef.argname, str(fixturedef.baseid), fixturedef.scope, getattr(node, "nodeid", ""), param
        )
        self.keys[fixturedef] = key
        self.recorder.begin_fixture(key)
        try:
            return (yield)
        finally:
            self.recorder.end_fixture()


def _active_fixturedefs(item: pytest.Item) -> list[object]:
    """The fixtures a test used, those it asked for with `request.getfixturevalue` included."""
    request = getattr(item, "_request", None)
    active = getattr(request, "_fixture_defs", None)
    if isinstance(active, dict):
        return list(active.values())
    info = getattr(item, "_fixtureinfo", None)
    return [defs[-1] for defs in getattr(info, "name2fixturedefs", {}).values() if defs]


class WorkerCollection:
    """In an xdist worker: every test it collected, deselected ones too, and what its tests ran,
    for the controller."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.collected: dict[str, list[list[str]]] = {}

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected[item.nodeid] = [list(link) for link in links_of(item)]

    def pytest_sessionfinish(self) -> None:
        self.config.workeroutput[COLLECTED] = self.collected  # type: ignore[attr-defined]
        line_recorder = self.config.stash.get(RECORDER, None)
        if line_recorder is not None:
            self.config.workeroutput[EXECUTED] = line_recorder.recording().as_data()  # type: ignore[attr-defined]


class XdistCollection:
    """In the xdist controller: gathers what the workers collected (registered only with xdist)."""

    def __init__(self, recorder: EvidenceRecorder):
        self.recorder = recorder

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        from tracer.recording import ProcessRecording

        output = getattr(node, "workeroutput", {})
        for test_id, links in output.get(COLLECTED, {}).items():
            self.recorder.collected[test_id] = {(bug, item) for bug, item in links}
        if EXECUTED in output:
            self.recorder.recordings.append(ProcessRecording.from_data(output[EXECUTED]))


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
        self.writes_evidence = _writes_evidence(config, config.getoption("--tracer-no-evidence"))
        self.recordings: list[ProcessRecording] = []  # what the workers' tests ran (under xdist)
        self.notes: list[str] = []  # what the run's summary says was not observed

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
        elif entry.outcome not in (RunOutcome.FAILED, RunOutcome.ERROR) and (
            report.skipped or hasattr(report, "wasxfail")
        ):
            entry.outcome = RunOutcome.SKIPPED

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report_file = self.config.getoption("--tracer-report")
        if not (report_file or (self.results and self.writes_evidence)):
            return  # the environment's hooks may be costly (a project's may import torch): ask only when needed
        environment = self.environment()
        if report_file:
            tests = {
                t: {"outcome": str(r.outcome), "links": sorted(map(list, r.links))}
                for t, r in sorted(self.results.items())
            }
            Path(report_file).write_text(
                json.dumps({"environment": environment, "tests": tests}, indent=2), encoding="utf-8"
            )
        if not (self.results and self.writes_evidence):
            return
        try:
            errors = write_evidence(
                _tracer_config(self.config),
                self.results,
                environment,
                self.collected,
                self.partial_files(),
                self.config.stash[KNOWN].items,
                self.executions(),
                self.notes,
            )
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
            reporter.write_line(
                f"tracer: recorded {len(self.results)} linked test results of {len(bugs)} "
                f"bug{'s' if len(bugs) != 1 else ''} in {folder}/"
            )
        for line, failed in signed:
            reporter.write_line(f"tracer: {line}", red=failed)

    def executions(self) -> Executions | None:
        """What this run's tests ran: recorded here, or by the xdist workers."""
        from tracer.recording import Executions

        line_recorder = self.config.stash.get(RECORDER, None)
        recordings = [*self.recordings, *([line_recorder.recording()] if line_recorder is not None else [])]
        if not recordings:
            return None
        return Executions.merge(recordings)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """What was not observed: never a silent "ran 0 lines"."""
        for note in self.notes:
            terminalreporter.write_line(f"tracer: {note}", yellow=True)

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
                    partial.add(
                        (path if path.is_absolute() else Path.cwd() / path)
                        .resolve()
                        .relative_to(root.resolve())
                        .as_posix()
                    )
                except ValueError:
                    continue
        return partial

    def environment(self) -> dict[str, str]:
        from tracer.environment import python_environment

        facts = python_environment()
        for added in self.config.hook.pytest_tracer_environment(config=self.config):
            facts.update({str(k): str(v) for k, v in (added or {}).items()})
        return facts


def write_evidence(
    config: TracerConfig,
    results: Mapping[str, _Result],
    facts: Mapping[str, str],
    collected: Mapping[str, set[tuple[str, str]]],
    partial: set[str],
    bugs: Mapping[str, Sequence[str]],
    executions: Executions | None = None,
    notes: list[str] | None = None,
) -> list[str]:
    """Record each bug's results in this environment's evidence file, with the tagged lines each
    test ran where they were recorded, forget the results of tests that are gone, and pin the
    report's `manual:` sign-offs not pinned yet, for every bug with a report; returns what could
    not be written (a broken evidence file is left as it is, and the other bugs' results still
    land). `notes` gets what was not observed."""
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
        outcome = (
            evidence.Outcome.FAILED if entry.outcome is RunOutcome.ERROR else evidence.Outcome(entry.outcome.value)
        )
        for bug, item_id in entry.links:
            if item_id in bugs.get(bug, ()):  # a link to no report's item fails its test instead
                by_bug[bug].append((item_id, test_id, outcome))
    errors = []
    notes = notes if notes is not None else []
    if executions is not None:
        notes += [note for note in executions.notes if note not in notes]
    for bug, rows in sorted(by_bug.items()):
        try:
            evidence.forget_missing_tests(config, bug, collected, partial, environment)
            tagged = list(iter_tagged(scans, bug))
            report = reports.find(bug)
            if rows:
                executed, imported = _bug_executions(config, bug, tagged, executions, {t for _, t, _ in rows}, notes)
                evidence.record_results(config, bug, tagged, environment, rows, executed=executed, imported=imported)
                static = {i.id for i in report.checklist if i.kind == "static"} if report is not None else set()
                for item_id, test_id, outcome in rows:
                    if (
                        executed is not None
                        and executed.get(test_id) == {}
                        and outcome is not evidence.Outcome.SKIPPED
                        and item_id not in static
                    ):
                        note = (
                            f"{test_id} ran none of {bug}'s tagged code (item {item_id}): a test of something else, "
                            "or code run in a subprocess, which tracer does not observe"
                        )
                        if note not in notes:
                            notes.append(note)
            if report is not None:
                evidence.pin_report_signoffs(config, report, tagged)
        except (TracerError, OSError, UnicodeError) as error:
            errors.append(str(error))
    return errors


def sign_evidence(
    config: TracerConfig, key: Path, facts: Mapping[str, str], bugs: Iterable[str]
) -> list[tuple[str, bool]]:
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


def _bug_executions(
    config: TracerConfig, bug: str, tagged: list[Any], executions: Executions | None, tests: set[str], notes: list[str]
) -> tuple[dict[str, dict[str, str]] | None, dict[str, str] | None]:
    """Each test's lines as line ranges of the bug's scopes, and the lines seen at import; None
    where nothing was recorded, or where a tagged file changed while the tests ran (the lines
    recorded no longer say which code ran)."""
    from tracer.lines import attribute_lines, source_index
    from tracer.sourcetext import decode_source

    if executions is None:
        return None, None
    indexes = {}
    for path in sorted({t.path for t in tagged}):
        data = (config.root / path).read_bytes()
        if executions.digests.get(path) != _digest(data):
            note = f"{path} changed while the tests ran: which lines of {bug} they ran is not recorded; rerun them"
            if note not in notes:
                notes.append(note)
            return None, None
        indexes[path] = source_index(decode_source(data))
    executed = {
        test: attribute_lines(tagged, executions.tests[test], indexes)
        for test in sorted(tests)
        if test in executions.tests
    }
    return executed, attribute_lines(tagged, executions.imported, indexes, at_import=True)
