"""Bug reports: Markdown files with YAML front matter, loaded with a safe loader and checked
against a small explicit schema. Every error names the file, the line and the field."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracer.config import Config
from tracer.problems import Problem

# libyaml's loader where the wheel has it: the same safe subset of YAML, several times faster.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SEVERITIES = ("Critical", "High", "Medium", "Low")
STATUSES = ("open", "investigating", "fixed", "verified", "closed")
NON_REPORT_NAMES = {"index.md", "readme.md"}


@dataclass(frozen=True)
class ManualSignOff:
    by: str
    reason: str


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    group: str
    text: str
    manual: ManualSignOff | None = None


@dataclass(frozen=True)
class BugReport:
    path: str  # relative to the project root
    bug_id: str
    title: str
    severity: str
    status: str
    created: dt.date
    updated: dt.date | None
    author: str
    tags: tuple[str, ...]
    pre_fix_revision: str | None
    checklist: tuple[ChecklistItem, ...]
    body: str
    sections: dict[str, str] = field(hash=False, compare=False)
    body_line: int = 1  # the file line where the body starts

    def section(self, *names: str) -> str:
        """The text under the first `## ` heading that matches one of `names` (any case)."""
        wanted = [n.lower() for n in names]
        for heading, text in self.sections.items():
            if heading.lower() in wanted:
                return text
        return ""

    @property
    def groups(self) -> dict[str, list[ChecklistItem]]:
        grouped: dict[str, list[ChecklistItem]] = {}
        for item in self.checklist:
            grouped.setdefault(item.group, []).append(item)
        return grouped


class ReportError(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?P<yaml>.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_KEYS = {"bug_id", "title", "severity", "status", "created", "updated", "author", "tags", "pre_fix_revision", "checklist"}
_REQUIRED = ("bug_id", "title", "severity", "status", "created", "author")


def report_files(config: Config) -> list[Path]:
    folder = config.path(config.reports_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob("*.md")
        if not p.name.endswith(config.output_suffix) and p.name.lower() not in NON_REPORT_NAMES
    )


def parse_report(path: Path, text: str, relative: str, id_regex: re.Pattern[str]) -> BugReport:
    """Parse one report or raise ReportError listing every problem found in it."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ReportError([Problem(relative, 1, "R001", "no YAML front matter (a '---' line, YAML, a '---' line)")])
    raw = match.group("yaml") or ""
    try:
        node = yaml.compose(raw, Loader=SafeLoader)
        data = yaml.load(raw, Loader=SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        reason = getattr(error, "problem", None) or str(error)
        raise ReportError([Problem(relative, line, "R002", f"front matter is not valid YAML: {reason}")]) from None
    if not isinstance(data, dict):
        raise ReportError([Problem(relative, 2, "R003", "front matter must be a mapping of fields")])
    lines = _field_lines(node)
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(relative, lines.get(key, 2), "R003", f"{key}: {message}"))

    for key in sorted(set(data) - _KEYS):
        problem(key, f"unknown field (known: {', '.join(sorted(_KEYS))})")
    for key in _REQUIRED:
        if data.get(key) in (None, ""):
            problems.append(Problem(relative, 2, "R003", f"{key}: required field is missing"))

    bug_id = data.get("bug_id")
    if bug_id is not None:
        if not isinstance(bug_id, str) or not id_regex.fullmatch(bug_id):
            problem("bug_id", f"{bug_id!r} does not match the ID pattern {id_regex.pattern}")
        elif not path.name.lower().startswith(bug_id.lower()):
            problem("bug_id", f"{bug_id} does not agree with the file name {path.name} (expected {bug_id.lower()}-*.md)")
    for key in ("title", "author"):
        if key in data and not isinstance(data[key], str):
            problem(key, f"must be text, got {type(data[key]).__name__}")
    if "severity" in data and data["severity"] not in SEVERITIES:
        problem("severity", f"{data['severity']!r} is not one of {', '.join(SEVERITIES)}")
    if "status" in data and data["status"] not in STATUSES:
        problem("status", f"{data['status']!r} is not one of {', '.join(STATUSES)}")
    for key in ("created", "updated"):
        if data.get(key) is not None and not isinstance(data[key], dt.date):
            problem(key, f"must be a date (YYYY-MM-DD), got {data[key]!r}")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problem("tags", "must be a list of text")
    revision = data.get("pre_fix_revision")
    if revision is not None and not isinstance(revision, str):
        problem("pre_fix_revision", "must be a git revision (text)")
    checklist = _checklist(data.get("checklist", []), lines, problem)
    if problems:
        raise ReportError(problems)

    body = text[match.end() :]
    body_line = text[: match.end()].count("\n") + 1
    return BugReport(
        path=relative,
        bug_id=str(bug_id),
        title=data["title"],
        severity=data["severity"],
        status=data["status"],
        created=data["created"],
        updated=data.get("updated"),
        author=data["author"],
        tags=tuple(tags),
        pre_fix_revision=revision,
        checklist=checklist,
        body=body,
        sections=split_sections(body),
        body_line=body_line,
    )


