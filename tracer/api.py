"""What the commands do, as plain functions over the config: no click, no printing."""

from __future__ import annotations

import difflib
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.problems import Problem, TracerError
from tracer.scanner import FileScan, TaggedScope, iter_tagged
from tracer.sources import scan_project

if TYPE_CHECKING:  # reading reports needs yaml, which `tracer trace` does without
    from tracer.prove import TestRun
    from tracer.reports import BugReport, ReportSet


class Project:
    """A project's reports and scans, each loaded once, when a command first needs it."""

    def __init__(self, config: Config):
        self.config = config

    @cached_property
    def reports(self) -> ReportSet:
        from tracer.reports import load_reports

        return load_reports(self.config)

    @cached_property
    def scans(self) -> list[FileScan]:
        return scan_project(self.config)

    @cached_property
    def cache(self) -> ContentCache:
        return ContentCache(self.config.path(self.config.cache_dir) / "render")

    def report(self, bug_id: str) -> BugReport:
        report = self.reports.find(bug_id)
        if report is None:
            bad = [p for p in self.reports.problems if bug_id.lower() in p.path.lower()]
            if bad:
                raise TracerError(f"{bad[0].code} {bad[0].message}", bad[0].path, bad[0].line)
            raise TracerError(f"no bug report for {bug_id} in {self.config.reports_dir}/")
        return report

    def tagged(self, bug_id: str) -> list[TaggedScope]:
        return list(iter_tagged(self.scans, bug_id))

    @property
    def scan_problems(self) -> list[Problem]:
        return sorted(p for scan in self.scans for p in scan.problems)


def trace_as_dict(bug_id: str, tagged: list[TaggedScope]) -> dict:
    """The JSON of `tracer trace`: the machine interface other tools build on."""
    return {
        "bug_id": bug_id,
        "functions": [
            {
                "path": t.path,
                "qualname": t.scope.qualname,
                "kind": t.scope.kind,
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


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (on disk)", f"{path} (rendered)")
    )


def render_document(project: Project, bug_id: str, base: str | None = None) -> tuple[Path, str]:
    """Where the bug's document goes and what it says now. The text is cached under a digest of
    everything it is made of, so an unchanged bug is never rendered (nor jinja2 imported) twice."""
    from tracer.render import output_path

    report = project.report(bug_id)
    key = _document_key(project, report, base)
    cached = project.cache.get(key)
    if cached is not None:
        return output_path(project.config, report), cached
    text = _render_document(project, report, base)
    project.cache.put(key, text)
    return output_path(project.config, report), text


def _render_document(project: Project, report: BugReport, base: str | None) -> str:
    from tracer.evidence import item_states, load_evidence, status_line
    from tracer.render import render_code_changes

    tagged = project.tagged(report.bug_id)
    evidence = load_evidence(project.config, report.bug_id)
    items = item_states(report, evidence, tagged, project.config)
    return render_code_changes(
        project.config, report, tagged, items, status_line(report, items), base=base,
        extra={"proof": evidence.proof if evidence else None},
    )


def _document_key(project: Project, report: BugReport, base: str | None) -> str:
    """A digest of a document's inputs: the report, its evidence, the templates, the tagged files
    and the commit the diffs are taken against."""
    from tracer.evidence import evidence_path
    from tracer.gitio import GitError, resolve_revision

    config = project.config
    revision = base or report.pre_fix_revision or ""
    try:
        commit = resolve_revision(config.root, revision) if revision else ""
    except GitError:
        commit = "unresolved:" + revision
    parts: list[bytes | str] = [repr(config), report.path, (config.root / report.path).read_bytes(), commit]
    evidence = evidence_path(config, report.bug_id)
    parts.append(evidence.read_bytes() if evidence.exists() else b"")
    parts += _project_templates(config)
    for tagged_path in sorted({t.path for t in project.tagged(report.bug_id)}):
        parts += [tagged_path, (config.root / tagged_path).read_bytes()]
    return "document-" + digest_of(*parts) + ".md"


def _project_templates(config: Config) -> list[bytes | str]:
    """Names and bytes of the project's own templates, for cache keys (tracer's own are in every key)."""
    folder = config.path(config.templates_dir)
    parts: list[bytes | str] = []
    for template in sorted(folder.glob("*")) if folder.is_dir() else []:
        parts += [template.name, template.read_bytes()]
    return parts


def render_all_documents(project: Project, base: str | None = None) -> list[tuple[Path, str]]:
    """Every report's document, then the index of all bugs."""
    reports = sorted(project.reports.reports, key=lambda r: r.bug_id)
    documents = [render_document(project, report.bug_id, base) for report in reports]
    return documents + [render_index(project)]


def index_path(config: Config) -> Path:
    return config.path(config.reports_dir) / "index.md"


def render_index(project: Project) -> tuple[Path, str]:
    """One row a bug, newest first: ID, title, severity, status, verified items, stale items, links."""
    from tracer.evidence import item_states, load_evidence
    from tracer.render import output_path, render_template

    config = project.config
    out = index_path(config)
    rows = []
    for report in sorted(project.reports.reports, key=lambda r: (r.created, r.bug_id), reverse=True):
        states = item_states(report, load_evidence(config, report.bug_id), project.tagged(report.bug_id), config)
        document = output_path(config, report)
        rows.append(
            {
                "report": report,
                "report_link": os.path.relpath(config.root / report.path, out.parent).replace(os.sep, "/"),
                "document_link": os.path.relpath(document, out.parent).replace(os.sep, "/"),
                "verified": sum(s.state == "verified" for s in states),
                "total": len(states),
                "stale": sum(s.state == "stale" for s in states),
            }
        )
    key = "index-" + digest_of(repr(config), repr(rows), *_project_templates(config)) + ".md"
    cached = project.cache.get(key)
    if cached is None:
        cached = render_template(config, "index.md.j2", {"rows": rows})
        project.cache.put(key, cached)
    return out, cached


def prove_bug(project: Project, bug_id: str, base: str | None = None) -> tuple[dict, TestRun]:
    """Run the bug's linked tests before and after the fix, keep the proof with the evidence;
    return the proof and the run on the old code (whose output explains a run that did nothing)."""
    from tracer.evidence import load_evidence, locked_evidence
    from tracer.gitio import GitError
    from tracer.prove import proof_of, run_before, run_linked_tests, test_files_naming

    config = project.config
    report = project.report(bug_id)
    revision = base or report.pre_fix_revision
    if not revision:
        raise TracerError(f"{bug_id} names no pre_fix_revision; give --base REV", report.path, 1)
    test_files = test_files_naming(config.root, list(config.test_roots), bug_id)
    if not test_files:
        raise TracerError(f"no test file under {', '.join(config.test_roots)} mentions {bug_id}")
    try:
        commit, before = run_before(config, revision, bug_id, list(config.test_roots), test_files)
    except GitError as error:
        raise TracerError(f"cannot check out {revision}: {error}", report.path, 1) from None
    after = run_linked_tests(config.root, bug_id, test_files, record=True)
    evidence = load_evidence(config, bug_id)
    linked = {
        item: [t for t in tests if t in after.outcomes]
        for item, tests in (evidence.items.items() if evidence else [])
    }
    proof = proof_of(commit, before, after, {k: v for k, v in linked.items() if v})
    with locked_evidence(config, bug_id) as stored:
        stored.proof = proof
    return proof, before
