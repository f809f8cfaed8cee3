"""Bug reports: Markdown files with YAML front matter, checked against a table of small validators.

The front matter is read node by node rather than handed to a YAML constructor whole, so that
every value keeps its line, aliases are refused before anything expands, keys must be text and
duplicate keys are caught. Every problem names the file, the line and the field."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.guard import UnsafePath, read_bytes
from tracer.problems import Problem
from tracer.problems import Severity as ProblemSeverity

# libyaml's parser where the wheel has it: the same safe subset of YAML, several times faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NON_REPORT_NAMES = {"index.md", "readme.md"}
MAX_FRONT_MATTER = 256 * 1024  # a report's front matter is a few kB; more is a mistake, not a report


class Severity(StrEnum):
    CRITICAL = "Critical"
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"


class Status(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    FIXED = "fixed"
    VERIFIED = "verified"
    CLOSED = "closed"

    @property
    def done(self) -> bool:
        """The bug is fixed, so code must carry its tags."""
        return self in (Status.FIXED, Status.VERIFIED, Status.CLOSED)


class ItemKind(StrEnum):
    """How an item's tests check it: by running the tagged code (the default), or by reading the
    code, the report or the files without running it (`static`: no W505 when they run none)."""

    RUNTIME = "runtime"
    STATIC = "static"


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
    line: int = 1  # where the item starts in the report
    kind: ItemKind = ItemKind.RUNTIME


@dataclass(frozen=True)
class BugReport:
    path: str  # relative to the project root
    bug_id: str
    title: str
    severity: Severity
    status: Status
    created: dt.date
    updated: dt.date | None
    author: str
    tags: tuple[str, ...]
    pre_fix_revision: str | None
    checklist: tuple[ChecklistItem, ...]
    body: str
    sections: Mapping[str, str] = field(hash=False, compare=False)
    body_line: int = 1  # the file line where the body starts
    lines: Mapping[str, int] = field(default_factory=dict, hash=False, compare=False)  # field -> line
    digest: str = field(default="", compare=False)  # of the file's bytes: what caches of its results are keyed by

    def section(self, *names: str) -> str:
        """The text under the first `## ` heading that matches one of `names` (any case)."""
        wanted = [n.lower() for n in names]
        for heading, text in self.sections.items():
            if heading.lower() in wanted:
                return text
        return ""

    def line_of(self, name: str) -> int:
        """The line of a front-matter field (the opening `---` where the field is absent)."""
        return self.lines.get(name, 1)


class ReportError(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


# The schema: one small validator a field. Each returns the value to keep, or raises _Invalid.


class _Invalid(ValueError):
    pass


def _text(value: Any) -> str:
    if isinstance(value, str) and not value.strip():
        raise _Invalid("must not be empty")
    if not isinstance(value, str):
        hint = " (YAML reads yes, no, on, off, null and numbers as such: quote it)" if value is not None else ""
        raise _Invalid(f"must be text, got {_kind(value)}{hint}")
    return value


def _choice(enum: type[StrEnum]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in enum.__members__.values():
            raise _Invalid(f"{value!r} is not one of {', '.join(enum)}")
        return enum(value)

    return check


def _date(value: Any) -> dt.date:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else value
        except ValueError:
            raise _Invalid(f"{value!r} is not a date on the calendar") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _Invalid(f"must be a date (YYYY-MM-DD), got {_kind(value)}")
    return value


def _optional_date(value: Any) -> dt.date | None:
    return None if value is None else _date(value)


def _text_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _Invalid("must be a list of text")
    return tuple(value)


def _revision(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        raise _Invalid("must be a git revision as text: quote it, as YAML reads an all-digit one as a number")
    if not isinstance(value, str) or not re.fullmatch(r"[\w./@^~{}-]+", value) or value.startswith("-"):
        raise _Invalid(f"{value!r} is not a git revision")
    return value


@dataclass(frozen=True)
class _Field:
    check: Callable[[Any], Any]
    required: bool = True


_SCHEMA: dict[str, _Field] = {
    "bug_id": _Field(_text),
    "title": _Field(_text),
    "severity": _Field(_choice(Severity)),
    "status": _Field(_choice(Status)),
    "created": _Field(_date),
    "updated": _Field(_optional_date, required=False),
    "author": _Field(_text),
    "tags": _Field(_text_list, required=False),
    "pre_fix_revision": _Field(_revision, required=False),
    "checklist": _Field(lambda value: value, required=False),  # checked item by item below
}
_ITEM_SCHEMA: dict[str, _Field] = {
    "id": _Field(_text),
    "group": _Field(_text),
    "text": _Field(_text),
    "manual": _Field(lambda value: value, required=False),
    "kind": _Field(lambda value: ItemKind.RUNTIME if value is None else _choice(ItemKind)(value), required=False),
}
_ITEM_ID = re.compile(r"[a-z0-9][a-z0-9-]*")


def _kind(value: Any) -> str:
    names = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "nothing",
        list: "a list",
        dict: "a mapping",
        dt.datetime: "a date and time",
        dt.date: "a date",
    }
    return names.get(type(value), type(value).__name__)


# Front matter, node by node


_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n(?P<yaml>.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_SCALARS = _Loader("")  # only its scalar constructors are used: bool, int, float, null, timestamp, str


@dataclass
class _Read:
    """Values read from the YAML nodes, with each value's file line by its path (`checklist[2].id`)."""

    lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)  # paths whose value is a problem already

    def value(self, node: yaml.Node, where: str) -> Any:
        line = node.start_mark.line + 2  # the front matter starts on the file's second line
        self.lines.setdefault(where, line)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 2
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                    self.problems.append((where or "front matter", key_line, f"key {shown!r} must be text (quote it)"))
                    continue
                key = key_node.value
                path = f"{where}.{key}" if where else key
                if key in result:
                    self.problems.append((path, key_line, "appears twice"))
                    continue
                self.lines[path] = key_line
                result[key] = self.value(value_node, path)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{where}[{index}]") for index, item in enumerate(node.value)]
        try:
            return _SCALARS.construct_object(node, deep=True)
        except (ValueError, OverflowError, yaml.YAMLError) as error:  # e.g. 2025-02-30
            self.problems.append((where, line, f"{node.value!r} cannot be read: {error}"))
            self.unreadable.add(where)
            return None


