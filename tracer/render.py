"""The generated documents: each bug's code-changes document and the index of all bugs, through
Jinja2's sandbox (a project's templates are data: they never run code), cached by content."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.diffs import ScopeDiff, diff_scopes, scope_source
from tracer.evidence import BugStatus, ItemState, evidence_files
from tracer.gitio import GitError, is_shallow, resolve_revision
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.scanner import TaggedScope
from tracer.sourcetext import SourceDecodeError, read_source, split_lines, split_lines_keepends

if TYPE_CHECKING:
    import jinja2

TEMPLATE = "code_changes.md.j2"
INDEX_TEMPLATE = "index.md.j2"
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Document:
    path: Path
    text: str


@dataclass(frozen=True)
class Drift:
    """How a document on disk differs from what would be rendered now."""

    first_line: int
    diff: str
    missing: bool


def document_path(config: Config, report: BugReport) -> Path:
    report_path = config.root / report.path
    return report_path.with_name(report_path.stem + config.output_suffix)


def index_path(config: Config) -> Path:
    return config.path(config.reports_dir) / "index.md"


def relative_link(target: Path, start: Path) -> str:
    return os.path.relpath(target, start).replace(os.sep, "/")


def unified_diff(old: str, new: str, shown: str) -> str:
    return "".join(
        difflib.unified_diff(split_lines_keepends(old), split_lines_keepends(new), f"{shown} (on disk)", f"{shown} (rendered)")
    )


def stale_document(document: Document, shown: str) -> Drift | None:
    """None where the file on disk holds the bytes `atomic_write` would write now, else where and
    how it differs."""
    try:
        data = document.path.read_bytes() if document.path.is_file() else None
    except OSError:
        data = None
    if data == document.text.encode("utf-8", "surrogateescape"):
        return None
    old = (data or b"").decode("utf-8", "surrogateescape")
    old_lines, new_lines = split_lines(old), split_lines(document.text)
    first = next((n for n, (a, b) in enumerate(zip(old_lines, new_lines), start=1) if a != b), min(len(old_lines), len(new_lines)) + 1)
    return Drift(first, unified_diff(old, document.text, shown), data is None)


# Templates


def template_environment(config: Config) -> jinja2.Environment:
    """The project's templates folder first, then the built-in templates (also as `tracer/NAME`,
    so that a project template can extend the built-in one it overrides). Sandboxed: a template
    can read what it is given and call no Python of its own."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    builtin = jinja2.FileSystemLoader(BUILTIN_TEMPLATES)
    loaders: list[jinja2.BaseLoader] = []
    project_templates = config.path(config.templates_dir)
    if project_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(project_templates, followlinks=False))
    loaders += [builtin, jinja2.PrefixLoader({"tracer": builtin})]
    environment = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters["fence"] = fenced
    environment.filters["cell"] = table_cell
    environment.filters["yaml"] = yaml_scalar
    return environment


def render_template(config: Config, name: str, context: Mapping[str, Any]) -> str:
    """A template's text; an error in a template names its file and line."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    try:
        return template_environment(config).get_template(name).render(context)
    except (TemplateError, SecurityError) as error:
        own = config.path(config.templates_dir) / name
        where = getattr(error, "filename", None) or (f"{config.templates_dir}/{name}" if own.exists() else name)
        message = getattr(error, "message", None) or str(error)
        raise TracerError(f"template error: {message}", where, getattr(error, "lineno", None)) from None
    except RecursionError:
        raise TracerError("template error: templates include or extend each other without end", name) from None


def fenced(text: str, language: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside, so no content can
    close it early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def table_cell(text: object) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def front_matter(report: BugReport) -> str:
    """The document's YAML front matter: each value written by the YAML dumper, double-quoted,
    so no title, author or tag can break it."""
    data: dict[str, object] = {
        "title": f"Code Changes for {report.bug_id}",
        "bug_id": report.bug_id,
        "author": report.author,
        "date": report.created.isoformat(),
        "updated": (report.updated or report.created).isoformat(),
        "type": "bug_fix",
        "status": str(report.status),
        "severity": str(report.severity),
        "tags": list(report.tags),
        "generated_by": f"tracer render {report.bug_id}",
    }
    return "".join(f"{key}: {yaml_scalar(value)}\n" for key, value in data.items())


def yaml_scalar(value: object) -> str:
    """One YAML value as the YAML dumper writes it, double-quoted: any text round-trips."""
    dumped: str = yaml.safe_dump(value, default_style='"', default_flow_style=True, allow_unicode=True, width=10**9)
    return dumped.removesuffix("\n...\n").rstrip("\n")


# Documents


def source_link(config: Config, path: str, start: int, end: int, commit: str = "HEAD") -> str:
    """The link to a range of code, from the project's `source_url` template ("" without one)."""
    if not config.source_url:
        return ""
    return config.source_url.format(commit=commit, path=config.in_repo(path), start=start, end=end)


