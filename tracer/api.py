"""The Project facade: what the commands ask of a project, each part computed once per command
and handed down the pipeline (reports -> scans -> evidence -> documents -> check). No click, no
printing: the shell turns the answers into text and exit codes."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.cache import ContentCache
from tracer.config import Config
from tracer.problems import Problem, TracerError
from tracer.scanner import FileScan, IdTags, TaggedScope, all_tags, iter_tagged
from tracer.sources import scan_project

if TYPE_CHECKING:  # reading reports needs yaml, which `tracer trace` does without
    from tracer.check import CheckResult, RenderedOrNot
    from tracer.evidence import BugStatus
    from tracer.prove import ProveResult
    from tracer.render import Document
    from tracer.reports import BugReport, ReportSet
    from tracer.site import Site


class Project:
    """A project's reports, scans and bug states, each loaded once, when a command first needs it."""

    def __init__(self, config: Config):
        self.config = config
        self._bugs: dict[str, BugStatus] = {}

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
        """The report of `bug_id` (in any case), or a clear error that names the nearest IDs."""
        report = self.reports.find(bug_id)
        if report is not None:
            return report
        bad = self.reports.problems_of(bug_id)
        if bad:
            raise TracerError(f"{bad[0].code} {bad[0].message}", bad[0].path, bad[0].line)
        known = sorted({r.bug_id for r in self.reports.reports} | set(self.tagged_ids()))
        close = difflib.get_close_matches(bug_id.upper(), known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise TracerError(f"no bug report for {bug_id} in {self.config.reports_dir}/{hint}")

    def tagged(self, bug_id: str) -> list[TaggedScope]:
        """The scopes tagged with `bug_id`, however its letters are cased in the tags."""
        spellings = [i for i in self.tagged_ids() if i.casefold() == bug_id.casefold()]
        spelling = bug_id if bug_id in spellings or not spellings else spellings[0]
        return list(iter_tagged(self.scans, spelling))

    def tagged_ids(self) -> list[str]:
        """Every ID tagged anywhere in the code, with or without a report."""
        return [tags.bug_id for tags in self.all_tags]

    @cached_property
    def all_tags(self) -> tuple[IdTags, ...]:
        """Every tag of every ID, orphans included, in one pass over the scans."""
        return all_tags(self.scans)

    @property
    def scan_problems(self) -> list[Problem]:
        return sorted(p for scan in self.scans for p in scan.problems)

    def bug(self, bug_id: str) -> BugStatus:
        """The bug's report, tagged code, evidence and item states: computed once per command."""
        from tracer.evidence import assess, load_evidence

        report = self.report(bug_id)
        if report.bug_id not in self._bugs:
            evidence = load_evidence(self.config, report.bug_id)
            self._bugs[report.bug_id] = assess(report, self.tagged(report.bug_id), evidence, self.config.root)
        return self._bugs[report.bug_id]

    def sign_off(self, bug_id: str, sign_offs: Mapping[str, tuple[str, str]], from_report: bool = False,
                 revoked: Iterable[str] = ()) -> None:
        """Record sign-offs, item -> (by, reason), pinned to the bug's code as it is now: each goes
        stale when that code changes. `revoked` items lose theirs."""
        from tracer.evidence import Environment, SignOff, fingerprints, updated_evidence

        report = self.report(bug_id)
        items = [i.id for i in report.checklist]
        for item_id in sign_offs:
            if item_id not in items:
                raise TracerError(f"{report.bug_id} has no checklist item {item_id!r} (items: {', '.join(items)})",
                                  report.path, report.line_of("checklist"))
        prints = fingerprints(self.config.root, self.tagged(report.bug_id))
        with updated_evidence(self.config, report.bug_id, Environment(())) as evidence:
            for item_id, (by, reason) in sign_offs.items():
                evidence.signoffs[item_id] = SignOff(by, reason, evidence.remember(prints), from_report)
            for item_id in revoked:
                evidence.signoffs.pop(item_id, None)
        self._bugs.pop(report.bug_id, None)

    def pin_signoffs(self, bug_id: str) -> None:
        """Keep the report's manual sign-offs pinned to the code: pin those not pinned yet (or that
        say something else now) to the code as it is now, and drop those the report no longer has."""
        bug = self.bug(bug_id)
        recorded = bug.evidence.signoffs
        manual = {item.id: item.manual for item in bug.report.checklist if item.manual is not None}
        unpinned = {
            item_id: (entry.by, entry.reason) for item_id, entry in manual.items()
            if item_id not in recorded or (recorded[item_id].by, recorded[item_id].reason) != (entry.by, entry.reason)
        }
        revoked = [item_id for item_id, sign_off in recorded.items() if sign_off.from_report and item_id not in manual]
        if unpinned or revoked:
            self.sign_off(bug.report.bug_id, unpinned, from_report=True, revoked=revoked)

    def document(self, bug_id: str, base: str | None = None) -> Document:
        from tracer.render import render_document

        return render_document(self.config, self.bug(bug_id), base, self.cache)

    def all_bugs(self) -> Iterator[BugStatus | TracerError]:
        for report in sorted(self.reports.reports, key=lambda r: r.bug_id):
            try:
                yield self.bug(report.bug_id)
            except TracerError as error:
                yield error

    def index(self) -> Document:
        from tracer.render import render_index

        return render_index(self.config, [b for b in self.all_bugs() if not isinstance(b, TracerError)], self.cache)

    @property
    def is_empty(self) -> bool:
        """No reports and no tags: a folder where tracer has nothing to say, and writes nothing."""
        return not self.reports.reports and not self.reports.problems and not any(s.scopes or s.malformed for s in self.scans)

    def all_documents(self, base: str | None = None) -> list[Document]:
        """Every report's document, then the index of all bugs."""
        return [self.document(r.bug_id, base) for r in sorted(self.reports.reports, key=lambda r: r.bug_id)] + [self.index()]

    def check(self, strict: bool = False) -> CheckResult:
        from tracer.check import check_project
        from tracer.gitio import is_shallow
        from tracer.render import diff_base_missing, index_path

        bugs: list[BugStatus] = []
        bug_problems: list[Problem] = []
        documents: list[RenderedOrNot] = []
        missing: dict[str, str] = {}
        for report, outcome in zip(sorted(self.reports.reports, key=lambda r: r.bug_id), self.all_bugs()):
            hint = f"run tracer render {report.bug_id}"
            if isinstance(outcome, TracerError):
                bug_problems.append(_as_problem(outcome, report.path, "C301"))
                continue
            bugs.append(outcome)
            revision = diff_base_missing(self.config, report, None)
            if revision:
                missing[report.bug_id] = revision
            documents.append(self._rendered(partial(self.document, report.bug_id), hint, report.path, "cannot render"))
        if index_path(self.config).exists() or self.reports.reports:
            shown = index_path(self.config).relative_to(self.config.root).as_posix()
            documents.append(self._rendered(self.index, "run tracer render --all", shown, "cannot render the index"))
        shallow = bool(missing) and is_shallow(self.config.root)
        return check_project(self.config, self.reports, self.scans, bugs, bug_problems, documents, missing, shallow,
                             self.is_empty, strict)

    @staticmethod
    def _rendered(render: Callable[[], Document], hint: str, path: str, what: str) -> RenderedOrNot:
        """A document as rendered now, or the C201 problem that kept it from rendering."""
        from tracer.check import RenderedOrNot

        try:
            return RenderedOrNot(hint, document=render())
        except TracerError as error:
            problem = _as_problem(error, path, "C201")
            return RenderedOrNot(hint, problem=Problem(problem.path, problem.line, "C201", f"{what}: {error.message}"))

    def prove(self, bug_id: str, base: str | None, repeat: int) -> ProveResult:
        from tracer.evidence import code_id, fingerprints
        from tracer.prove import prove_bug

        report = self.report(bug_id)
        code = code_id(fingerprints(self.config.root, self.tagged(report.bug_id)))
        return prove_bug(self.config, report, base, repeat, code)

    def site(self, out: Path | None) -> Site:
        """The static HTML site of every bug, written into `out` (default: the cache folder). A
        bug whose evidence cannot be trusted stops it, naming the file, as `render --all` does."""
        from tracer.site import build_site

        bugs = []
        for outcome in self.all_bugs():
            if isinstance(outcome, TracerError):
                raise outcome
            bugs.append(outcome)
        return build_site(self.config, bugs, self.scans, out, self.cache)


def _as_problem(error: TracerError, path: str, code: str) -> Problem:
    where = Path(str(error.path)) if error.path is not None else Path(path)
    shown = where.as_posix() if not where.is_absolute() else str(where)
    return Problem(shown, error.line or 1, code, error.message)


def trace_as_dict(bug_id: str, tagged: list[TaggedScope]) -> dict[str, Any]:
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
