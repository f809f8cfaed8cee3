"""The command line: parses options, calls tracer.api, prints, and sets the exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tracer import __version__
from tracer.problems import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT_ERROR, TracerError


class Failure(click.ClickException):
    """A TracerError shown as `path:line: message` with exit code 2."""

    exit_code = EXIT_INPUT_ERROR

    def show(self, file=None) -> None:
        click.echo(f"tracer: {self.message}", err=True)


def _project():
    from tracer.api import Project
    from tracer.config import load_config

    return Project(load_config())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracer")
def cli() -> None:
    """Bug reports, bug-ID tags in code and test evidence, rendered into code-change documents."""


@cli.command()
@click.argument("bug_id", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="Write here ('-' for stdout).")
@click.option("--base", metavar="REV", help="Diff each function against this revision (default: the report's pre_fix_revision).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a diff if the file on disk is not current.")
@click.option("--all", "render_all", is_flag=True, help="Render every report's document and the index.")
def render(bug_id: str | None, output: str | None, base: str | None, check: bool, render_all: bool) -> None:
    """Render the code-changes document of BUG_ID."""
    from tracer.api import render_all_documents, render_document, unified_diff
    from tracer.fileio import atomic_write

    try:
        project = _project()
        if render_all and (bug_id or output):
            raise click.UsageError("--all renders every document: give no BUG_ID and no --output")
        if render_all:
            documents = render_all_documents(project, base)
        elif bug_id:
            documents = [render_document(project, bug_id, base)]
        else:
            raise click.UsageError("give a BUG_ID or --all")
        if output is not None:
            if output == "-":
                click.echo(documents[0][1], nl=False)
                return
            documents = [(Path(output).resolve(), documents[0][1])]
        stale = False
        for path, text in documents:
            shown = _shown(path, project.config.root)
            if check:
                old = path.read_text(encoding="utf-8") if path.exists() else ""
                if old != text:
                    stale = True
                    click.echo(f"{shown}: out of date; run tracer render", err=True)
                    click.echo(unified_diff(old, text, shown), nl=False)
            else:
                atomic_write(path, text)
                click.echo(f"wrote {shown}")
        if stale:
            sys.exit(EXIT_FINDINGS)
    except TracerError as error:
        raise Failure(str(error)) from None


@cli.command()
@click.argument("bug_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def trace(bug_id: str, fmt: str) -> None:
    """Print where BUG_ID lives in the code, with or without a report for it."""
    from tracer.api import trace_as_dict

    try:
        project = _project()
    except TracerError as error:
        raise Failure(str(error)) from None
    tagged = project.tagged(bug_id)
    for problem in project.scan_problems:
        click.echo(str(problem), err=True)
    if fmt == "json":
        click.echo(json.dumps(trace_as_dict(bug_id, tagged), indent=2))
    else:
        for item in tagged:
            scope = item.scope
            click.echo(f"{item.path}:{scope.start_line}-{scope.end_line}: {scope.kind} {scope.qualname}")
            for change in item.changes:
                click.echo(f"  {change.start_line}-{change.end_line} {change.kind}: {change.text}")
        if not tagged:
            click.echo(f"no code is tagged with {bug_id}", err=True)
    sys.exit(EXIT_CLEAN if tagged else EXIT_FINDINGS)


@cli.command("list")
@click.option("--status", "statuses", multiple=True, help="Only reports with this status (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_reports(statuses: tuple[str, ...], fmt: str) -> None:
    """List the bug reports."""
    from tracer.config import load_config
    from tracer.reports import load_reports

    try:
        reports = load_reports(load_config())
    except TracerError as error:
        raise Failure(str(error)) from None
    for problem in reports.problems:
        click.echo(str(problem), err=True)
    rows = sorted((r for r in reports.reports if not statuses or r.status in statuses), key=lambda r: r.bug_id)
    if fmt == "json":
        data = [
            {"bug_id": r.bug_id, "title": r.title, "severity": r.severity, "status": r.status,
             "created": r.created.isoformat(), "path": r.path, "items": len(r.checklist)}
            for r in rows
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        for r in rows:
            click.echo(f"{r.bug_id}  {r.status:<13} {r.severity:<8}  {r.title}")
    sys.exit(EXIT_FINDINGS if reports.problems else EXIT_CLEAN)


@cli.command()
@click.argument("bug_id")
@click.option("--base", metavar="REV", help="The revision before the fix (default: the report's pre_fix_revision).")
def prove(bug_id: str, base: str | None) -> None:
    """Run BUG_ID's linked tests before and after the fix: a proven test fails before, passes after."""
    from tracer.api import prove_bug

    try:
        proof, before = prove_bug(_project(), bug_id, base)
    except TracerError as error:
        raise Failure(str(error)) from None
    if not before.outcomes:
        tail = "\n".join(before.output.strip().splitlines()[-15:])
        click.echo(f"tracer: no linked test ran on the old code (pytest exit code {before.exit_code}):\n{tail}", err=True)
    failing_after = False
    click.echo(f"{bug_id}: linked tests on {proof['revision'][:12]} (before) and on the work tree (after)")
    for item_id, tests in proof["items"].items():
        for test_id, verdict in tests.items():
            failing_after |= verdict == "fails after"
            click.echo(f"  {item_id:<28} {verdict:<18} {test_id}")
    sys.exit(EXIT_FINDINGS if failing_after else EXIT_CLEAN)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--diff", "show_diff", is_flag=True, help="Show how each stale generated document would change.")