def _checklist(raw: Any, lines: dict[str, int], problem) -> tuple[ChecklistItem, ...]:
    if not isinstance(raw, list):
        problem("checklist", "must be a list of items with id, group and text")
        return ()
    items, seen = [], set()
    for index, entry in enumerate(raw):
        key = f"checklist[{index}]"
        if not isinstance(entry, dict):
            problem(key, "must be a mapping with id, group and text")
            continue
        unknown = set(entry) - {"id", "group", "text", "manual"}
        if unknown:
            problem(key, f"unknown field {sorted(unknown)[0]!r} (known: group, id, manual, text)")
        for name in ("id", "group", "text"):
            if not isinstance(entry.get(name), str) or not entry.get(name):
                lines.setdefault(f"{key}.{name}", lines.get(key, 2))
                problem(f"{key}.{name}", "required text is missing")
        item_id = entry.get("id")
        if isinstance(item_id, str):
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", item_id):
                problem(f"{key}.id", f"{item_id!r} must be lowercase letters, digits and dashes")
            if item_id in seen:
                problem(f"{key}.id", f"{item_id!r} is used by another item")
            seen.add(item_id)
        manual = entry.get("manual")
        sign_off = None
        if manual is not None:
            if not isinstance(manual, dict) or not all(isinstance(manual.get(k), str) and manual.get(k) for k in ("by", "reason")):
                problem(f"{key}.manual", "must be a mapping with 'by' and 'reason'")
            else:
                sign_off = ManualSignOff(manual["by"], manual["reason"])
        if all(isinstance(entry.get(n), str) for n in ("id", "group", "text")):
            items.append(ChecklistItem(entry["id"], entry["group"], entry["text"], sign_off))
    return tuple(items)


def _field_lines(node: yaml.Node | None) -> dict[str, int]:
    """File line of each top-level field and checklist entry (the front matter starts on line 2)."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        key = key_node.value
        lines[key] = key_node.start_mark.line + 2
        if key == "checklist" and isinstance(value_node, yaml.SequenceNode):
            for index, entry in enumerate(value_node.value):
                lines[f"checklist[{index}]"] = entry.start_mark.line + 2
                if isinstance(entry, yaml.MappingNode):
                    for item_key, _ in entry.value:
                        lines[f"checklist[{index}].{item_key.value}"] = item_key.start_mark.line + 2
    return lines


def split_sections(body: str) -> dict[str, str]:
    """Text under each `## ` heading, ignoring headings inside fenced code blocks."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fence: str | None = None
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        if fence is None and re.match(r"##\s+\S", line) and not line.startswith("###"):
            current = sections.setdefault(line[2:].strip(), [])
            continue
        if current is not None:
            current.append(line)
    return {heading: "\n".join(text).strip() for heading, text in sections.items()}


@dataclass(frozen=True)
class ReportSet:
    reports: tuple[BugReport, ...]
    problems: tuple[Problem, ...]

    def find(self, bug_id: str) -> BugReport | None:
        return next((r for r in self.reports if r.bug_id == bug_id), None)


def load_reports(config: Config) -> ReportSet:
    """Every report of the project; problems are collected per file and never stop the others."""
    reports: list[BugReport] = []
    problems: list[Problem] = []
    for path in report_files(config):
        relative = path.relative_to(config.root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(relative, 1, "R001", f"cannot read: {error}"))
            continue
        try:
            reports.append(parse_report(path, text, relative, config.id_regex))
        except ReportError as error:
            problems += error.problems
    by_id: dict[str, BugReport] = {}
    for report in reports:
        if report.bug_id in by_id:
            problems.append(
                Problem(report.path, 2, "R004", f"{report.bug_id} is also the ID of {by_id[report.bug_id].path}")
            )
        else:
            by_id[report.bug_id] = report
    return ReportSet(tuple(by_id.values()), tuple(sorted(problems)))