def issue_link(config: Config, bug_id: str) -> str:
    return config.issue_url.format(id=bug_id) if config.issue_url else ""


def read_lines(root: Path, paths: Iterable[str]) -> dict[str, list[str]]:
    lines = {}
    for path in sorted(set(paths)):
        try:
            lines[path] = split_lines(read_source(root / path))
        except (OSError, SourceDecodeError) as error:
            raise TracerError(f"cannot read: {error}", path) from None
    return lines


def function_views(config: Config, bug: BugStatus, base: str | None, commit: str = "HEAD",
                   kept_diffs: Mapping[tuple[str, str], ScopeDiff] | None = None) -> list[dict[str, Any]]:
    """What the documents show of each tagged scope: where it is, its changes, its source, its diff."""
    report = bug.report
    current = read_lines(config.root, (t.path for t in bug.tagged))
    revision = base or report.pre_fix_revision
    diffs = diff_scopes(config.root, revision, list(bug.tagged), current) if revision else {}
    views = []
    for index, item in enumerate(bug.tagged, start=1):
        scope = item.scope
        diff = diffs.get((item.path, scope.qualname), ScopeDiff("unavailable", note="the report names no pre-fix revision"))
        kept = (kept_diffs or {}).get((item.path, scope.qualname))
        if diff.status == "unavailable" and kept is not None:
            diff = kept
        views.append(
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
                "link": source_link(config, item.path, scope.start_line, scope.end_line, commit),
                "change_links": [source_link(config, item.path, c.start_line, c.end_line, commit) for c in item.changes],
            }
        )
    return views


def document_context(config: Config, bug: BugStatus, base: str | None, out: Path, commit: str = "HEAD",
                     kept_diffs: Mapping[tuple[str, str], ScopeDiff] | None = None) -> dict[str, Any]:
    """Everything a code-changes template may use."""
    report = bug.report
    functions = function_views(config, bug, base, commit, kept_diffs)
    proofs = [(f.environment.label, f.proof) for f in bug.evidence.environments if f.proof is not None]
    return {
        "report": report,
        "front_matter": front_matter(report),
        "report_link": relative_link(config.root / report.path, out.parent),
        "issue_link": issue_link(config, report.bug_id),
        "functions": functions,
        "files": sorted({item.path for item in bug.tagged}),
        "revision": base or report.pre_fix_revision,
        "items": bug.items,
        "groups": grouped(bug.items),
        "status_line": bug.status_line,
        "proofs": proofs,
        "proof": proofs[0][1] if proofs else None,
        "root_cause": report.section("Root Cause"),
        "solution": report.section("Solution", "Fix", "The Fix"),
        "alternatives": report.section("Alternatives Considered", "Alternatives"),
        "next_steps": report.section("Next Steps"),
        "notes": report.section("Notes"),
    }


