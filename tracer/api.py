"""The Project facade: what the commands ask of a project, each part computed once per command
and handed down the pipeline (reports -> scans -> evidence -> item states -> documents). It
answers questions; `tracer.check` turns the answers into findings. No click, no printing: the
shell turns the answers into text and exit codes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tracer.cache import ContentCache
from tracer.config import Config
from tracer.problems import Problem, TracerError
from tracer.scanner import FileScan, IdTags, TaggedScope, all_tags, iter_tagged
from tracer.sources import scan_project

if TYPE_CHECKING:  # reading reports needs yaml, which `tracer trace` does without
    import jinja2

    from tracer.attest import Signature
    from tracer.junit import JunitImport
    from tracer.prove import ProveResult
    from tracer.prove_changes import ChangesResult
    from tracer.render import Document
    from tracer.reports import BugReport, ReportSet
    from tracer.site import Site
    from tracer.sshsig import AllowedSigners
    from tracer.status import BugStatus
    from tracer.testids import ProjectTests
    from tracer.testrun import Target


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
        return ContentCache(self.config.cache("render"))

    def report(self, bug_id: str) -> BugReport:
        """The report of `bug_id` (in any case), or a clear error that names the nearest IDs."""
        report = self.reports.find(bug_id)
        if report is not None:
            return report
        bad = self.reports.problems_of(bug_id)
        if bad:
            raise TracerError(f"{bad[0].code} {bad[0].message}", bad[0].path, bad[0].line)
        known = sorted({r.bug_id for r in self.reports.reports} | set(self.tagged_ids()))
        import difflib  # only for an unknown ID

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

    @cached_property
    def unparsed(self) -> frozenset[str]:
        """Files that do not parse now (T001): their tags, and so their bugs' states, are unknown."""
        return frozenset(scan.path for scan in self.scans if any(p.code == "T001" for p in scan.problems))

    @property
    def scan_problems(self) -> list[Problem]:
        return sorted(p for scan in self.scans for p in scan.problems)

    def bug(self, bug_id: str) -> BugStatus:
        """The bug's report, tagged code, evidence and item states: computed once per command."""
        from tracer.evidence import load_evidence
        from tracer.status import assess

        report = self.report(bug_id)
        if report.bug_id not in self._bugs:
            evidence = load_evidence(self.config, report.bug_id)
            self._bugs[report.bug_id] = assess(
                report, self.tagged(report.bug_id), evidence, self.config.root, self.unparsed, self.tests
            )
        return self._bugs[report.bug_id]

    @cached_property
    def tests(self) -> ProjectTests:
        """The project's tests, as evidence may name them (each test file parsed once a command)."""
        from tracer.evidence import project_tests

        return project_tests(self.config)

    def sign_off(self, bug_id: str, item_id: str, by: str, reason: str) -> BugReport:
        """Record a manual sign-off of one item, pinned to the bug's code as it is now."""
        from tracer.evidence import record_signoffs

        report = self.report(bug_id)
        record_signoffs(self.config, report, self.tagged(report.bug_id), {item_id: (by, reason)})
        self._bugs.pop(report.bug_id, None)
        return report

    def documents(self, bug_id: str, base: str | None = None) -> list[Document]:
        """The bug's document as it would be written now, and its diffs as data where it has them."""
        from tracer.render import render_bug

        return render_bug(self.config, self.bug(bug_id), base, self.cache, self.templates, lambda: self.environment)

    @cached_property
    def environment(self) -> jinja2.Environment:
        """The documents' template environment, made (and each template compiled) once a command."""
        from tracer.render import template_environment

        return template_environment(self.config)

    @cached_property
    def templates(self) -> list[bytes | str]:
        """The project's own templates, read once for every document's cache key."""
        from tracer.render import project_templates

        return project_templates(self.config)

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
        return (
            not self.reports.reports
            and not self.reports.problems
            and not any(s.scopes or s.malformed for s in self.scans)
        )

    def rendered(self, bug_id: str | None, base: str | None = None) -> list[Document]:
        """What `tracer render` writes: the bug's documents and the index, or, without a bug,
        every report's documents and then the index."""
        if bug_id is not None:
            return [*self.documents(bug_id, base), self.index()]
        reports = sorted(self.reports.reports, key=lambda r: r.bug_id)
        return [document for r in reports for document in self.documents(r.bug_id, base)] + [self.index()]

    def signatures(self, allowed_signers: Path | None = None) -> tuple[AllowedSigners | None, list[Signature]]:
        """The allowed signers (given, else `[tool.tracer] allowed_signers`, else none) and each
        evidence file's signature verified against them (none without them)."""
        from tracer.attest import project_signers, verify_bug

        signers = project_signers(self.config, allowed_signers)
        if signers is None:
            return None, []
        bugs = [b for b in self.all_bugs() if not isinstance(b, TracerError)]
        return signers, [s for b in bugs for s in verify_bug(self.config, b.report.bug_id, b.evidence.files, signers)]

    def prove_target(self, bug_id: str, base: str | None, allow_missing: bool = False) -> Target:
        """The pre-fix revision prove may run code of (refused, with nothing run, if it may not)."""
        from tracer.testrun import prove_target

        return prove_target(self.config, self.report(bug_id), base, allow_missing)

    def prove(self, bug_id: str, target: Target, repeat: int, timeout: float | None = None) -> ProveResult:
        from tracer.prove import prove_bug

        report = self.report(bug_id)
        return prove_bug(self.config, report, self.tagged(report.bug_id), target, repeat, timeout)

    def prove_changes(
        self, bug_id: str, target: Target, timeout: float | None = None, jobs: int | None = None
    ) -> ChangesResult:
        from tracer.prove_changes import prove_changes

        report = self.report(bug_id)
        return prove_changes(self.config, report, self.tagged(report.bug_id), target, timeout, jobs)

    def import_junit(
        self, sources: Sequence[tuple[Path, str]], facts: Mapping[str, str]
    ) -> tuple[JunitImport, tuple[Problem, ...], list[str]]:
        """Read JUnit files (path, name to show) and, where every file is sound and every evidence
        file they add to can be trusted, record their linked results: one bad file, nothing
        written. Returns what was read, the findings, and the bugs written."""
        from tracer.junit import check_evidence, read_junit, record_imported

        read = read_junit(self.config, sources, self.reports.reports)
        problems = tuple(read.problems) or tuple(check_evidence(self.config, read.results))
        if problems or not read.results:
            return read, problems, []
        tagged = {bug_id: self.tagged(bug_id) for bug_id in {r.bug_id for r in read.results}}
        return read, (), record_imported(self.config, read.results, facts, tagged)

    def site(self, out: Path | None, force: bool = False) -> Site:
        """The static HTML site of every bug, written into `out` (default: the cache folder). A
        bug whose evidence cannot be trusted stops it, naming the file, as `render --all` does."""
        from tracer.site import build_site

        bugs = []
        for outcome in self.all_bugs():
            if isinstance(outcome, TracerError):
                raise outcome
            bugs.append(outcome)
        return build_site(self.config, bugs, self.scans, out, self.cache, force)
