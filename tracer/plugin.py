"""The pytest plugin: links tests to checklist items and records which items passing tests verify.

    @pytest.mark.verifies("BUG-20251110-002", "step-edge-cases")
    def test_step_edge_cases(): ...

Registered through the `pytest11` entry point. `-p no:tracer` turns it off entirely;
`--tracer-no-evidence` keeps the marker checks but writes nothing. Under pytest-xdist each
worker attaches the links to its reports and the controller alone writes the evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

MARKER = "verifies"
PROPERTY = "tracer_verifies"
KNOWN = pytest.StashKey[dict]()  # bug id -> tuple of item ids, from the project's bug reports


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracer", "bug-fix evidence (tracer)")
    group.addoption("--tracer-no-evidence", action="store_true", help="Check verifies markers but write no evidence.")
    group.addoption("--tracer-select", metavar="BUG_ID", help="Run only the tests that verify items of BUG_ID.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(bug_id, *item_ids): the test verifies these checklist items of a bug report (tracer)"
    )
    config.stash[KNOWN] = _known_items(config)
    if not hasattr(config, "workerinput"):  # xdist workers only attach links to their reports
        config.pluginmanager.register(EvidenceRecorder(config), "tracer-evidence")


def _tracer_config(config: pytest.Config):
    from tracer.config import load_config

    return load_config(Path(config.rootpath))


def _known_items(config: pytest.Config) -> dict[str, tuple[str, ...]]:
    from tracer.problems import TracerError
    from tracer.reports import load_reports

    try:
        reports = load_reports(_tracer_config(config))
    except TracerError:
        return {}
    return {r.bug_id: tuple(i.id for i in r.checklist) for r in reports.reports}


def links_of(item: pytest.Item) -> list[tuple[str, str]]:
    """(bug id, item id) pairs of a test's verifies markers."""
    return [(mark.args[0], item_id) for mark in item.iter_markers(MARKER) for item_id in mark.args[1:]]


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):
    """A marker naming an unknown bug or item fails the collection of its module, naming the test
    and listing the known items."""
    result = yield
    produced = result if isinstance(result, list) else [result]
    known = collector.config.stash[KNOWN]
    for item in produced:
        if not isinstance(item, pytest.Item):
            continue
        if any(len(mark.args) < 2 for mark in item.iter_markers(MARKER)):
            raise collector.CollectError(f"{item.nodeid}: verifies needs a bug ID and at least one item ID")
        for bug, item_id in links_of(item):
            if bug not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise collector.CollectError(f"{item.nodeid}: verifies names unknown bug {bug} (bug reports: {listed})")
            if item_id not in known[bug]:
                raise collector.CollectError(
                    f"{item.nodeid}: verifies names unknown item {item_id!r} of {bug} (known items: {', '.join(known[bug])})"
                )
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected_bug = config.getoption("--tracer-select")
    if not selected_bug:
        return
    keep = [item for item in items if any(bug == selected_bug for bug, _ in links_of(item))]
    drop = [item for item in items if item not in keep]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    links = links_of(item)
    if links and call.when == "setup":
        report.user_properties.append((PROPERTY, [list(link) for link in links]))
    return report


class EvidenceRecorder:
    """Collects the outcome of every linked test and writes the evidence when the session ends.
    Registered in the controller (or the only process): xdist forwards its workers' reports here."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[str, dict] = {}  # test id -> {"links": [(bug, item)], "outcome": str}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        links: Any = next((value for key, value in report.user_properties if key == PROPERTY), None)
        entry = self.results.get(report.nodeid)
        if entry is None:
            if links is None:
                return
            entry = self.results[report.nodeid] = {"links": [tuple(link) for link in links], "outcome": "passed"}
        if report.failed:
            entry["outcome"] = "failed"  # in setup, call or teardown
        elif entry["outcome"] != "failed" and (report.skipped or hasattr(report, "wasxfail")):
            entry["outcome"] = "skipped"  # skips and expected failures never verify

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from tracer.problems import TracerError

        if self.results and not self.config.getoption("--tracer-no-evidence"):
            try:
                write_evidence(self.config, self.results)
            except TracerError as error:  # a broken evidence file or config: say so, lose nothing
                reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.write_line(f"tracer: {error}; no evidence written", red=True)


def write_evidence(config: pytest.Config, results: dict) -> None:
    from tracer.api import Project
    from tracer.evidence import fingerprints, locked_evidence
    from tracer.gitio import last_commit_touching

    tracer_config = _tracer_config(config)
    project = Project(tracer_config)
    by_bug: dict[str, list[tuple[str, str, str]]] = {}
    for test_id, entry in sorted(results.items()):
        for bug, item_id in entry["links"]:
            by_bug.setdefault(bug, []).append((item_id, test_id, entry["outcome"]))
    for bug, rows in sorted(by_bug.items()):
        tagged = project.tagged(bug)
        prints = fingerprints(tracer_config, tagged)
        with locked_evidence(tracer_config, bug) as evidence:
            evidence.code_commit = last_commit_touching(tracer_config.root, sorted({t.path for t in tagged}))
            evidence.forget_missing_tests(Path(config.rootpath))
            for item_id, test_id, outcome in rows:
                evidence.record(item_id, test_id, outcome, prints)
