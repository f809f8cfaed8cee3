"""`tracer check`: the consistency gate. Never writes; returns findings as Problems.

Codes:
    R001-R004  a report that cannot be read, breaks the schema, disagrees with its file name, or
               shares its ID with another report
    T001-T002  a source file that cannot be parsed or read
    C101  a tag names a bug that has no report
    C102  a report marked fixed or later whose bug has no tag in the code
    C103  a tag whose ID does not match the ID pattern
    C201  a generated document (or the index) differs from what `tracer render` writes now
    C301  checklist items whose evidence is stale or failed
    C302  a status of verified or closed while items are open, failed or stale
    C401  template placeholders left in a report
    C402  a relative link in a report or document that points nowhere
    W501  a checklist item that no test verifies and no manual sign-off covers (error with --strict)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tracer.api import Project, index_path, render_document, render_index, unified_diff
from tracer.problems import Problem, TracerError
from tracer.reports import BugReport

DONE_STATUSES = ("fixed", "verified", "closed")
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\bTODO\b|\bTBD\b|<(?:describe|fill|placeholder)[^>]*>", re.IGNORECASE)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class CheckResult:
    problems: tuple[Problem, ...]
    diffs: tuple[str, ...]  # unified diffs of stale documents, for --diff


def check_project(project: Project, strict: bool = False) -> CheckResult:
    config = project.config
    problems: list[Problem] = [*project.reports.problems, *project.scan_problems]
    diffs: list[str] = []
    reports = {r.bug_id: r for r in project.reports.reports}
    broken_ids = {p.path for p in project.reports.problems}

    tagged_ids: dict[str, tuple[str, int]] = {}
    for scan in project.scans:
        for tagged in scan.scopes:
            for change in tagged.changes:
                for bug_id in change.bug_ids:
                    tagged_ids.setdefault(bug_id, (tagged.path, change.tag_line))
        for malformed in scan.malformed:
            problems.append(Problem(scan.path, malformed.line, "C103", f"tag does not match the ID pattern {config.id_pattern}: {malformed.text.strip()}"))
    for bug_id, (path, line) in sorted(tagged_ids.items()):
        if bug_id not in reports and not any(bug_id.lower() in p for p in broken_ids):
            problems.append(Problem(path, line, "C101", f"{bug_id} is tagged here but has no bug report in {config.reports_dir}/"))

    for report in sorted(reports.values(), key=lambda r: r.bug_id):
        if report.status in DONE_STATUSES and report.bug_id not in tagged_ids:
            problems.append(Problem(report.path, 5, "C102", f"{report.bug_id} is {report.status} but no code is tagged with it"))
        problems += _report_text_problems(project, report)
        problems += _evidence_problems(project, report, strict)
        try:
            document, text = render_document(project, report.bug_id)
        except TracerError as error:
            problems.append(Problem(str(error.path or report.path), error.line or 1, "C201", f"cannot render: {error.message}"))
            continue
        diffs += _compare(project, document, text, problems, f"run tracer render {report.bug_id}")

    index = index_path(config)
    if index.exists() or reports:
        try:
            index, text = render_index(project)
            diffs += _compare(project, index, text, problems, "run tracer render --all")
        except TracerError as error:
            problems.append(Problem(str(error.path or index), error.line or 1, "C201", f"cannot render the index: {error.message}"))
    problems += _link_problems(project)
    return CheckResult(tuple(sorted(set(problems))), tuple(diffs))


def _compare(project: Project, path: Path, text: str, problems: list[Problem], hint: str) -> list[str]:
    relative = path.relative_to(project.config.root).as_posix()
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old == text:
        return []
    what = "is missing" if not path.exists() else "differs from what tracer render writes now"
    problems.append(Problem(relative, _first_difference(old, text), "C201", f"{what}; {hint}"))
    return [unified_diff(old, text, relative)]


def _first_difference(old: str, new: str) -> int:
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines()), start=1):
        if a != b:
            return number
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def _evidence_problems(project: Project, report: BugReport, strict: bool) -> list[Problem]:
    from tracer.evidence import evidence_path, item_states, load_evidence

    config = project.config
    try:
        evidence = load_evidence(config, report.bug_id)
    except TracerError as error:
        return [Problem(str(error.path), error.line or 1, "C301", error.message)]
    states = item_states(report, evidence, project.tagged(report.bug_id), config)
    where = evidence_path(config, report.bug_id)
    shown = where.relative_to(config.root).as_posix() if where.exists() else report.path
    problems = []
    for state in states:
        if state.state in ("stale", "failed"):
            problems.append(Problem(shown, 1, "C301", f"item {state.id!r} is {state.state}: {state.detail}; run the tests"))
        if state.state == "open":
            severity = "error" if strict else "warning"
            problems.append(
                Problem(report.path, _item_line(config.root / report.path, state.id), "W501",
                        f"item {state.id!r} is verified by no test and has no manual sign-off ({state.detail})", severity)
            )
    unfinished = [s.id for s in states if s.state in ("open", "failed", "stale")]
    if report.status in ("verified", "closed") and unfinished:
        problems.append(
            Problem(report.path, 5, "C302", f"status is {report.status} but {len(unfinished)} items are not verified: {', '.join(unfinished)}")
        )
    return problems


def _item_line(path: Path, item_id: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.search(rf"\bid:\s*{re.escape(item_id)}\s*$", line):
            return number
    return 1


def _report_text_problems(project: Project, report: BugReport) -> list[Problem]:
    problems = []
    text = (project.config.root / report.path).read_text(encoding="utf-8")
    for number, line in _prose_lines(text):
        match = _PLACEHOLDER.search(line)
        if match:
            problems.append(Problem(report.path, number, "C401", f"template placeholder left in the report: {match.group(0)}"))
    return problems


def _prose_lines(text: str):
    """Numbered lines outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fence = None if fence == stripped[:3] else (fence or stripped[:3])
            continue
        if fence is None:
            yield number, line


def _link_problems(project: Project) -> list[Problem]:
    config = project.config
    folder = config.path(config.reports_dir)
    problems = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        relative = path.relative_to(config.root).as_posix()
        for number, line in _prose_lines(path.read_text(encoding="utf-8")):
            for match in _LINK.finditer(line):
                target = match.group(1)
                if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                    continue  # a URL or an anchor in the same file
                if not (path.parent / target.split("#", 1)[0]).exists():
                    problems.append(Problem(relative, number, "C402", f"link points nowhere: {target}"))
    return problems