def grouped(items: Iterable[ItemState]) -> dict[str, list[ItemState]]:
    groups: dict[str, list[ItemState]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return groups


def _shown_source(lines: list[str], item: TaggedScope) -> str:
    """A function's or class's whole source; for a module, only its tagged blocks."""
    scope = item.scope
    if scope.kind != "module":
        return scope_source(lines, scope.start_line, scope.end_line).rstrip("\n")
    blocks = [scope_source(lines, c.start_line, c.end_line).rstrip("\n") for c in item.changes]
    return "\n\n# ...\n\n".join(blocks)


def diff_base_missing(config: Config, report: BugReport, base: str | None) -> str | None:
    """The revision the diffs are taken against, where this clone lacks it (a shallow clone)."""
    revision = base or report.pre_fix_revision
    if not revision:
        return None
    try:
        resolve_revision(config.root, revision)
    except GitError:
        return revision
    return None


def render_document(config: Config, bug: BugStatus, base: str | None = None, cache: ContentCache | None = None) -> Document:
    """The bug's document as it would be written now. The text is cached under a digest of
    everything it is made of, so an unchanged bug is never rendered (nor jinja2 imported) twice.
    Where the diff base is missing from this clone, the diffs of the document on disk are kept."""
    out = document_path(config, bug.report)
    cache = cache or ContentCache(None)
    key = _document_key(config, bug, base)
    cached = cache.get(key)
    if cached is not None:
        return Document(out, cached)
    kept = committed_diffs(out) if diff_base_missing(config, bug.report, base) and is_shallow(config.root) else None
    text = render_template(config, TEMPLATE, document_context(config, bug, base, out, kept_diffs=kept))
    cache.put(key, text)
    return Document(out, text)


def _document_key(config: Config, bug: BugStatus, base: str | None) -> str:
    return "document-" + digest_of(config.cache_key, *project_templates(config), *bug_inputs(config, bug, base)) + ".md"


def bug_inputs(config: Config, bug: BugStatus, base: str | None = None) -> list[bytes | str]:
    """What a bug's document or page is made of, for cache keys: the report, its item states and
    evidence files, the tagged files, and the commit the diffs are taken against (or, where this
    clone lacks it, the document on disk whose diffs are kept)."""
    report = bug.report
    revision = base or report.pre_fix_revision or ""
    try:
        commit = resolve_revision(config.root, revision) if revision else ""
    except GitError:
        on_disk = document_path(config, report)
        commit = "unresolved:" + revision + ":" + (on_disk.read_text(encoding="utf-8", errors="replace") if on_disk.is_file() else "")
    # the item states too: they depend on more than these files (which linked test files exist)
    parts: list[bytes | str] = [report.path, (config.root / report.path).read_bytes(), commit, repr(bug.items)]
    for evidence in evidence_files(config, report.bug_id):
        parts += [evidence.name, evidence.read_bytes()]
    for tagged_path in sorted({t.path for t in bug.tagged}):
        parts += [tagged_path, (config.root / tagged_path).read_bytes()]
    return parts


def project_templates(config: Config) -> list[bytes | str]:
    """Names and bytes of the project's own templates, for cache keys (tracer's own are in every key)."""
    folder = config.path(config.templates_dir)
    parts: list[bytes | str] = []
    for template in sorted(folder.glob("*")) if folder.is_dir() else []:
        if template.is_file():
            parts += [template.name, template.read_bytes()]
    return parts


_HEADING = re.compile(r"^\d+\.\s+`(?P<qualname>[^`]+?)(?:\(\))?`\s+-\s+`(?P<path>[^`]+)`")
_NEW_NOTE = re.compile(r"^New since the pre-fix revision: (?P<note>.*)\.$", re.DOTALL)


def committed_diffs(document: Path) -> dict[tuple[str, str], ScopeDiff]:
    """What a document on disk says of each function's diff, by (path, qualname): what a shallow
    clone, which lacks the pre-fix revision, keeps rather than deletes."""
    from markdown_it import MarkdownIt

    try:
        text = document.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    diffs: dict[tuple[str, str], ScopeDiff] = {}
    key: tuple[str, str] | None = None
    in_diff = False
    tokens = MarkdownIt("commonmark").parse(text)
    for index, token in enumerate(tokens):
        content = tokens[index + 1].content if index + 1 < len(tokens) else ""
        if token.type == "heading_open" and token.tag in ("h2", "h3", "h4"):
            match = _HEADING.match(content) if token.tag == "h3" else None
            key = (match["path"], match["qualname"]) if match else (key if token.tag == "h4" else None)
            in_diff = token.tag == "h4" and content.startswith("Diff against")
        elif key is None:
            continue
        elif token.type == "fence" and token.info.strip() == "diff" and in_diff:
            diffs[key] = ScopeDiff("changed", diff=token.content.rstrip("\n"))
        elif token.type == "paragraph_open" and content.startswith("_") and content.endswith("_"):
            note = content[1:-1]
            if (match := _NEW_NOTE.match(note)) is not None:
                diffs[key] = ScopeDiff("new", note=match["note"])
            elif note.startswith("No diff for the module itself"):
                diffs[key] = ScopeDiff("module")
            elif note.startswith("Unchanged since the pre-fix revision"):
                diffs[key] = ScopeDiff("unchanged")
    return diffs


def render_index(config: Config, bugs: Iterable[BugStatus], cache: ContentCache | None = None) -> Document:
    """One row a bug, newest first: ID, title, severity, status, verified, stale, failed and
    proven items, links."""
    out = index_path(config)
    rows = []
    for bug in sorted(bugs, key=lambda b: (b.report.created, b.report.bug_id), reverse=True):
        rows.append(
            {
                "report": bug.report,
                "report_link": relative_link(config.root / bug.report.path, out.parent),
                "document_link": relative_link(document_path(config, bug.report), out.parent),
                "issue_link": issue_link(config, bug.report.bug_id),
                **bug.summary,
            }
        )
    cache = cache or ContentCache(None)
    key = "index-" + digest_of(config.cache_key, repr(rows), *project_templates(config)) + ".md"
    cached = cache.get(key)
    if cached is None:
        cached = render_template(config, INDEX_TEMPLATE, {"rows": rows})
        cache.put(key, cached)
    return Document(out, cached)
