"""`tracer evidence import-junit`: outcomes of tests run by any runner that writes JUnit XML
(pytest's `--junitxml`, unittest-xml-reporting, Bazel), recorded as evidence of the environment
the user names, marked as imported from JUnit.

A test case links to checklist items by `<property name="verifies" value="BUG-ID:item"/>` (what
pytest's `record_property("verifies", "BUG-ID:item")` writes), or by the project's
`[tool.tracer.verifies]` table, test name -> items. The files are hostile input: read with
defusedxml (no DTD, no entities, no external references), every problem is a finding with the
file and line, and one bad file means nothing is written."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracer.config import Config
from tracer.environment import Environment
from tracer.evidence import EvidenceError, Outcome, load_evidence, record_results
from tracer.problems import Problem
from tracer.reports import BugReport
from tracer.scanner import TaggedScope

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

SOURCE = "junit"  # the evidence's mark for results imported here
PROPERTY = "verifies"
MAX_BYTES = 256 * 1024 * 1024  # a JUnit file of a big suite is a few MB; more is a mistake or an attack

# Finding codes of an import (`path:line: code message`)
BAD_XML = "J001"  # not readable, not well-formed, not JUnit
FORBIDDEN_XML = "J002"  # a DTD, an entity or an external reference: never expanded
UNKNOWN_BUG = "J003"
UNKNOWN_ITEM = "J004"
OUTSIDE = "J005"  # the test's file is not a file of the project
BAD_LINK = "J006"  # a verifies value that is not BUG-ID:item


@dataclass(frozen=True)
class ImportedResult:
    bug_id: str  # as the report spells it
    item_id: str
    test_id: str  # `path::Class::name`, as pytest names tests, the path inside the project
    outcome: Outcome


@dataclass(frozen=True)
class JunitImport:
    """What the files hold: the linked results, the test cases read, and every finding."""

    results: tuple[ImportedResult, ...]
    cases: int
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class _Case:
    line: int
    suite: str
    classname: str
    name: str
    file: str
    outcome: Outcome
    links: tuple[str, ...]  # the verifies values


def read_junit(config: Config, sources: Sequence[tuple[Path, str]], reports: Iterable[BugReport]) -> JunitImport:
    """Every linked result of the files (path, name to show), checked against the project's reports
    and files. Results of one test in several cases (reruns, several files) are combined: a
    failure anywhere is a failure."""
    known = {report.bug_id.casefold(): report for report in reports}
    problems: list[Problem] = []
    found: dict[tuple[str, str, str], Outcome] = {}
    cases = 0
    for path, shown in sources:
        read, trouble = _cases(path, shown)
        problems += trouble
        cases += len(read)
        for case in read:
            links = list(case.links) + _mapped(config, case)
            if not links:
                continue
            test_id, why = _test_id(config, case)
            if test_id is None:
                problems.append(Problem(shown, case.line, OUTSIDE, why))
                continue
            for link in links:
                bug_text, colon, item_id = link.strip().rpartition(":")
                report = known.get(bug_text.strip().casefold())
                if not colon or not bug_text.strip() or not item_id:
                    problems.append(
                        Problem(
                            shown, case.line, BAD_LINK, f"{PROPERTY} {link!r} of {test_id}: write it as BUG-ID:item"
                        )
                    )
                elif report is None:
                    problems.append(
                        Problem(
                            shown,
                            case.line,
                            UNKNOWN_BUG,
                            f"{test_id} verifies {bug_text.strip()!r}, which has no bug report here",
                        )
                    )
                elif item_id not in {item.id for item in report.checklist}:
                    items = ", ".join(item.id for item in report.checklist)
                    problems.append(
                        Problem(
                            shown,
                            case.line,
                            UNKNOWN_ITEM,
                            f"{test_id} verifies {report.bug_id} item {item_id!r}, which the report does not have "
                            f"(items: {items})",
                        )
                    )
                else:
                    key = (report.bug_id, item_id, test_id)
                    found[key] = _combined(found.get(key), case.outcome)
    results = tuple(ImportedResult(bug, item, test, outcome) for (bug, item, test), outcome in sorted(found.items()))
    return JunitImport(results, cases, tuple(problems))


def _combined(before: Outcome | None, now: Outcome) -> Outcome:
    if before is None:
        return now
    for outcome in (Outcome.FAILED, Outcome.PASSED):
        if outcome in (before, now):
            return outcome
    return Outcome.SKIPPED


def _cases(path: Path, shown: str) -> tuple[list[_Case], list[Problem]]:
    """The test cases of one file, or the findings that keep it from being read."""
    from xml.etree.ElementTree import ParseError, TreeBuilder

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser

    lines: dict[int, int] = {}

    class Builder(TreeBuilder):
        """Remembers the line each element starts on (ElementTree keeps none)."""

        def start(self, tag: str, attrs: dict[str, str]) -> Element:
            element = super().start(tag, attrs)
            lines[id(element)] = parser.parser.CurrentLineNumber
            return element

    parser = DefusedXMLParser(target=Builder(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        if path.stat().st_size > MAX_BYTES:
            return [], [
                Problem(shown, 1, BAD_XML, f"larger than {MAX_BYTES // 2**20} MiB: not a JUnit file tracer reads")
            ]
        data = path.read_bytes()
    except OSError as error:
        return [], [Problem(shown, 1, BAD_XML, f"cannot read: {error.strerror or error}")]
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as error:
        line = parser.parser.CurrentLineNumber or 1
        return [], [
            Problem(
                shown,
                line,
                FORBIDDEN_XML,
                f"{type(error).__name__}: JUnit XML needs no DTD, entity or external reference; tracer expands none",
            )
        ]
    except ParseError as error:
        line = error.position[0] if error.position else 1
        return [], [Problem(shown, line, BAD_XML, f"not well-formed XML: {error}")]
    except (ValueError, RecursionError) as error:
        return [], [Problem(shown, parser.parser.CurrentLineNumber or 1, BAD_XML, f"not readable XML: {error}")]
    if root.tag not in ("testsuites", "testsuite"):
        return [], [
            Problem(
                shown,
                lines.get(id(root), 1),
                BAD_XML,
                f"not JUnit XML: the root element is <{root.tag}>, not <testsuites> or <testsuite>",
            )
        ]
    cases = []
    suites = [root] if root.tag == "testsuite" else []
    suites += [suite for suite in root.iter("testsuite") if suite is not root]
    for suite in suites:
        for case in suite.findall("testcase"):
            cases.append(
                _Case(
                    lines.get(id(case), 1),
                    suite.get("name", ""),
                    case.get("classname", ""),
                    case.get("name", ""),
                    case.get("file", ""),
                    _outcome(case),
                    tuple(prop.get("value", "") for prop in case.iter("property") if prop.get("name") == PROPERTY),
                )
            )
    return cases, []


def _outcome(case: Element) -> Outcome:
    if case.find("failure") is not None or case.find("error") is not None:
        return Outcome.FAILED
    if case.find("skipped") is not None or case.get("status") in ("notrun", "skipped", "disabled"):
        return Outcome.SKIPPED
    return Outcome.PASSED


def _mapped(config: Config, case: _Case) -> list[str]:
    """Links from `[tool.tracer.verifies]`: a key matches the test's id or `classname.name`, or
    either as a shell-style pattern (`tests/test_x.py::test_y[*]`)."""
    if not config.verifies:
        return []
    names = {f"{case.classname}.{case.name}", case.name}
    test_id, _ = _test_id(config, case)
    if test_id:
        names.add(test_id)
    return [
        link
        for pattern, links in config.verifies
        for link in links
        if any(fnmatch.fnmatchcase(n, pattern) for n in names)
    ]


def _test_id(config: Config, case: _Case) -> tuple[str | None, str]:
    """The test's id as pytest names it, `path::Class::name` with the path inside the project;
    or None and why not. The file comes from the case's `file` attribute (pytest's xunit1), its
    dotted classname (pytest, unittest-xml-reporting), or a Bazel label (`//pkg:target`)."""
    root = config.root.resolve()
    for label in (case.name, case.classname, case.suite if not case.classname else ""):
        if label.startswith("//"):
            package, _, target = label[2:].partition(":")
            relative = f"{package}/{target or package.rpartition('/')[2]}.py".lstrip("/")
            return (
                (relative, "")
                if _project_file(root, relative)
                else (None, f"test target {label} is not a Python file of the project ({relative})")
            )
    parts = [part for part in case.classname.split(".") if part]
    if case.file:
        named = _project_file(root, case.file)
        if named is None:
            return (
                None,
                f"test {case.classname}.{case.name} names file {case.file!r}, which is not a file inside the project",
            )
        module = named.removesuffix(".py").replace("/", ".")
        classes = parts[len(module.split(".")) :] if case.classname.startswith(module) else []
        return "::".join([named, *classes, case.name]), ""
    for cut in range(len(parts), 0, -1):
        relative = "/".join(parts[:cut]) + ".py"
        found = _project_file(root, relative)
        if found is not None:
            return "::".join([found, *parts[cut:], case.name]), ""
    return (
        None,
        f"no file of the project holds test {case.classname}.{case.name} (looked for "
        f"{'/'.join(parts) or case.name}.py and its parents)",
    )


def _project_file(root: Path, name: str) -> str | None:
    """`name` as a path inside the project, where it is a regular file there (through no link out)."""
    if not name or "\0" in name:
        return None
    path = Path(name)
    try:
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
    except (OSError, ValueError):
        return None
    return resolved.relative_to(root).as_posix()


def check_evidence(config: Config, results: Iterable[ImportedResult]) -> list[Problem]:
    """Evidence files of the bugs about to be written that cannot be trusted: found before any
    write, so that nothing is half imported."""
    problems = []
    for bug_id in sorted({r.bug_id for r in results}):
        try:
            load_evidence(config, bug_id)
        except EvidenceError as error:
            problems.append(
                Problem(str(error.path) if error.path is not None else bug_id, error.line or 1, "C301", error.message)
            )
    return problems


def record_imported(
    config: Config,
    results: Sequence[ImportedResult],
    facts: Mapping[str, str],
    tagged: Mapping[str, Sequence[TaggedScope]],
) -> list[str]:
    """The one place an import writes evidence, through the store's `record_results`: each bug's
    results in the named environment's file, on the bug's code as it is now (the runner gives no
    fingerprint of what it ran), marked as from JUnit. Returns the bugs written."""
    environment = Environment.of(facts)
    by_bug: dict[str, list[tuple[str, str, Outcome]]] = {}
    for result in results:
        by_bug.setdefault(result.bug_id, []).append((result.item_id, result.test_id, result.outcome))
    for bug_id, rows in sorted(by_bug.items()):
        record_results(config, bug_id, tagged[bug_id], environment, rows, SOURCE)
    return sorted(by_bug)
