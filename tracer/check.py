"""`tracer check`: the consistency gate. Never writes; asks the Project its questions and turns
the answers into Problems. Every finding is made here. The finding codes, in one table:"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache as memoize
from functools import partial
from pathlib import Path

from tracer.api import Project
from tracer.attest import Signature, SignatureState
from tracer.config import Config
from tracer.evidence import evidence_folder, legacy_evidence_path
from tracer.gitio import is_shallow
from tracer.guard import UnsafePath, is_inside, read_bytes
from tracer.problems import Problem, Severity, TracerError
from tracer.render import Document, diff_base_missing, index_path, stale_document
from tracer.reports import BugReport, ReportSet, Status, code_lines
from tracer.scanner import FileScan
from tracer.sshsig import AllowedSigners
from tracer.status import BugStatus, ItemStatus, signoff_command

CODES: dict[str, str] = {
    "R001": "a report that cannot be read",
    "R002": "a report whose front matter is not valid YAML",
    "R003": "a report that breaks the schema or disagrees with its file name",
    "R004": "two reports with one ID",
    "T001": "a source file that cannot be parsed",
    "T002": "a source file that cannot be read or decoded",
    "C101": "a tag names a bug that has no report",
    "C102": "a report marked fixed or later whose bug has no tag in the code",
    "C103": "a tag whose ID does not match the ID pattern",
    "C201": "a generated document (or the index) that differs from what `tracer render` writes now",
    "C202": "a pre_fix_revision that is not a commit of this repository (a shallow clone makes it W502)",
    "C301": "checklist items whose evidence is stale or failed, or an evidence file that breaks its schema",
    "C302": "a status of verified or closed while items are open, failed or stale",
    "C303": "an evidence file that is not signed (checked with --allowed-signers or allowed_signers)",
    "C304": "an evidence file whose signature cannot be read or does not verify",
    "C305": "an evidence file signed by a key that is not in the allowed signers",
    "C306": "an evidence file signed by a key the allowed signers do not trust for its environment",
    "C307": (
        "a signed statement that does not match its evidence file: changed after signing, another file's, other code"
    ),
    "C308": "a line of the allowed signers file that ssh-keygen would skip",
    "C309": (
        "evidence of a test the project does not have (outside the test roots, or not defined in its file): it "
        "counts for nothing"
    ),
    "C401": "template placeholders left in a report (a warning while the bug is open or investigating)",
    "C402": "a relative link in a report or document that points nowhere",
    "W501": "a checklist item that no test verifies and no sign-off covers (an error with --strict)",
    "W502": "the diff base of a report is missing from this clone (a shallow clone?): diffs are kept as committed",
    "W503": "an evidence file in tracer 0.1's format, which is no longer read",
    "W504": "a manual sign-off in the report that is not pinned to the code (`tracer signoff` pins it)",
    "W505": "a linked test that ran none of its bug's tagged code, for an item not marked `kind: static`",
}
__doc__ = (__doc__ or "") + "\n" + "\n".join(f"    {code}  {text}" for code, text in CODES.items())

# Neither crosses a line: they run over a whole text (`markdown_facts`).
_PLACEHOLDER = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\bTODO\b|\bTBD\b|<(?:describe|fill|placeholder)[^>\n]*>", re.IGNORECASE
)
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:[^\S\n]+\"[^\"\n]*\")?\)")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    problems: tuple[Problem, ...]
    bugs: tuple[BugStatus, ...] = field(default=())
    nothing_to_check: bool = False
    signatures: tuple[Signature, ...] = ()  # each evidence file's, where allowed signers were given


_SIGNATURE_CODES = {
    SignatureState.UNSIGNED: "C303",
    SignatureState.BAD_SIGNATURE: "C304",
    SignatureState.UNKNOWN_KEY: "C305",
    SignatureState.NOT_TRUSTED_HERE: "C306",
    SignatureState.MISMATCH: "C307",
}


def check_project(project: Project, strict: bool = False, allowed_signers: Path | None = None) -> CheckResult:
    """Every finding about a project: its reports, scans, each bug's states (or the problem that
    kept them from being computed), the diff bases, the generated documents, and, with allowed
    signers (given, or `[tool.tracer] allowed_signers`), each evidence file's signature."""
    config, reports, scans = project.config, project.reports, project.scans
    text_facts = memoize(partial(_text_facts, config))  # a report is read for its placeholders and its links
    problems: list[Problem] = [*reports.problems, *project.scan_problems, *tag_problems(config, reports, scans)]
    bugs: list[BugStatus] = []
    missing: dict[str, str] = {}
    unknown = False
    for report, outcome in zip(sorted(reports.reports, key=lambda r: r.bug_id), project.all_bugs()):
        if isinstance(outcome, TracerError):
            problems.append(_as_problem(outcome, report.path, "C301"))
            continue
        bugs.append(outcome)
        problems += report_text_problems(config, outcome.report, text_facts)
        problems += evidence_problems(config, outcome, strict)
        revision = diff_base_missing(config, report, None)
        if revision:
            missing[report.bug_id] = revision
        if any(item.state is ItemStatus.UNKNOWN for item in outcome.items):
            unknown = True  # a file does not parse: its T001 is the finding, not every document it would change
            continue
        problems += _rendered(
            config,
            partial(project.documents, report.bug_id),
            f"run tracer render {report.bug_id}",
            report.path,
            "cannot render",
        )
    problems += _missing_base_problems(config, bugs, missing)
    if (index_path(config).exists() or reports.reports) and not unknown:
        shown = index_path(config).relative_to(config.root).as_posix()
        problems += _rendered(
            config, lambda: [project.index()], "run tracer render --all", shown, "cannot render the index"
        )
    problems += link_problems(config, text_facts)
    signers, signatures = project.signatures(allowed_signers)
    problems += signature_problems(signers, signatures)
    return CheckResult(tuple(sorted(set(problems))), tuple(bugs), project.is_empty, tuple(signatures))