@click.option("--strict", is_flag=True, help="Items no test verifies are errors, not warnings.")
def check(fmt: str, show_diff: bool, strict: bool) -> None:
    """Check that reports, tags, generated documents and evidence agree. Writes nothing."""
    from tracer.check import check_project

    try:
        result = check_project(_project(), strict=strict)
    except TracerError as error:
        raise Failure(str(error)) from None
    problems = result.problems
    if fmt == "json":
        keys = ("path", "line", "code", "severity", "message")
        click.echo(json.dumps([{k: getattr(p, k) for k in keys} for p in problems], indent=2))
    elif fmt == "github":
        for p in problems:
            click.echo(f"::{p.severity} file={p.path},line={p.line},title={p.code}::{p.message}")
    else:
        for p in problems:
            click.echo(f"{p}" + (" (warning)" if p.severity == "warning" else ""))
    if show_diff:
        for diff in result.diffs:
            click.echo(diff, nl=False)
    errors = [p for p in problems if p.severity == "error"]
    if fmt == "text":
        warnings = len(problems) - len(errors)
        click.echo(f"tracer check: {len(errors)} error{'s' if len(errors) != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}", err=True)
    sys.exit(EXIT_FINDINGS if errors else EXIT_CLEAN)


@cli.command()
@click.argument("title")
@click.option("--severity", type=click.Choice(["Critical", "High", "Medium", "Low"]), default="Medium", show_default=True)
@click.option("--author", default=None, help="Default: git's user.name.")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Default: today.")
def new(title: str, severity: str, author: str | None, day) -> None:
    """Write a new bug report with the next free ID for today."""
    import datetime as dt

    from tracer.config import load_config
    from tracer.gitio import GitError, git
    from tracer.new import new_report

    try:
        config = load_config()
        if author is None:
            try:
                author = git(config.root, "config", "user.name").strip() or "unknown"
            except GitError:
                author = "unknown"
        path = new_report(config, title, severity, author, day.date() if day else dt.date.today())
    except TracerError as error:
        raise Failure(str(error)) from None
    click.echo(f"wrote {_shown(path, config.root)}")


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the exit code instead of exiting, for tests and for `python -m`."""
    try:
        cli.main(args=argv, prog_name="tracer", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_INPUT_ERROR
    except OSError as error:  # a file that cannot be read or written: say which, no traceback
        where = f"{error.filename}: " if error.filename else ""
        click.echo(f"tracer: {where}{error.strerror or error}", err=True)
        return EXIT_INPUT_ERROR
    except SystemExit as done:
        return int(done.code or 0)
    return EXIT_CLEAN


def run() -> None:
    """The `tracer` console script."""
    sys.exit(main())
