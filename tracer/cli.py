"""The command line: parses options, asks the Project, prints, and returns the exit code.

Every command returns an int; `main` maps each error class to its exit code in one table."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import tracer
from tracer.problems import ExitCode, Problem, Severity, TracerError, shown_path

if TYPE_CHECKING:
    from tracer.api import Project
    from tracer.testrun import Target

FORMATS = ("text", "json", "github", "sarif")
STATUSES = ("open", "investigating", "fixed", "verified", "closed")  # tracer.reports.Status, without importing yaml
EXIT_CODES = "Exit codes: 0 clean, 1 findings, 2 usage or input error."


def examples(*lines: str) -> str:
    """A command's epilog: its examples, kept as written (click's \\b), and the exit codes."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + "\n\n" + EXIT_CODES


def _project() -> Project:
    from tracer.api import Project
    from tracer.config import load_config

    return Project(load_config())


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples('tracer new "NaN gradients in training"', "tracer render BUG-20251110-002", "tracer check"),
)
@click.version_option(package_name=tracer.DISTRIBUTION, prog_name="tracer")
@click.pass_context
def cli(context: click.Context) -> None:
    """Bug reports, bug-ID tags in code and test evidence, rendered into code-change documents.

    Run `tracer COMMAND --help` for a command's options and an example."""
    from tracer.guard import resolving_once

    context.with_resource(resolving_once())


def echo(text: str = "", annotations: bool = False, **options: Any) -> None:
    """click.echo for text that holds data from the repository: control characters shown
    escaped (no escape sequence reaches the terminal), no line that starts a CI workflow command
    (unless `annotations`: the GitHub format's own, whose data is escaped), and the bytes of file
    names that are not UTF-8 shown as `\\xe9`, never a UnicodeEncodeError."""
    from tracer.escape import terminal

    click.echo(
        terminal(text, annotations).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), **options
    )


def echo_line(text: str, **options: Any) -> None:
    """One record, one line: a newline inside the data it shows is shown escaped, never a new line."""
    from tracer.escape import one_line

    echo(one_line(text), **options)


def echo_lines(lines: Iterable[str], **options: Any) -> None:
    """Records, one a line, written at once (a click.echo a line costs more than the rest of a
    warm `trace --all` of a large tree)."""
    from tracer.escape import one_line

    text = "\n".join(one_line(line) for line in lines)
    if text:
        echo(text, **options)


def _echo_problems(problems: Sequence[Problem]) -> None:
    echo_lines((str(problem) for problem in problems), err=True)


