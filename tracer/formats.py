"""The machine interfaces: the JSON of `trace`, `list` and `check`, and `check`'s text, GitHub
workflow commands and SARIF 2.1.0. Every shape other tools build on is defined here, once.

Every format is one complete document (a `--diff` travels inside JSON, never after it), and paths
are as the repository names them, which is what CI annotations and code scanning expect. Every
value is escaped for its format (`tracer.escape`): text shows controls escaped and never starts a
workflow command, JSON and SARIF are valid UTF-8 JSON whatever the file names (a byte that is not
UTF-8 is the JSON escape `\\udcXX`, as Python's surrogateescape names it), SARIF URIs are
percent-encoded."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracer.escape import json_text, one_line, terminal, uri_path
from tracer.problems import Problem, Severity

if TYPE_CHECKING:  # `tracer trace` needs none of them (reports import yaml, check the evidence store)
    from tracer.affected import Affected
    from tracer.attest import Signature
    from tracer.check import CheckResult
    from tracer.config import Config
    from tracer.reports import BugReport
    from tracer.status import BugStatus
    from tracer.tags import TaggedScope

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def trace_as_dict(bug_id: str, tagged: Iterable[TaggedScope]) -> dict[str, Any]:
    """The JSON of `tracer trace`: where a bug lives in the code."""
    return {
        "bug_id": bug_id,
        "functions": [
            {
                "path": t.path,
                "qualname": t.scope.qualname,
                "kind": str(t.scope.kind),
                "start_line": t.scope.start_line,
                "end_line": t.scope.end_line,
                "changes": [
                    {
                        "start_line": c.start_line,
                        "end_line": c.end_line,
                        "kind": c.kind,
                        "text": c.text,
                        "tag_lines": list(c.tag_lines or (c.tag_line,)),
                    }
                    for c in t.changes
                ],
            }
            for t in tagged
        ],
    }


def report_as_dict(report: BugReport) -> dict[str, Any]:
    """One row of `tracer list --format json`."""
    return {
        "bug_id": report.bug_id,
        "title": report.title,
        "severity": str(report.severity),
        "status": str(report.status),
        "created": report.created.isoformat(),
        "path": report.path,
        "items": len(report.checklist),
    }


def item_json(bug: BugStatus, signed: Mapping[str, Signature] | None = None) -> list[dict[str, Any]]:
    """Each item's state and its results, with the environment of each (and, where signatures
    were checked, who signed that environment's evidence), for `check --format json`."""
    signed = signed or {}
    return [
        {
            "id": item.id,
            "state": str(item.state),
            "detail": item.detail,
            "kind": str(item.kind),
            "verified_in": list(item.verified_in),
            "execution": list(item.execution),
            "runs": [
                {
                    "test": run.test,
                    "cases": run.cases,
                    "changed_lines_run": run.ran,
                    "changed_lines": run.of,
                    "scopes": list(run.scopes),
                }
                for run in item.runs
            ],
            "results": [
                {
                    "test": r.test_id,
                    "environment": r.environment,
                    "outcome": str(r.outcome),
                    "current": r.current,
                    "executed": None if r.executed is None else dict(r.executed),
                    **({"signature": signed[r.environment].as_dict} if r.environment in signed else {}),
                }
                for r in item.results
            ],
        }
        for item in bug.items
    ]


def affected_json(result: Affected) -> str:
    """The JSON of `tracer affected`: the tests to run again, and why."""
    data = {
        "base": result.base,
        "tests": [{"test": a.test_id, "bug_id": a.bug_id, "reason": a.reason} for a in result.affected],
    }
    return json_text(data, indent=2) + "\n"


def as_text(problems: Sequence[Problem], show_diff: bool) -> str:
    """One line a finding (its path and message flattened: no value adds a line), then the diffs."""
    lines = [one_line(f"{p}") + (" (warning)" if p.severity is Severity.WARNING else "") for p in problems]
    text = "".join(line + "\n" for line in lines)
    if show_diff:
        text += "".join(p.detail for p in problems if p.detail)
    return terminal(text)