def signature_problems(signers: AllowedSigners | None, signatures: list[Signature]) -> list[Problem]:
    """C303-C307 for each evidence file whose signature does not hold, C308 for each line of the
    allowed signers that ssh-keygen would skip. Nothing where no allowed signers were given."""
    if signers is None:
        return []
    problems = [
        Problem(signers.path, line, "C308", f"allowed signers line skipped: {why}") for line, why in signers.problems
    ]
    for signature in signatures:
        code = _SIGNATURE_CODES.get(signature.state)
        if code is not None:
            problems.append(
                Problem(
                    signature.path,
                    1,
                    code,
                    f"evidence of {signature.environment}: {signature.state}: {signature.reason}",
                    subject=f"signature:{signature.path}",
                )
            )
    return problems


def _missing_base_problems(config: Config, bugs: list[BugStatus], missing: dict[str, str]) -> list[Problem]:
    """C202 for a pre_fix_revision this repository does not have; W502 where it is a shallow clone."""
    shallow = bool(missing) and is_shallow(config.root)
    problems = []
    for bug in bugs:
        revision = missing.get(bug.report.bug_id)
        if revision and shallow:
            problems.append(
                Problem(
                    bug.report.path,
                    bug.report.line_of("pre_fix_revision"),
                    "W502",
                    f"revision {revision} is not in this shallow clone's history: the diffs are kept as committed",
                    Severity.WARNING,
                )
            )
        elif revision:
            problems.append(
                Problem(
                    bug.report.path,
                    bug.report.line_of("pre_fix_revision"),
                    "C202",
                    f"pre_fix_revision {revision} is not a commit of this repository",
                )
            )
    return problems


def _rendered(config: Config, render: Callable[[], list[Document]], hint: str, path: str, what: str) -> list[Problem]:
    """C201 for each document on disk that differs from what would be written now, or for what
    kept the documents from rendering."""
    try:
        documents = render()
    except TracerError as error:
        problem = _as_problem(error, path, "C201")
        return [Problem(problem.path, problem.line, "C201", f"{what}: {error.message}")]
    problems = [problem for document in documents for problem in document_problems(config, document, hint)]
    if len(problems) < 2:
        return problems
    # One change, one finding: a bug's document and its diffs file go stale together.
    first, *others = problems
    also = ", ".join(p.path for p in others)
    return [
        Problem(
            first.path, first.line, "C201", f"{first.message} (and {also})", detail="".join(p.detail for p in problems)
        )
    ]


def _as_problem(error: TracerError, path: str, code: str) -> Problem:
    where = Path(str(error.path)) if error.path is not None else Path(path)
    shown = where.as_posix() if not where.is_absolute() else str(where)
    return Problem(shown, error.line or 1, code, error.message)


