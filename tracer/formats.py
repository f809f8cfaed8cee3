"""The machine interfaces: the JSON of `trace`, `list` and `check`, and `check`'s text, GitHub
workflow commands and SARIF 2.1.0. Every shape other tools build on is defined here, once.

Every format is one complete document (a `--diff` travels inside JSON, never after it), and paths
are as the repository names them, which is what CI annotations and code scanning expect."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracer.attest import Signature
from tracer.check import CODES, CheckResult
from tracer.config import Config
from tracer.problems import Problem, Severity
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
                    {"start_line": c.start_line, "end_line": c.end_line, "kind": c.kind, "text": c.text}
                    for c in t.changes
                ],
            }
            for t in tagged
        ],
    }


def report_as_dict(report: BugReport) -> dict[str, Any]:
    """One row of `tracer list --format json`."""
    return {
        "bug_id": report.bug_id, "title": report.title, "severity": str(report.severity), "status": str(report.status),
        "created": report.created.isoformat(), "path": report.path, "items": len(report.checklist),
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
            "verified_in": list(item.verified_in),
            "results": [
                {"test": r.test_id, "environment": r.environment, "outcome": str(r.outcome), "current": r.current,
                 **({"signature": signed[r.environment].as_dict} if r.environment in signed else {})}
                for r in item.results
            ],
        }
        for item in bug.items
    ]

def as_text(problems: Sequence[Problem], show_diff: bool) -> str:
    lines = [f"{p}" + (" (warning)" if p.severity is Severity.WARNING else "") for p in problems]
    text = "".join(line + "\n" for line in lines)
    if show_diff:
        text += "".join(p.detail for p in problems if p.detail)
    return text


def as_json(config: Config, result: CheckResult, show_diff: bool) -> str:
    """A list of findings; item findings carry the item's results with their environments (and
    who signed each, where signatures were checked); signature findings carry the signature."""
    signatures = {f"signature:{s.path}": s for s in result.signatures}
    items = {
        f"{b.report.bug_id}/{i['id']}": i for b in result.bugs
        for i in item_json(b, {s.environment: s for s in result.signatures if s.bug_id == b.report.bug_id})
    }
    findings = []
    for problem in result.problems:
        finding: dict[str, Any] = {
            "path": config.in_repo(problem.path), "line": problem.line, "code": problem.code,
            "severity": str(problem.severity), "message": problem.message,
        }
        if show_diff and problem.detail:
            finding["diff"] = problem.detail
        if problem.subject in items:
            finding["item"] = items[problem.subject]
        if problem.subject in signatures:
            finding["signature"] = signatures[problem.subject].as_dict
        findings.append(finding)
    return json.dumps(findings, indent=2, ensure_ascii=False) + "\n"


def escape_data(text: str) -> str:
    """As the Actions toolkit escapes a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """As the Actions toolkit escapes a workflow command's property values."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def as_github(config: Config, problems: Sequence[Problem]) -> str:
    """Workflow commands that annotate the files of a pull request; a report's text can never
    end one command and start another."""
    return "".join(
        f"::{'warning' if p.severity is Severity.WARNING else 'error'} "
        f"file={escape_property(config.in_repo(p.path))},line={p.line},title={escape_property(p.code)}::{escape_data(p.message)}\n"
        for p in problems
    )


def as_sarif(config: Config, problems: Sequence[Problem], version: str) -> str:
    """SARIF 2.1.0, as GitHub code scanning reads it."""
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
                        "artifactLocation": {"uri": config.in_repo(p.path), "uriBaseId": "%SRCROOT%"},
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
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
