"""The code-changes document: the report, the tagged code and the evidence, through Jinja2."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tracer.config import Config
from tracer.diffs import ScopeDiff, diff_scopes, scope_source
from tracer.reports import BugReport
from tracer.scanner import TaggedScope

TEMPLATE = "code_changes.md.j2"
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ItemState:
    """A checklist item as the document shows it."""

    id: str
    group: str
    text: str
    state: str  # "verified", "failed", "open", "manual" or "stale"
    detail: str
    proof: str = ""  # what `tracer prove` found for the item's tests, if it ran


def output_path(config: Config, report: BugReport) -> Path:
    report_path = config.root / report.path
    return report_path.with_name(report_path.stem + config.output_suffix)


def template_environment(config: Config):
    """The project's templates folder first, then the built-in templates (also as `tracer/NAME`,
    so that a project template can extend the built-in one it overrides)."""
    import jinja2

    builtin = jinja2.FileSystemLoader(BUILTIN_TEMPLATES)
    loaders: list[jinja2.BaseLoader] = []
    project_templates = config.path(config.templates_dir)
    if project_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(project_templates))
    loaders += [builtin, jinja2.PrefixLoader({"tracer": builtin})]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def read_lines(config: Config, paths: set[str]) -> dict[str, list[str]]:
    return {path: (config.root / path).read_text(encoding="utf-8").splitlines() for path in sorted(paths)}


def render_code_changes(
    config: Config,
    report: BugReport,
    tagged: list[TaggedScope],
    items: list[ItemState],
    status_line: str,
    base: str | None = None,
    extra: dict | None = None,
) -> str:
    """The document's text; the same inputs give the same bytes."""
    current = read_lines(config, {t.path for t in tagged})
    revision = base or report.pre_fix_revision
    if revision:
        diffs = diff_scopes(config.root, revision, tagged, current)
    else:
        diffs = {}
    out = output_path(config, report)
    functions = []
    for index, item in enumerate(tagged, start=1):
        scope = item.scope
        diff = diffs.get((item.path, scope.qualname), ScopeDiff("unavailable", note="the report names no pre-fix revision"))
        functions.append(
            {
                "number": index,
                "path": item.path,
                "qualname": scope.qualname,
                "kind": scope.kind,
                "signature": scope.signature,
                "start_line": scope.start_line,
                "end_line": scope.end_line,
                "change_type": {"changed": "modified", "new": "added", "unchanged": "unchanged", "module": "module-level"}.get(
                    diff.status, "unknown"
                ),
                "changes": item.changes,
                "source": _shown_source(current[item.path], item),
                "diff": diff,
            }
        )
    context = {
        "report": report,
        "report_link": os.path.relpath(config.root / report.path, out.parent).replace(os.sep, "/"),
        "functions": functions,
        "files": sorted({item.path for item in tagged}),
        "revision": revision,
        "items": items,
        "groups": _grouped(items),
        "status_line": status_line,
        "root_cause": report.section("Root Cause"),
        "solution": report.section("Solution", "Fix", "The Fix"),
        "alternatives": report.section("Alternatives Considered", "Alternatives"),
        "next_steps": report.section("Next Steps"),
        "notes": report.section("Notes"),
        **(extra or {}),
    }
    return render_template(config, TEMPLATE, context)


def render_template(config: Config, name: str, context: dict) -> str:
    """A template's text; an error in a template names its file and line."""
    from jinja2 import TemplateError

    from tracer.problems import TracerError

    try:
        return template_environment(config).get_template(name).render(context)
    except TemplateError as error:
        own = config.path(config.templates_dir) / name
        where = getattr(error, "filename", None) or (f"{config.templates_dir}/{name}" if own.exists() else name)
        raise TracerError(f"template error: {error.message or error}", where, getattr(error, "lineno", None)) from None


def _shown_source(lines: list[str], item: TaggedScope) -> str:
    """A function's or class's whole source; for a module, only its tagged blocks."""
    scope = item.scope
    if scope.kind != "module":
        return scope_source(lines, scope.start_line, scope.end_line).rstrip("\n")
    blocks = [scope_source(lines, c.start_line, c.end_line).rstrip("\n") for c in item.changes]
    return "\n\n# ...\n\n".join(blocks)


def _grouped(items: list[ItemState]) -> dict[str, list[ItemState]]:
    grouped: dict[str, list[ItemState]] = {}
    for item in items:
        grouped.setdefault(item.group, []).append(item)
    return grouped