@cli.command(
    short_help="Write a bug's code-changes document and the index.",
    epilog=examples("tracer render BUG-20251110-002", "tracer render --all", "tracer render --all --check"),
)
@click.argument("bug_id", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Write here ('-' for stdout).")
@click.option(
    "--base", metavar="REV", help="Diff each function against this revision (default: the report's pre_fix_revision)."
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff if the file on disk is not current.")
@click.option("--all", "render_all", is_flag=True, help="Render every report's document and the index.")
def render(bug_id: str | None, output: str | None, base: str | None, check: bool, render_all: bool) -> int:
    """Render the code-changes document of BUG_ID (and keep the index current)."""
    from tracer.fileio import atomic_write, writable_target
    from tracer.guard import output_target, write_target
    from tracer.render import Document, stale_document

    project = _project()
    if base is not None:
        _resolvable(project.config.root, base)
    if render_all and (bug_id or output):
        raise click.UsageError("--all renders every document: give no BUG_ID and no --output")
    if not render_all and not bug_id:
        raise click.UsageError("give a BUG_ID or --all")
    if render_all and project.is_empty:
        echo(
            f"tracer: nothing to render: no bug reports in {project.config.reports_dir}/ and no tags in the code",
            err=True,
        )
        return ExitCode.CLEAN
    documents = project.rendered(None if render_all else bug_id, base)
    if output == "-":
        echo(documents[0].text, nl=False)
        return ExitCode.CLEAN
    root = project.config.root
    if output is not None:
        documents = [Document(writable_target(output_target(root, Path(output))), documents[0].text)]
    stale = False
    for document in documents:
        shown = shown_path(document.path)
        inside = output is None  # the project's own documents: read and written inside it only
        if check:
            drift = stale_document(document, shown, root if inside else None)
            if drift is not None:
                stale = True
                echo_line(f"{shown}: out of date; run tracer render", err=True)
                echo(drift.diff, nl=False)
        elif stale_document(document, shown, root if inside else None) is not None:
            atomic_write(write_target(root, document.path) if inside else document.path, document.text)
            echo_line(f"wrote {shown}")
        else:
            echo_line(f"{shown} is up to date")
    return ExitCode.FINDINGS if stale else ExitCode.CLEAN


@cli.command(
    short_help="Print where a bug lives in the code.",
    epilog=examples("tracer trace BUG-20251110-002", "tracer trace --all --format json"),
)
@click.argument("bug_id", required=False)
@click.option("--all", "every", is_flag=True, help="Every tag of every ID, orphans included.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def trace(bug_id: str | None, every: bool, fmt: str) -> int:
    """Print where BUG_ID lives in the code, with or without a report for it."""
    from tracer.escape import json_text
    from tracer.formats import trace_as_dict

    if bool(bug_id) == every:
        raise click.UsageError("give a BUG_ID or --all")
    project = _project()
    _echo_problems(project.scan_problems)
    if every:
        traces = [trace_as_dict(tags.bug_id, tags.scopes) for tags in project.all_tags]
    else:
        traces = [trace_as_dict(bug_id or "", project.tagged(bug_id or ""))]
    if fmt == "json":
        echo(json_text(traces if every else traces[0], indent=2))
    else:
        echo_lines(_trace_lines(traces, every))
    found = any(data["functions"] for data in traces)
    if not found:
        echo("no code is tagged" + (f" with {bug_id}{_nearest_ids(project, bug_id)}" if bug_id else ""), err=True)
    return ExitCode.CLEAN if found else ExitCode.FINDINGS


def _trace_lines(traces: list[dict[str, Any]], every: bool) -> Iterator[str]:
    indent = "  " if every else ""
    for data in traces:
        if every:
            yield f"{data['bug_id']}:"
        for function in data["functions"]:
            yield (
                f"{indent}{function['path']}:{function['start_line']}-{function['end_line']}: "
                f"{function['kind']} {function['qualname']}"
            )
            for change in function["changes"]:
                yield f"{indent}  {change['start_line']}-{change['end_line']} {change['kind']}: {change['text']}"


def _nearest_ids(project: Project, bug_id: str) -> str:
    """ "; did you mean X?" from the tagged IDs and the reports' (a report that cannot be read
    is no suggestion), or ""."""
    import difflib

    known = set(project.tagged_ids())
    with contextlib.suppress(TracerError):
        known |= {report.bug_id for report in project.reports.reports}
    close = difflib.get_close_matches(bug_id.upper(), sorted(known), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


@cli.command(
    "list",
    short_help="List the bug reports.",
    epilog=examples("tracer list", "tracer list --status open --status investigating --format json"),
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Only reports with this status (repeatable).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_reports(statuses: tuple[str, ...], fmt: str) -> int:
    """List the bug reports."""
    from tracer.escape import json_text
    from tracer.formats import report_as_dict

    project = _project()
    reports = project.reports
    _echo_problems(reports.problems)
    wanted = {status.lower() for status in statuses}
    rows = sorted((r for r in reports.reports if not wanted or r.status in wanted), key=lambda r: r.bug_id)
    if not reports.reports and not reports.problems:
        echo(f'tracer: no bug reports in {project.config.reports_dir}/; `tracer new "title"` writes one', err=True)
    if fmt == "json":
        echo(json_text([report_as_dict(r) for r in rows], indent=2))
    else:
        echo_lines(f"{r.bug_id}  {r.status:<13} {r.severity:<8}  {r.title}" for r in rows)
    return ExitCode.FINDINGS if reports.problems else ExitCode.CLEAN


@cli.command(
    short_help="Run a bug's linked tests before and after the fix.",
    epilog=examples(
        "tracer prove BUG-20251110-002",
        "tracer prove BUG-20251110-002 --base HEAD~3 --repeat 5",
        "tracer prove BUG-20251110-002 --changes --format json",
    ),
)
@click.argument("bug_id")
@click.option(
    "--base",
    metavar="REV",
    help="Take the pre-fix code from this revision, even one outside HEAD's history "
    "(default: the report's pre_fix_revision, which must be an ancestor of HEAD).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Run each side this many times; a test whose outcome changes is flaky, never proven.",
)
@click.option(
    "--changes",
    is_flag=True,
    help="Put back each change block of the fix alone and report which linked tests catch it.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Time limit of each pytest run (with --changes, by default 10 times the run on the current code, "
    "at least 120 s).",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="With --changes: blocks run at once (default: the cores)."
)
def prove(
    bug_id: str, base: str | None, repeat: int, changes: bool, fmt: str, timeout: float | None, jobs: int | None
) -> int:
    """Run BUG_ID's linked tests before and after the fix: a proven test fails before, passes after.
    With --changes: for each change block of the fix, the linked tests that fail without it."""
    project = _project()
    target = project.prove_target(bug_id, base, allow_missing=changes)
    if target.explicit and target.commit:
        what = "pieces of the code" if changes else "the code"
        echo(
            f"tracer: --base {base}: running the linked tests on {what} of commit {target.commit} ({target.subject})",
            err=True,
        )
    if changes:
        return _prove_changes(project, bug_id, target, fmt, timeout, jobs)
    from tracer.escape import json_text
    from tracer.evidence import Verdict

    result = project.prove(bug_id, target, repeat, timeout)
    if not any(run.outcomes for run in result.before):
        before = result.before[0]
        echo(
            f"tracer: no linked test ran on the old code (pytest exit code {before.exit_code}):\n{before.tail()}",
            err=True,
        )
    failing_after = any(v is Verdict.FAILS_AFTER for tests in result.proof.items.values() for v in tests.values())
    if fmt == "json":
        echo(
            json_text(
                {
                    "revision": result.proof.revision,
                    "repeat": repeat,
                    "environment": result.environment.as_dict,
                    "items": result.proof.items,
                },
                indent=2,
                sort_keys=True,
            )
        )
        return ExitCode.FINDINGS if failing_after else ExitCode.CLEAN
    echo(
        f"{bug_id}: linked tests on {result.proof.revision[:12]} (before) and on the work tree (after), "
        f"{repeat} run{'s' if repeat > 1 else ''} each, on {result.environment.label}"
    )
    for item_id, tests in result.proof.items.items():
        for test_id, verdict in tests.items():
            echo_line(f"  {item_id:<28} {verdict:<18} {test_id}")
    echo(f"the proof is kept with the evidence; `tracer render {bug_id}` shows it in the document")
    return ExitCode.FINDINGS if failing_after else ExitCode.CLEAN


def _prove_changes(
    project: Project, bug_id: str, target: Target, fmt: str, timeout: float | None, jobs: int | None
) -> int:
    from tracer.escape import json_text

    result = project.prove_changes(bug_id, target, timeout, jobs)
    blocks = result.proof.results
    if result.note:
        echo_line(f"tracer: {result.note}", err=True)
    if fmt == "json":
        echo(json_text([block.as_dict() for block in blocks], indent=2))
        return ExitCode.FINDINGS if any(block.status.finding for block in blocks) else ExitCode.CLEAN
    from tracer.status import short_tests

    echo(
        f"{bug_id}: {len(blocks)} change block{'s' if len(blocks) != 1 else ''} against {target.shown}, each put back "
        f"alone, the linked tests run once for each (time limit {result.timeout:.0f} s), on {result.environment.label}"
    )
    for block in blocks:
        where = f"{block.path}:{block.start_line}-{block.end_line}"
        echo_line(f"  {where:<36} {block.status:<15} {block.qualname}")
        if block.caught_by:
            echo_line(f"      caught by {short_tests(list(block.caught_by)).replace('`', '')}")
        if block.message:
            echo_line(f"      {block.message}")
    echo(f"the findings are kept with the evidence; `tracer render {bug_id}` shows them in the document")
    return ExitCode.FINDINGS if any(block.status.finding for block in blocks) else ExitCode.CLEAN


@cli.command(
    short_help="Check that reports, tags, documents and evidence agree.",
    epilog=examples(
        "tracer check",
        "tracer check --diff",
        "tracer check --format sarif --output-file tracer.sarif",
        "tracer check --allowed-signers .github/allowed_signers",
    ),
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--diff", "show_diff", is_flag=True, help="Show how each stale generated document would change.")
@click.option("--strict", is_flag=True, help="Items no test verifies are errors, not warnings.")
@click.option(
    "--output-file", type=click.Path(dir_okay=False, allow_dash=True), help="Write the findings here instead of stdout."
)
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Every evidence file must be signed by a key this ssh allowed_signers file trusts for its environment "
    "(default: [tool.tracer] allowed_signers).",
)
@click.option("--force", is_flag=True, help="Replace an --output-file that is not an output of tracer check.")
def check(
    fmt: str, show_diff: bool, strict: bool, output_file: str | None, allowed_signers: str | None, force: bool
) -> int:
    """Check that reports, tags, generated documents and evidence agree. Writes nothing but --output-file."""
    from tracer import formats
    from tracer.check import check_project
    from tracer.fileio import atomic_write

    project = _project()
    target = _output_file(project.config.root, output_file, force) if output_file and output_file != "-" else None
    result = check_project(project, strict=strict, allowed_signers=Path(allowed_signers) if allowed_signers else None)
    config = project.config
    problems = result.problems
    if fmt == "json":
        text = formats.as_json(config, result, show_diff)
    elif fmt == "github":
        text = formats.as_github(config, problems)
    elif fmt == "sarif":
        text = formats.as_sarif(config, problems, tracer.__version__)
    else:
        text = formats.as_text(problems, show_diff)
    if target is not None:
        atomic_write(target, text)
    else:
        echo(text, annotations=fmt == "github", nl=False)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if fmt == "text" or (output_file and output_file != "-"):
        warnings = len(problems) - len(errors)
        plural = {True: "s", False: ""}
        summary = (
            f"tracer check: {len(errors)} error{plural[len(errors) != 1]}, {warnings} warning{plural[warnings != 1]}"
        )
        if result.nothing_to_check:
            summary = (
                f"tracer check: nothing to check here: no bug reports in {config.reports_dir}/ and no tags in the code"
            )
        echo(summary, err=True)
    return ExitCode.FINDINGS if errors else ExitCode.CLEAN


@cli.command(
    short_help="The linked tests whose executed code changed since a revision.",
    epilog=examples(
        "tracer affected", "tracer affected --base HEAD~1 --format json", "python -m pytest --tracer-affected HEAD~1"
    ),
)
@click.option(
    "--base", metavar="REV", default="HEAD", show_default=True, help="Compare the work tree with this revision."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def affected(base: str, fmt: str) -> int:
    """The linked tests whose executed tagged code changed since REV, one test id a line: those
    that ran a changed scope, and those with no recorded execution. `pytest --tracer-affected
    REV` runs exactly these."""
    from tracer.affected import affected_tests
    from tracer.formats import affected_json

    result = affected_tests(_project().config, base)
    if fmt == "json":
        echo(affected_json(result), nl=False)
    else:
        for test in result.affected:
            echo_line(test.test_id)
    return ExitCode.CLEAN


@cli.command(
    short_help="Write a new bug report with the next free ID.",
    epilog=examples('tracer new "NaN gradients in training" --severity High'),
)
@click.argument("title")
@click.option(
    "--severity", type=click.Choice(["Critical", "High", "Medium", "Low"]), default="Medium", show_default=True
)
@click.option("--author", default=None, help="Default: git's user.name.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Default: today.")
def new(title: str, severity: str, author: str | None, day: dt.datetime | None) -> int:
    """Write a new bug report with the next free ID for today, and its document and the index."""
    from tracer.config import load_config
    from tracer.gitio import GitError, git
    from tracer.new import new_report

    config = load_config()
    if not config.anchored:
        raise TracerError("no pyproject.toml and no git repository here or above: run tracer new inside your project")
    if author is None:
        try:
            author = git(config.root, "config", "user.name").strip() or "unknown"
        except GitError:
            author = "unknown"
    bug_id, path = new_report(config, title, severity, author, day.date() if day else dt.date.today())
    echo_line(f"wrote {shown_path(path)}")
    from tracer.api import Project
    from tracer.fileio import atomic_write
    from tracer.guard import write_target
    from tracer.render import stale_document

    for document in Project(config).rendered(bug_id):
        if stale_document(document, shown_path(document.path), config.root) is not None:
            atomic_write(write_target(config.root, document.path), document.text)
            echo_line(f"wrote {shown_path(document.path)}")
    echo_line(
        f"next: fill in the report, tag the changed code with `# {bug_id}: what and why`, link tests with "
        f'@pytest.mark.verifies("{bug_id}", "reproduce"), then run tracer render {bug_id}'
    )
    return ExitCode.CLEAN


@cli.command(
    short_help="Sign off a checklist item by hand, pinned to the code.",
    epilog=examples('tracer signoff BUG-20251110-002 reviewed --by Ada --reason "read the diff"'),
)
@click.argument("bug_id")
@click.argument("item_id")
@click.option("--by", required=True, help="Who signs off.")
@click.option("--reason", required=True, help="Why no test can verify the item, and what was checked.")
def signoff(bug_id: str, item_id: str, by: str, reason: str) -> int:
    """Record a manual sign-off of ITEM_ID, pinned to the bug's code as it is now: it goes stale
    when that code changes."""
    if not by.strip() or not reason.strip():
        raise click.UsageError("--by and --reason must say something")
    report = _project().sign_off(bug_id, item_id, by.strip(), reason.strip())
    echo_line(f"{report.bug_id} {item_id}: signed off by {by.strip()} on the code as it is now")
    return ExitCode.CLEAN


@cli.group(short_help="Evidence from other machines.")
def evidence() -> None:
    """Evidence from other machines."""


@evidence.command(
    "merge",
    short_help="Add evidence files written elsewhere.",
    epilog=examples("tracer evidence merge artifacts/cpython3.12-linux-device-cuda.json"),
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def evidence_merge(files: tuple[str, ...]) -> int:
    """Add evidence files written elsewhere (a GPU runner, another OS): each replaces the project's
    file of the same bug and environment; the others stay."""
    from tracer.attest import carried_attestations, place_attestations
    from tracer.evidence import merge_files

    project = _project()
    reports = {r.bug_id.lower(): r for r in project.reports.reports}
    sources = [Path(f) for f in files]
    carried = carried_attestations(sources)  # a signed file travels with its signature
    written = merge_files(project.config, sources, reports)
    notes = place_attestations(project.config, carried, zip(sources, written))
    for source, path in zip(sources, written):
        echo(f"wrote {shown_path(path)}" + (" and its signature" if carried.get(source) and path not in notes else ""))
    for path, note in notes.items():
        echo(f"tracer: {shown_path(path)}: {note}", err=True)
    return ExitCode.FINDINGS if notes else ExitCode.CLEAN


@evidence.command(
    "attest",
    short_help="Sign evidence files with an SSH key.",
    epilog=examples(
        "tracer evidence attest --key ~/.ssh/runner_key",
        "TRACER_SIGN_KEY=runner_key tracer evidence attest docs/bug_reports/evidence/*/cpython3.12-linux.json",
    ),
)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--key",
    type=click.Path(dir_okay=False),
    envvar="TRACER_SIGN_KEY",
    show_envvar=True,
    help="The SSH key to sign with (one with a passphrase must be held by ssh-agent: tracer never prompts).",
)
def evidence_attest(files: tuple[str, ...], key: str | None) -> int:
    """Sign evidence files: an in-toto statement beside each, signed with ssh-keygen. Without FILES,
    every evidence file whose signature no longer holds; another signer's good signature is kept."""
    from tracer.attest import Action, Signer, attest_files, project_signers
    from tracer.evidence import evidence_files

    if not key:
        raise click.UsageError("give --key PATH or set TRACER_SIGN_KEY")
    project = _project()
    config = project.config
    signer = Signer.of(Path(key))
    paths = [Path(f) for f in files] or [p for r in project.reports.reports for p in evidence_files(config, r.bug_id)]
    if not paths:
        echo("tracer: no evidence files to sign: run the linked tests first", err=True)
    outcomes = attest_files(config, paths, signer, project_signers(config), keep_other_signers=not files)
    for outcome in outcomes:
        shown = shown_path(outcome.path)
        if outcome.action is Action.SIGNED:
            echo(f"signed {shown} with key {signer.fingerprint}")
        elif outcome.action is Action.UNCHANGED:
            echo(f"{shown}: its signature holds, nothing written")
        elif outcome.action is Action.SKIPPED:
            echo(f"tracer: {shown}: not signed: {outcome.reason}", err=True)
        else:
            echo(f"tracer: {outcome.reason}", err=True)
    if any(o.action is Action.REFUSED for o in outcomes):
        return ExitCode.INPUT_ERROR
    return ExitCode.FINDINGS if any(o.action is Action.SKIPPED for o in outcomes) else ExitCode.CLEAN


@evidence.command(
    "verify",
    short_help="Who signed each evidence file.",
    epilog=examples("tracer evidence verify --allowed-signers .github/allowed_signers --format json"),
)
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The ssh allowed_signers file (default: [tool.tracer] allowed_signers).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def evidence_verify(allowed_signers: str | None, fmt: str) -> int:
    """Who signed each evidence file, and whether the signature holds (exit 1 where one does not)."""
    from tracer.attest import SignatureState
    from tracer.escape import json_text

    project = _project()
    signers, signatures = project.signatures(Path(allowed_signers) if allowed_signers else None)
    if signers is None:
        raise click.UsageError("give --allowed-signers FILE or set allowed_signers in [tool.tracer]")
    unread = [bug for bug in project.all_bugs() if isinstance(bug, TracerError)]
    for error in unread:
        echo(f"tracer: {error}", err=True)
    if fmt == "json":
        echo(json_text([s.as_dict for s in signatures], indent=2))
    else:
        for line, why in signers.problems:
            echo(f"{signers.path}:{line}: allowed signers line skipped: {why}", err=True)
        for signature in signatures:
            echo(f"{signature.path}: {signature.environment}: {signature.sentence}")
    bad = [s for s in signatures if s.state is not SignatureState.VERIFIED]
    return ExitCode.FINDINGS if bad or signers.problems or unread else ExitCode.CLEAN


@evidence.command(
    "statement",
    short_help="Print an evidence file's in-toto statement, unsigned.",
    epilog=examples(
        "tracer evidence statement docs/bug_reports/evidence/bug-20251110-002/cpython3.12-linux.json --predicate"
    ),
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--predicate", "predicate_only", is_flag=True, help="Only the predicate (for actions/attest's predicate-path)."
)
def evidence_statement(file: str, predicate_only: bool) -> int:
    """Print the in-toto statement `attest` would sign for FILE, unsigned: for other signers,
    such as GitHub's artifact attestations (Sigstore)."""
    from tracer.attest import statement_bytes, statement_for_file

    statement = statement_for_file(_project().config, Path(file))
    echo(statement_bytes(statement["predicate"] if predicate_only else statement).decode("utf-8"), nl=False)
    return ExitCode.CLEAN


@evidence.command(
    "import-junit",
    short_help="Record outcomes from JUnit XML of any test runner.",
    epilog=examples("tracer evidence import-junit junit.xml -e python=3.12 -e runner=bazel"),
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-e",
    "--environment",
    "facts",
    multiple=True,
    required=True,
    metavar="KEY=VALUE",
    help="A fact of the environment the tests ran in, such as python=3.12 or runner=bazel (repeatable).",
)
def evidence_import_junit(files: tuple[str, ...], facts: tuple[str, ...]) -> int:
    """Record the outcomes in JUnit XML FILES (pytest --junitxml, unittest-xml-reporting, Bazel)
    of test cases that carry a `verifies` property (BUG-ID:item) or match [tool.tracer.verifies],
    as evidence of the given environment. One bad file and nothing is written."""
    environment: dict[str, str] = {}
    for fact in facts:
        key, equals, value = fact.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise click.BadParameter(f"{fact!r}: write KEY=VALUE, such as python=3.12", param_hint="--environment")
        environment[key.strip()] = value.strip()
    project = _project()
    read, problems, written = project.import_junit([(Path(f), f) for f in files], environment)
    _echo_problems(problems)
    if problems:
        echo(
            f"tracer: nothing imported: {len(problems)} finding{'s' if len(problems) != 1 else ''} in the JUnit files",
            err=True,
        )
        return ExitCode.INPUT_ERROR
    if not read.results:
        echo(
            f"tracer: none of {read.cases} test cases links to a checklist item (a verifies property, or "
            f"[tool.tracer.verifies])",
            err=True,
        )
        return ExitCode.FINDINGS
    echo(f"recorded {len(read.results)} results of {read.cases} test cases for {', '.join(written)} from JUnit")
    return ExitCode.CLEAN


@cli.command(
    short_help="Write a static HTML site of every bug.", epilog=examples("tracer site", "tracer site -o public")
)
@click.option(
    "-o", "--output", type=click.Path(), help="Write the site into this folder (default: the cache folder's site/)."
)
@click.option("--force", is_flag=True, help="Replace files in the folder that tracer did not write.")
def site(output: str | None, force: bool) -> int:
    """Write a static HTML site: every bug and its report, their changed code and checklists, the
    traceability matrix and every tag by file, with a search. Opens from file:// with no server."""
    project = _project()
    if project.is_empty:
        echo(
            f"tracer: nothing to publish: no bug reports in {project.config.reports_dir}/ and no tags in the code",
            err=True,
        )
        return ExitCode.CLEAN
    _echo_problems(project.scan_problems)
    result = project.site(Path(output) if output is not None else None, force)
    changed = f"wrote {len(result.written)} of {len(result.pages)} files" + (
        f", removed {len(result.removed)}" if result.removed else ""
    )
    echo_line(f"{changed}; open {shown_path(result.index)}")
    return ExitCode.CLEAN


def _output_file(root: Path, output_file: str, force: bool) -> Path:
    """Where `--output-file` writes: where the user points, never through a symlink inside the
    project, and never over a file that is not an output of tracer check unless `--force`."""
    from tracer.fileio import writable_target
    from tracer.formats import is_check_output
    from tracer.guard import UnsafePath, output_target, read_named

    target = writable_target(output_target(root, Path(output_file)))
    if target.exists() and not force:
        try:
            ours = is_check_output(read_named(root, target, 64_000_000, "a limit", "file"))
        except UnsafePath:
            ours = False
        if not ours:
            raise TracerError(
                "exists and is not an output of tracer check: not replaced (give --force to replace it)", output_file
            )
    return target


def _resolvable(root: Path, revision: str) -> None:
    from tracer.gitio import GitError, resolve_revision

    try:
        resolve_revision(root, revision)
    except GitError:
        raise click.BadParameter(f"{revision} is not a commit of this repository", param_hint="--base") from None


def _os_error(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return _one_line(f"tracer: {where}{error.strerror or error}")


def _one_line(text: str) -> str:
    from tracer.escape import one_line

    return one_line(text)


# Each error class and its exit code, in one place (cog's Cog.main): the first match wins.
ERRORS: list[tuple[type[BaseException], int, Callable[[Any], str | None]]] = [
    (TracerError, ExitCode.INPUT_ERROR, lambda e: _one_line(f"tracer: {e}")),
    (click.ClickException, ExitCode.INPUT_ERROR, lambda e: (e.show(), None)[1]),
    (click.exceptions.Abort, ExitCode.INPUT_ERROR, lambda e: "Aborted."),
    (KeyboardInterrupt, 130, lambda e: "Interrupted."),
    (OSError, ExitCode.INPUT_ERROR, _os_error),  # a file that cannot be read or written: say which, no traceback
]


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the exit code instead of exiting, for tests and for `python -m`."""
    try:
        code = cli.main(args=argv, prog_name="tracer", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except BaseException as error:  # noqa: BLE001 - mapped by the table; anything else is re-raised
        for kind, exit_code, message in ERRORS:
            if isinstance(error, kind):
                shown = message(error)
                if shown:
                    echo(shown, err=True)
                return int(getattr(error, "exit_code", exit_code) if kind is click.ClickException else exit_code)
        raise
    return int(code or 0)


def run() -> None:
    """The `tracer` console script."""
    sys.exit(main())