def tag_problems(config: Config, reports: ReportSet, scans: list[FileScan]) -> list[Problem]:
    """C101 tags without reports (every place, not only the first), C102 fixed bugs without tags,
    C103 malformed tags."""
    problems = []
    tagged: set[str] = set()
    for scan in scans:
        for scope in scan.scopes:
            for change in scope.changes:
                for bug_id in change.bug_ids:
                    known = reports.find(bug_id)
                    if known is not None:
                        tagged.add(known.bug_id)
                    elif not reports.problems_of(bug_id):
                        problems.append(
                            Problem(
                                scan.path,
                                change.tag_line,
                                "C101",
                                f"{bug_id} is tagged here but has no bug report in {config.reports_dir}/",
                            )
                        )
        for malformed in scan.malformed:
            problems.append(
                Problem(
                    scan.path,
                    malformed.line,
                    "C103",
                    f"tag does not match the ID pattern {config.id_pattern}: {malformed.text.strip()}",
                )
            )
    unparsed = any(p.code == "T001" for scan in scans for p in scan.problems)
    for report in reports.reports:
        if report.status.done and report.bug_id not in tagged and not unparsed:  # its tags may lie in that file
            problems.append(
                Problem(
                    report.path,
                    report.line_of("status"),
                    "C102",
                    f"{report.bug_id} is {report.status} but no code is tagged with it",
                )
            )
    return problems


def evidence_problems(config: Config, bug: BugStatus, strict: bool) -> list[Problem]:
    report = bug.report
    problems = []
    legacy = legacy_evidence_path(config, report.bug_id)
    if legacy.is_file():
        problems.append(
            Problem(
                legacy.relative_to(config.root).as_posix(),
                1,
                "W503",
                "evidence in tracer 0.1's format is no longer read: delete it and rerun the tests",
                Severity.WARNING,
            )
        )
    for entry in report.checklist:
        if entry.manual is not None and entry.id not in bug.evidence.signoffs:
            command = signoff_command(report.bug_id, entry.id, entry.manual.by, entry.manual.reason)
            problems.append(
                Problem(
                    report.path,
                    entry.line,
                    "W504",
                    f"item {entry.id!r}: the sign-off by {entry.manual.by} is not pinned to the code, so it cannot go "
                    f"stale; the next test run pins it, or run {command}",
                    Severity.WARNING,
                )
            )
    for item in bug.items:
        line = next((i.line for i in report.checklist if i.id == item.id), 1)
        if item.state in (ItemStatus.STALE, ItemStatus.FAILED):  # UNKNOWN: the file's own T001 says why
            problems.append(
                Problem(
                    report.path,
                    line,
                    "C301",
                    f"item {item.id!r} is {item.state}: {item.detail}",
                    subject=f"{report.bug_id}/{item.id}",
                )
            )
        for run in item.ran_nothing:
            problems.append(
                Problem(
                    report.path,
                    line,
                    "W505",
                    f"item {item.id!r}: {run.test} ran none of {report.bug_id}'s tagged code, so its result says "
                    f"nothing of the fix "
                    "(a test of something else, or code run in a subprocess, which tracer does not observe); an "
                    "item checked "
                    "without running the code says `kind: static`",
                    Severity.WARNING,
                    subject=f"{report.bug_id}/{item.id}",
                )
            )
        if item.state is ItemStatus.OPEN:
            problems.append(
                Problem(
                    report.path,
                    line,
                    "W501",
                    f"item {item.id!r} is verified by no test and has no manual sign-off ({item.detail})",
                    Severity.ERROR if strict else Severity.WARNING,
                    subject=f"{report.bug_id}/{item.id}",
                )
            )
    folder = evidence_folder(config, report.bug_id).relative_to(config.root).as_posix()
    for ghost in bug.ghosts:
        problems.append(
            Problem(
                f"{folder}/{ghost.file}.json",
                1,
                "C309",
                f"item {ghost.item!r}: test {_shorter(ghost.test_id)!r} {ghost.reason}: its result counts for nothing",
            )
        )
    unfinished = [i.id for i in bug.items if not i.state.done]
    if report.status in (Status.VERIFIED, Status.CLOSED) and unfinished:
        problems.append(
            Problem(
                report.path,
                report.line_of("status"),
                "C302",
                f"status is {report.status} but {len(unfinished)} items are not verified: {', '.join(unfinished)}",
            )
        )
    return problems