def as_json(config: Config, result: CheckResult, show_diff: bool) -> str:
    """A list of findings; item findings carry the item's results with their environments (and
    who signed each, where signatures were checked); signature findings carry the signature."""
    signatures = {f"signature:{s.path}": s for s in result.signatures}
    items = {
        f"{b.report.bug_id}/{i['id']}": i
        for b in result.bugs
        for i in item_json(b, {s.environment: s for s in result.signatures if s.bug_id == b.report.bug_id})
    }
    findings = []
    for problem in result.problems:
        finding: dict[str, Any] = {
            "path": config.in_repo(problem.path),
            "line": problem.line,
            "code": problem.code,
            "severity": str(problem.severity),
            "message": problem.message,
        }
        if show_diff and problem.detail:
            finding["diff"] = problem.detail
        if problem.subject in items:
            finding["item"] = items[problem.subject]
        if problem.subject in signatures:
            finding["signature"] = signatures[problem.subject].as_dict
        findings.append(finding)
    return json_text(findings, indent=2) + "\n"


def escape_data(text: str) -> str:
    """As the Actions toolkit escapes a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """As the Actions toolkit escapes a workflow command's property values."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def as_github(config: Config, problems: Sequence[Problem]) -> str:
    """Workflow commands that annotate the files of a pull request; a report's text can never
    end one command and start another."""
    return terminal(
        "".join(
            f"::{'warning' if p.severity is Severity.WARNING else 'error'} "
            f"file={escape_property(config.in_repo(p.path))},line={p.line},title={escape_property(p.code)}::{escape_data(p.message)}\n"
            for p in problems
        ),
        annotations=True,
    )  # every line is an annotation of ours: their data is escaped, its controls too


def as_sarif(config: Config, problems: Sequence[Problem], version: str) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it."""
    from tracer.check import CODES

    used = sorted({p.code for p in problems} | set(CODES))
    rules = [
        {
            "id": code,
            "name": code,
            "shortDescription": {"text": CODES.get(code, code)},
            "defaultConfiguration": {"level": "warning" if code.startswith("W") else "error"},
        }
        for code in used
    ]
    results = [
        {
            "ruleId": p.code,
            "ruleIndex": used.index(p.code),
            "level": "warning" if p.severity is Severity.WARNING else "error",
            "message": {"text": p.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri_path(config.in_repo(p.path)), "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": max(1, p.line)},
                    }
                }
            ],
        }
        for p in problems
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "tracer", "version": version, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json_text(log, indent=2) + "\n"


_TEXT_FINDING = re.compile(r"^.*:\d+: [A-Z]\d{3} ")
_ANNOTATION = re.compile(r"^::(?:error|warning) file=")
_DIFF_LINE = re.compile(r"^(?:--- |\+\+\+ |@@ |[ +-]|\\ |$)")
_FINDING_KEYS = {"path", "line", "code", "severity", "message"}


def is_check_output(data: bytes) -> bool:
    """Whether a file holds what `tracer check` writes in one of its formats, so that
    `--output-file` may replace it without `--force`: an empty file, a SARIF log of tracer's, a
    JSON list of findings, or lines of findings (with their diffs) or of annotations."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not text.strip():
        return True
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        lines = text.splitlines()
        if _ANNOTATION.match(lines[0]):
            return all(_ANNOTATION.match(line) for line in lines)
        return bool(_TEXT_FINDING.match(lines[0])) and all(
            _TEXT_FINDING.match(line) or _DIFF_LINE.match(line) for line in lines
        )
    if isinstance(value, list):
        return all(isinstance(finding, dict) and finding.keys() >= _FINDING_KEYS for finding in value)
    try:
        return bool(value["version"] == "2.1.0" and value["runs"][0]["tool"]["driver"]["name"] == "tracer")
    except (TypeError, KeyError, IndexError):
        return False