_PLAIN_TAGS = {None, "!"} | {
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
}


def _compose(raw: str) -> yaml.Node | None:
    """The node tree of the front matter. Aliases are refused before composing, so a few hundred
    bytes can never expand into billions of nodes; so are tags that name Python objects."""
    for event in yaml.parse(raw, Loader=_Loader):
        mark: Any = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise yaml.MarkedYAMLError(problem="aliases (*name) are not allowed in a bug report", problem_mark=mark)
        tag = getattr(event, "tag", None)
        if tag not in _PLAIN_TAGS:
            raise yaml.MarkedYAMLError(problem=f"the tag {tag} is not allowed in a bug report", problem_mark=mark)
    return yaml.compose(raw, Loader=_Loader)


def report_files(config: Config) -> list[Path]:
    folder = config.path(config.reports_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.glob("*.md")
        if not p.name.endswith(config.output_suffix) and p.name.lower() not in NON_REPORT_NAMES and p.is_file()
    )


def parse_report(path: Path, text: str, relative: str, id_regex: re.Pattern[str]) -> BugReport:
    """Parse one report or raise ReportError listing every problem found in it."""

    def fail(line: int, code: str, message: str) -> ReportError:
        return ReportError([Problem(relative, line, code, message)])

    match = _FRONT_MATTER.match(text)
    if match is None:
        raise fail(1, "R001", "no YAML front matter (a '---' line, YAML, a '---' line)")
    raw = match.group("yaml") or ""
    if len(raw) > MAX_FRONT_MATTER:
        raise fail(2, "R002", f"front matter is {len(raw)} characters long; at most {MAX_FRONT_MATTER} are read")
    try:
        node = _compose(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or "cannot be read"
        raise fail(
            mark.line + 2 if mark is not None else 2, "R002", f"front matter is not valid YAML: {reason}"
        ) from None
    if not isinstance(node, yaml.MappingNode):
        raise fail(2, "R003", "front matter must be a mapping of fields")
    read = _Read()
    data = read.value(node, "")
    problems = [Problem(relative, line, "R003", f"{where}: {message}") for where, line, message in read.problems]

    def problem(where: str, message: str) -> None:
        if where in read.unreadable:
            return  # already said why its value cannot be read
        line, parent = read.lines.get(where), where
        while line is None and ("." in parent or "[" in parent):  # a missing field: its parent's line
            parent = parent.rsplit(".", 1)[0] if "." in parent else parent.rsplit("[", 1)[0]
            line = read.lines.get(parent)
        problems.append(Problem(relative, line or 2, "R003", f"{where}: {message}"))

    values = _validated(data, _SCHEMA, "", problem)
    bug_id = values.get("bug_id")
    if isinstance(bug_id, str):
        if not id_regex.fullmatch(bug_id):
            problem("bug_id", f"{bug_id!r} does not match the ID pattern {id_regex.pattern}")
        elif not path.name.lower().startswith(bug_id.lower()):
            problem(
                "bug_id", f"{bug_id} does not agree with the file name {path.name} (expected {bug_id.lower()}-*.md)"
            )
    checklist = _checklist(data.get("checklist"), read.lines, problem)
    if problems:
        raise ReportError(sorted(set(problems)))

    body = text[match.end() :]
    body_line = text[: match.end()].count("\n") + 1
    return BugReport(
        path=relative,
        checklist=checklist,
        body=body,
        sections=split_sections(body),
        body_line=body_line,
        lines={k: v for k, v in read.lines.items() if k},
        bug_id=values["bug_id"],
        title=values["title"],
        severity=values["severity"],
        status=values["status"],
        created=values["created"],
        updated=values["updated"],
        author=values["author"],
        tags=values["tags"],
        pre_fix_revision=values["pre_fix_revision"],
    )


def _validated(
    data: dict[str, Any], schema: dict[str, _Field], where: str, problem: Callable[[str, str], None]
) -> dict[str, Any]:
    """Each field of `data` through its validator; unknown and missing fields are problems."""
    values: dict[str, Any] = {}
    prefix = f"{where}." if where else ""
    for key in sorted(set(data) - set(schema)):
        problem(prefix + key, f"unknown field (known: {', '.join(sorted(schema))})")
    for key, spec in schema.items():
        if (key not in data or data[key] is None) and spec.required:
            problem(prefix + key, "required text is missing" if where else "required field is missing")
            continue
        try:
            values[key] = spec.check(data.get(key))
        except _Invalid as error:
            problem(prefix + key, str(error))
    return values


def _checklist(raw: Any, lines: dict[str, int], problem: Callable[[str, str], None]) -> tuple[ChecklistItem, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problem("checklist", "must be a list of items with id, group and text")
        return ()
    items, seen = [], set()
    for index, entry in enumerate(raw):
        key = f"checklist[{index}]"
        if not isinstance(entry, dict):
            problem(key, "must be a mapping with id, group and text")
            continue
        values = _validated(entry, _ITEM_SCHEMA, key, problem)
        item_id = values.get("id")
        if isinstance(item_id, str):
            if not _ITEM_ID.fullmatch(item_id):
                problem(f"{key}.id", f"{item_id!r} must be lowercase letters, digits and dashes")
            elif item_id in seen:
                problem(f"{key}.id", f"{item_id!r} is used by another item")
            seen.add(item_id)
        sign_off = None
        manual = entry.get("manual")
        if manual is not None:
            if (
                not isinstance(manual, dict)
                or set(manual) != {"by", "reason"}
                or not all(isinstance(v, str) and v for v in manual.values())
            ):
                problem(f"{key}.manual", "must be a mapping with 'by' and 'reason' (text)")
            else:
                sign_off = ManualSignOff(manual["by"], manual["reason"])
        if all(isinstance(values.get(n), str) for n in ("id", "group", "text")):
            items.append(
                ChecklistItem(
                    values["id"],
                    values["group"],
                    values["text"],
                    sign_off,
                    lines.get(key, 1),
                    values.get("kind", ItemKind.RUNTIME),
                )
            )
    return tuple(items)


# The body


_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def code_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines inside fenced code blocks, fences included, by CommonMark's rule: a
    fence of three or more backticks or tildes is closed by a fence of the same character at least
    as long, with nothing after it (an unclosed one runs to the end). Hand-written rather than
    markdown-it, which costs tens of milliseconds a document in a gate that runs on every commit;
    the tests check the two agree on every generated document. Indented fences count too: inside
    a list item they are fences, elsewhere they are indented code, code either way."""
    inside: set[int] = set()
    opened: str | None = None
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if opened is None:
            if match and not (match["fence"][0] == "`" and "`" in match["info"]):
                opened = match["fence"]
                inside.add(index)
            continue
        inside.add(index)
        if (
            match
            and match["fence"][0] == opened[0]
            and len(match["fence"]) >= len(opened)
            and not match["info"].strip()
        ):
            opened = None
    return inside


def split_sections(body: str) -> dict[str, str]:
    """Text under each `## ` heading; headings inside fenced code are not headings."""
    lines = [line.rstrip("\r") for line in body.split("\n")]
    code = code_lines(lines)
    starts = [
        (index, line.strip()[3:].strip().rstrip("#").strip())
        for index, line in enumerate(lines)
        if index not in code and re.match(r" {0,3}## +\S", line)
    ]
    sections: dict[str, str] = {}
    for (start, heading), (end, _) in zip(starts, [*starts[1:], (len(lines), "")]):
        sections.setdefault(heading, "\n".join(lines[start + 1 : end]).strip())
    return sections


@dataclass(frozen=True)
class ReportSet:
    reports: tuple[BugReport, ...]
    problems: tuple[Problem, ...]

    @cached_property
    def _by_id(self) -> dict[str, BugReport]:
        return {r.bug_id.casefold(): r for r in self.reports}

    def find(self, bug_id: str) -> BugReport | None:
        """The report of `bug_id`, in any case."""
        return self._by_id.get(bug_id.casefold())

    def problems_of(self, bug_id: str) -> list[Problem]:
        """Problems of a report whose file name says it is `bug_id`'s, though it could not be read."""
        stem = bug_id.lower()
        return [p for p in self.problems if Path(p.path).name.lower().startswith(stem)]


def _parsed(path: Path, data: bytes, relative: str, id_regex: re.Pattern[str]) -> BugReport | list[Problem]:
    """A report, or every problem found in it."""
    try:
        return parse_report(path, decode_report(data, relative), relative, id_regex)
    except ReportError as error:
        return list(error.problems)
    except RecursionError:  # deeply nested YAML: the file's problem, not the run's end
        return [Problem(relative, 1, "R002", "front matter is nested too deeply")]


def _to_cache(parsed: BugReport | list[Problem]) -> str:
    """A parse outcome as JSON (never pickle: the cache folder is data, and data runs no code)."""
    if not isinstance(parsed, BugReport):
        return json.dumps({"problems": [[p.path, p.line, p.code, p.message, str(p.severity)] for p in parsed]})
    report = {f.name: getattr(parsed, f.name) for f in fields(BugReport)}
    report["created"] = parsed.created.isoformat()
    report["updated"] = parsed.updated.isoformat() if parsed.updated else None
    report["checklist"] = [
        {f.name: getattr(item, f.name) for f in fields(ChecklistItem)}
        | {"manual": [item.manual.by, item.manual.reason] if item.manual else None}
        for item in parsed.checklist
    ]
    report["sections"] = list(parsed.sections.items())
    report["lines"] = dict(parsed.lines)
    return json.dumps({"report": report}, ensure_ascii=False)


def _from_cache(text: str | None) -> BugReport | list[Problem] | None:
    """What `_to_cache` wrote, or None where there is nothing (or nothing it wrote) to read."""
    if text is None:
        return None
    try:
        data = json.loads(text)
        if "problems" in data:
            return [
                Problem(path, line, code, message, ProblemSeverity(severity))
                for path, line, code, message, severity in data["problems"]
            ]
        report = data["report"]
        checklist = tuple(
            ChecklistItem(
                **(
                    item
                    | {
                        "manual": ManualSignOff(*item["manual"]) if item["manual"] else None,
                        "kind": ItemKind(item.get("kind", ItemKind.RUNTIME)),
                    }
                )
            )
            for item in report["checklist"]
        )
        return BugReport(
            **(
                report
                | {
                    "severity": Severity(report["severity"]),
                    "status": Status(report["status"]),
                    "created": dt.date.fromisoformat(report["created"]),
                    "updated": dt.date.fromisoformat(report["updated"]) if report["updated"] else None,
                    "tags": tuple(report["tags"]),
                    "checklist": checklist,
                    "sections": dict(report["sections"]),
                }
            )
        )
    except (ValueError, TypeError, KeyError):
        return None  # written by another tracer, or damaged: parse the report again


def decode_report(data: bytes, relative: str) -> str:
    """A report's text; bytes that are not UTF-8 are a problem naming the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ReportError([Problem(relative, line, "R001", "not valid UTF-8: save the report as UTF-8")]) from None


def load_reports(config: Config) -> ReportSet:
    """Every report of the project; problems are collected per file and never stop the others.
    Each file's outcome is cached under a digest of its bytes, so a warm run parses no YAML."""
    reports: list[BugReport] = []
    problems: list[Problem] = []
    cache = ContentCache(config.cache("reports"))
    for path in report_files(config):
        relative = path.relative_to(config.root).as_posix()
        try:
            data = read_bytes(config.root, path, config.max_report_bytes, "max_report_bytes", "the report")
        except UnsafePath as error:  # a link out of the project, no regular file, or too large: never read
            problems.append(Problem(relative, 1, "R001", error.message))
            continue
        except OSError as error:
            problems.append(Problem(relative, 1, "R001", f"cannot read: {error.strerror or error}"))
            continue
        key = "report-" + digest_of(relative, data, config.id_pattern)
        cached = _from_cache(cache.get(key))
        if cached is None:
            cached = _parsed(path, data, relative, config.id_regex)
            if isinstance(cached, BugReport):
                cached = replace(cached, digest=key)
            cache.put(key, _to_cache(cached))
        if isinstance(cached, BugReport):
            reports.append(cached)
        else:
            problems += cached
    by_id: dict[str, BugReport] = {}
    for report in reports:
        key = report.bug_id.casefold()
        if key in by_id:
            problems.append(
                Problem(
                    report.path,
                    report.line_of("bug_id"),
                    "R004",
                    f"{report.bug_id} is also the ID of {by_id[key].path}",
                )
            )
        else:
            by_id[key] = report
    return ReportSet(tuple(by_id.values()), tuple(sorted(problems)))