def document_problems(config: Config, document: Document, hint: str) -> list[Problem]:
    """C201 where the file on disk is not what would be written now (or cannot be read)."""
    shown = document.path.relative_to(config.root).as_posix()
    try:
        drift = stale_document(document, shown, config.root)
    except TracerError as error:
        return [Problem(shown, 1, "C201", f"{error.message}; {hint}")]
    if drift is None:
        return []
    what = "is missing" if drift.missing else "differs from what tracer render writes now"
    return [Problem(shown, drift.first_line, "C201", f"{what}; {hint}", detail=drift.diff)]


def report_text_problems(config: Config, report: BugReport, text_facts: TextFacts | None = None) -> list[Problem]:
    """C401 for placeholders left in a report: warnings while the bug is open or investigated (its
    root cause may not be known yet), errors once it is fixed."""
    severity = Severity.ERROR if report.status.done else Severity.WARNING
    placeholders, _ = (text_facts or partial(_text_facts, config))(config.root / report.path)
    return [
        Problem(
            report.path, number, "C401", f"template placeholder left in the report: {_shorter(placeholder)}", severity
        )
        for number, placeholder in placeholders
    ]


Lines = list[tuple[int, str]]
TextFacts = Callable[[Path], tuple[Lines, Lines]]


def _text_facts(config: Config, path: Path) -> tuple[Lines, Lines]:
    """The placeholders and the relative link targets in a Markdown file's prose, by line."""
    try:  # a report, a document or the index: no larger than any of them may be
        data = read_bytes(
            config.root, path, max(config.max_report_bytes, 4 * config.max_output_chars), "max_report_bytes"
        )
        return markdown_facts(data.decode("utf-8"))
    except (UnsafePath, UnicodeDecodeError):
        return [], []  # the report's own reading says why


def markdown_facts(text: str) -> tuple[Lines, Lines]:
    """The first placeholder of each line and every relative link target, by line, outside fenced
    code. The patterns run over the whole text and only their matches are numbered: a gate that
    reads every report on every commit spends less so than scanning line by line, or than reading
    a cached result."""
    newlines: list[int] | None = None
    code: set[int] = set()
    if "```" in text or "~~~" in text:
        code = {index + 1 for index in code_lines([line.rstrip("\r") for line in text.split("\n")])}

    def line_of(offset: int) -> int:
        nonlocal newlines
        if newlines is None:
            newlines = [match.start() for match in re.finditer("\n", text)]
        return bisect.bisect_left(newlines, offset) + 1

    placeholders: dict[int, str] = {}
    lowered = text.lower()  # the pattern is slow to run over text that cannot hold it (most of it)
    maybe = "{" in text or "<" in text or "todo" in lowered or "tbd" in lowered
    for match in _PLACEHOLDER.finditer(text) if maybe else ():
        number = line_of(match.start())
        if number not in code:
            placeholders.setdefault(number, match.group(0))
    links = []
    for link in _LINK.finditer(text):
        target = link.group(1)
        if not (_SCHEME.match(target) or target.startswith("#")):  # a URL or an anchor in the same file
            number = line_of(link.start())
            if number not in code:
                links.append((number, target))
    return sorted(placeholders.items()), links


def link_problems(config: Config, text_facts: TextFacts | None = None) -> list[Problem]:
    """C402 for every relative link in a report or generated document that points nowhere (or
    out of the project)."""
    folder = config.path(config.reports_dir)
    problems = []
    paths = sorted(p for p in folder.glob("*.md") if p.is_file()) if folder.is_dir() else []
    broken = memoize(partial(_broken_link, config))  # every document links to the index, and most to their report
    for path in paths:
        relative = path.relative_to(config.root).as_posix()
        for number, target in (text_facts or partial(_text_facts, config))(path)[1]:
            why = broken(path.parent / target.split("#", 1)[0])
            if why:
                problems.append(Problem(relative, number, "C402", f"link {why}: {_shorter(target)}"))
    return problems


def _broken_link(config: Config, target: Path) -> str | None:
    """Why a relative link's target is no file of the project, or None."""
    try:
        if not target.exists():
            return "points nowhere"
    except (OSError, ValueError) as error:  # a name too long, a NUL
        return f"points nowhere ({getattr(error, 'strerror', None) or error})"
    if not is_inside(config.root, target):
        return "points out of the project"
    return None


def _shorter(text: str, limit: int = 200) -> str:
    """A value as a message quotes it: never more than `limit` characters of it."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"
