"""The generated documents: each bug's code-changes document, its diffs as data, and the index of
all bugs, through Jinja2's sandbox (a project's templates are data: they never run code), cached by
content. Reads evidence, never writes it."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tracer.attest import attestation_inputs, recorded_signatures
from tracer.cache import ContentCache, digest_of
from tracer.changes import ChangeStatus
from tracer.config import Config
from tracer.diffs import DiffStatus, ScopeDiff, diff_scopes, scope_source
from tracer.escape import (
    MarkdownText,
    code_span,
    json_text,
    link_target,
    md_finalize,
    md_inline,
    md_with_code,
    unencodable,
    uri_path,
)
from tracer.evidence import evidence_files
from tracer.fingerprint import code_id, fingerprints
from tracer.gitio import GitError, is_shallow, resolve_revision
from tracer.guard import TooLarge, UnsafePath, inside, read_bytes
from tracer.problems import TracerError
from tracer.reports import BugReport
from tracer.scanner import Change, TaggedScope
from tracer.sourcetext import SourceDecodeError, read_source, split_lines, split_lines_keepends
from tracer.status import BugStatus, ItemState, short_tests

if TYPE_CHECKING:
    import jinja2

    from tracer.sandbox import TemplateLimits

TEMPLATE = "code_changes.md.j2"
OVERVIEW_SECTIONS = frozenset({"summary", "symptoms"})  # the report's sections shown under the Overview
# Sections the default template places by name; every other section is copied after the Solution.
PLACED_SECTIONS = frozenset(
    {"root cause", "solution", "fix", "the fix", "alternatives considered", "alternatives", "next steps", "notes"}
)
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
        difflib.unified_diff(
            split_lines_keepends(old), split_lines_keepends(new), f"{shown} (on disk)", f"{shown} (rendered)"
        )
    )


def stale_document(document: Document, shown: str, root: Path | None = None) -> Drift | None:
    """None where the file on disk holds the bytes `atomic_write` would write now, else where and
    how it differs. With `root`, the file is read through `guard` (a regular file inside the
    project, no larger than any document could be)."""
    new = document.text.encode("utf-8", "surrogateescape")
    try:
        if not os.path.lexists(document.path):
            data = None
        elif root is not None:
            data = read_bytes(root, document.path, 4 * len(new) + 4096, "max_output_chars", "the document")
        else:
            data = document.path.read_bytes()
    except TooLarge:
        return Drift(1, f"{shown}: the file on disk is far larger than the document; no diff shown\n", False)
    except UnsafePath as error:
        raise TracerError(f"cannot read the document to compare it: {error.message}", shown) from None
    except OSError as error:
        raise TracerError(f"cannot read the document to compare it: {error.strerror or error}", shown) from None
    if data == new:
        return None
    old = (data or b"").decode("utf-8", "surrogateescape")
    old_lines, new_lines = split_lines(old), split_lines(document.text)
    first = next(
        (n for n, (a, b) in enumerate(zip(old_lines, new_lines), start=1) if a != b),
        min(len(old_lines), len(new_lines)) + 1,
    )
    return Drift(first, unified_diff(old, document.text, shown), data is None)


# Templates


def template_environment(config: Config) -> jinja2.Environment:
    """The project's templates folder first, then the built-in templates (also as `tracer/NAME`,
    so that a project template can extend the built-in one it overrides). In the sandbox with a
    budget (`tracer.sandbox`): a template reads what it is given, calls no Python of its own, reads
    no file outside its folder. Every `{{ value }}` is inline Markdown text, one line, escaped,
    unless it is Markdown already (`MarkdownText`: the filters below, the report's sections)."""
    import jinja2

    from tracer.sandbox import BudgetedSandbox, GuardedLoader

    builtin = GuardedLoader(BUILTIN_TEMPLATES, 10**7, "tracer")
    loaders: list[jinja2.BaseLoader] = []
    project_templates = config.path(config.templates_dir)
    if project_templates.is_dir():
        try:
            folder = inside(config.root, project_templates)
        except UnsafePath:
            raise TracerError(
                "the templates folder leads out of the project (through a symlink); not read", config.templates_dir
            ) from None
        loaders.append(GuardedLoader(folder, config.max_report_bytes, config.templates_dir))
    loaders += [builtin, jinja2.PrefixLoader({"tracer": builtin})]
    environment = BudgetedSandbox(
        template_limits(config),
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=md_finalize,
    )
    environment.filters["fence"] = fenced
    environment.filters["cell"] = table_cell
    environment.filters["yaml"] = yaml_scalar
    environment.filters["code"] = code_span
    environment.filters["link"] = link_target
    environment.filters["inline"] = md_with_code
    environment.filters["markdown"] = MarkdownText  # a value a project template takes as Markdown
    return environment


def template_limits(config: Config) -> TemplateLimits:
    from tracer.sandbox import TemplateLimits

    return TemplateLimits(
        config.max_output_chars, config.max_template_steps, config.max_template_seconds, config.max_report_bytes
    )


def shown_template(config: Config, filename: str) -> str:
    """A template's file as the user knows it: project-relative, or `tracer/NAME` for tracer's own."""
    path = Path(filename)
    if path.is_absolute() and path.parent == BUILTIN_TEMPLATES:
        return f"tracer/{path.name}"
    if path.is_absolute():
        try:
            return path.relative_to(config.root).as_posix()
        except ValueError:
            try:
                return path.resolve().relative_to(config.root.resolve()).as_posix()
            except (ValueError, OSError):
                return filename
    own = config.path(config.templates_dir) / filename
    return f"{config.templates_dir}/{filename}" if os.path.lexists(own) else filename


def render_template(
    config: Config, name: str, context: Mapping[str, Any], environment: jinja2.Environment | None = None
) -> str:
    """A template's text; any error in a template names its file and line. `environment`: one
    made once for many documents (each template compiled once, not once a document)."""
    return render_with(environment or template_environment(config), config, name, context)


def render_with(environment: jinja2.Environment, config: Config, name: str, context: Mapping[str, Any]) -> str:
    """Template `name` of `environment` rendered in its budget: the one place a template error (a
    Jinja error or any other it raises) becomes a TracerError naming the file and line (the site
    renders through here too)."""
    from tracer.sandbox import run_template

    return run_template(environment, name, context, lambda filename: shown_template(config, filename))


def fenced(text: str, language: str = "") -> MarkdownText:
    """A fenced code block whose fence is longer than any backtick run inside, so no content can
    close it early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return MarkdownText(f"{fence}{md_inline(language).replace('`', '')}\n{text}\n{fence}")


def table_cell(text: object) -> MarkdownText:
    """Text that stays inside one Markdown table cell: one line, inline syntax and pipes escaped."""
    return md_inline(" ".join(str(text).split()))


def front_matter(report: BugReport) -> MarkdownText:
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
    return MarkdownText("".join(f"{key}: {yaml_scalar(value)}\n" for key, value in data.items()))


def yaml_scalar(value: object) -> MarkdownText:
    """One YAML value as the YAML dumper writes it, double-quoted: any text round-trips."""
    dumped: str = yaml.safe_dump(value, default_style='"', default_flow_style=True, allow_unicode=True, width=10**9)
    return MarkdownText(dumped.removesuffix("\n...\n").rstrip("\n"))


# Documents


def source_link(config: Config, path: str, start: int, end: int, commit: str = "HEAD") -> str:
    """The link to a range of code, from the project's `source_url` template ("" without one)."""
    if not config.source_url:
        return ""
    return config.source_url.format(commit=uri_path(commit), path=uri_path(config.in_repo(path)), start=start, end=end)


def issue_link(config: Config, bug_id: str) -> str:
    return config.issue_url.format(id=uri_path(bug_id)) if config.issue_url else ""


def read_lines(root: Path, paths: Iterable[str]) -> dict[str, list[str]]:
    lines = {}
    for path in sorted(set(paths)):
        try:
            lines[path] = split_lines(read_source(root / path))
        except (OSError, SourceDecodeError) as error:
            raise TracerError(f"cannot read: {error}", path) from None
    return lines


TEXT_LIMIT = 300  # characters of a tag's text in "Changes Made", cut at a sentence or clause end
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_CLAUSE_END = re.compile(r"[,;:]\s+|\s+(?:-|--|—)\s+")
_QUOTES = ('"""', "'''")


def tag_text(lines: list[str], change: Change, id_regex: re.Pattern[str]) -> str:
    """What a tag says, whole: a comment tag's text with the comment lines that continue it (up to
    a blank comment line, code, or another tag); for a docstring, the sentence of its paragraph
    that names the ID. Cut at a sentence end, or a clause end with an ellipsis, past TEXT_LIMIT."""
    if change.kind == "docstring":
        return shortened(_docstring_sentence(lines, change, id_regex))
    parts = [change.text]
    own_line = change.tag_line <= len(lines) and lines[change.tag_line - 1].lstrip().startswith("#")
    for number in range(change.tag_line + 1, change.end_line + 1) if own_line else ():
        stripped = lines[number - 1].strip()
        words = stripped.lstrip("#").strip()
        if not stripped.startswith("#") or not words or id_regex.match(words):
            break
        parts.append(words)
    return shortened(" ".join(" ".join(parts).split()))


def _docstring_sentence(lines: list[str], change: Change, id_regex: re.Pattern[str]) -> str:
    """The sentence of the docstring's paragraph around the tag line that names the ID, without
    the ID itself ("... (BUG-1)." and "BUG-1: ..." read as the sentence alone)."""
    first = last = min(change.tag_line, len(lines))
    while first > change.start_line and lines[first - 2].strip() not in ("", *_QUOTES):
        first -= 1
    while last < min(change.end_line, len(lines)) and lines[last].strip() not in ("", *_QUOTES):
        last += 1
    paragraph = " ".join(line.strip() for line in lines[first - 1 : last])
    for quotes in _QUOTES:
        start = paragraph.find(quotes)
        if start != -1 and start < 4:
            paragraph = paragraph[start + 3 :]
        paragraph = paragraph.removesuffix(quotes)
    for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
        found = id_regex.search(sentence)
        if found is None:
            continue
        before, after = sentence[: found.start()], sentence[found.end() :]
        if before.rstrip().endswith("(") and after.lstrip().startswith(")"):
            sentence = before.rstrip()[:-1].rstrip() + after.lstrip()[1:]
        elif not before.strip():
            sentence = after.lstrip().removeprefix(":").lstrip()
        return sentence.strip() or change.text
    return change.text


def shortened(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` whole where it is short; else cut at its last sentence end within `limit`, or at a
    clause end with an ellipsis, never mid-word."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    sentences = [m.start() for m in _SENTENCE_END.finditer(head)]
    if sentences and sentences[-1] > limit // 3:
        return head[: sentences[-1]].rstrip()
    clauses = [m.start() for m in _CLAUSE_END.finditer(head)]
    cut = clauses[-1] if clauses and clauses[-1] > limit // 3 else head.rstrip().rfind(" ")
    return head[: max(cut, 1)].rstrip(" ,;:-—") + " …"


def function_views(
    config: Config, bug: BugStatus, diffs: Mapping[tuple[str, str], ScopeDiff], commit: str = "HEAD"
) -> list[dict[str, Any]]:
    """What the documents show of each tagged scope: where it is, its changes, its source, its diff."""
    current = read_lines(config.root, (t.path for t in bug.tagged))
    code = code_id(fingerprints(config.root, bug.tagged)) if any(f.changes for f in bug.evidence.environments) else ""
    views = []
    for index, item in enumerate(bug.tagged, start=1):
        scope = item.scope
        diff = diffs.get(
            (item.path, scope.qualname), ScopeDiff(DiffStatus.UNAVAILABLE, note="the report names no pre-fix revision")
        )
        views.append(
            {
                "number": index,
                "path": item.path,
                "qualname": scope.qualname,
                "kind": scope.kind,
                "signature": scope.signature,
                "start_line": scope.start_line,
                "end_line": scope.end_line,
                "change_type": {
                    "changed": "modified",
                    "new": "added",
                    "unchanged": "unchanged",
                    "module": "module-level",
                }.get(diff.status, "unknown"),
                "changes": [replace(c, text=tag_text(current[item.path], c, config.id_regex)) for c in item.changes],
                "source": _shown_source(current[item.path], item),
                "diff": diff,
                "link": source_link(config, item.path, scope.start_line, scope.end_line, commit),
                "change_links": [
                    source_link(config, item.path, c.start_line, c.end_line, commit) for c in item.changes
                ],
                "change_proofs": change_proof_lines(bug, item.path, scope.qualname, code),
            }
        )
    return views


def document_context(
    config: Config,
    bug: BugStatus,
    base: str | None,
    out: Path,
    commit: str = "HEAD",
    diffs: Mapping[tuple[str, str], ScopeDiff] | None = None,
) -> dict[str, Any]:
    """Everything a code-changes template may use."""
    report = bug.report
    functions = function_views(config, bug, scope_diffs(config, bug, base) if diffs is None else diffs, commit)
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
        "changed_lines": bug.changed_lines,
        "lines_run": bug.lines_run,
        "at_import": bug.at_import,
        "proofs": proofs,
        "proof": proofs[0][1] if proofs else None,
        "signatures": recorded_signatures(config, report.bug_id, bug.evidence.files),
        # the report's own Markdown, as its author wrote it: headings are the report's section headings
        "overview_sections": [
            (h, MarkdownText(t)) for h, t in report.sections.items() if h.lower() in OVERVIEW_SECTIONS and t
        ],
        "other_sections": [
            (h, MarkdownText(t))
            for h, t in report.sections.items()
            if h.lower() not in OVERVIEW_SECTIONS | PLACED_SECTIONS and t
        ],
        "root_cause": MarkdownText(report.section("Root Cause")),
        "solution": MarkdownText(report.section("Solution", "Fix", "The Fix")),
        "alternatives": MarkdownText(report.section("Alternatives Considered", "Alternatives")),
        "next_steps": MarkdownText(report.section("Next Steps")),
        "notes": MarkdownText(report.section("Notes")),
    }


def change_proof_lines(bug: BugStatus, path: str, qualname: str, code: str) -> list[MarkdownText]:
    """What `tracer prove --changes` found for each change block of one scope, in each
    environment: "Lines 25-29: caught by `test_a` in `tests/test_x.py` (on cpython 3.12 / linux)".
    Every value from the evidence is escaped: the file is data a repository can change."""
    lines = []
    for file in bug.evidence.environments:
        if file.changes is None:
            continue
        older = "" if file.changes.code == code else ", on code that has since changed"
        for block in file.changes.results:
            if (block.path, block.qualname) != (path, qualname):
                continue
            span = (
                f"Line {block.start_line}"
                if block.end_line == block.start_line
                else f"Lines {block.start_line}-{block.end_line}"
                if block.end_line > block.start_line
                else f"Lines deleted before line {block.start_line}"
            )
            message = md_with_code(block.message) if block.message else ""
            if block.caught_by:
                found = "caught by " + short_tests(list(block.caught_by))
            elif block.status is ChangeStatus.NOT_CAUGHT:
                found = "**caught by no linked test**"
            else:
                found, message = f"**{md_inline(block.status)}**" + (f": {message}" if message else ""), ""
            span += f" ({message})" if message else ""
            lines.append(MarkdownText(f"{span}: {found} (on {md_inline(file.environment.label)}{older})"))
    return lines


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


def render_bug(
    config: Config,
    bug: BugStatus,
    base: str | None = None,
    cache: ContentCache | None = None,
    templates: Sequence[bytes | str] | None = None,
    environment: Callable[[], jinja2.Environment] | None = None,
) -> list[Document]:
    """The bug's document as it would be written now, and, where the report names a pre-fix
    revision, its diffs as data (what a shallow clone, which lacks that revision, keeps). Both are
    cached under a digest of everything they are made of, so an unchanged bug is never rendered
    (nor jinja2 imported) twice. `templates` (`project_templates`) and `environment` (called only
    to render), where the caller makes them once for many bugs."""
    out, data = document_path(config, bug.report), diffs_path(config, bug.report)
    cache = cache or ContentCache(None)
    templates = project_templates(config) if templates is None else templates
    key = "document-" + digest_of(config.cache_key, *templates, *bug_inputs(config, bug, base)) + ".json"
    try:
        text, diffs_text = json.loads(cache.get(key) or "null") or (None, None)
    except ValueError:
        text = diffs_text = None
    if not isinstance(text, str) or not isinstance(diffs_text, str):
        diffs = scope_diffs(config, bug, base)
        context = document_context(config, bug, base, out, diffs=diffs)
        text = render_template(config, TEMPLATE, context, environment() if environment else None)
        diffs_text = diffs_json(bug, base, diffs)
        cache.put(key, json.dumps([text, diffs_text], ensure_ascii=False))
    return [Document(out, text)] + ([Document(data, diffs_text)] if diffs_text else [])


def bug_inputs(config: Config, bug: BugStatus, base: str | None = None) -> list[bytes | str]:
    """What a bug's document or page is made of, for cache keys: the report, its item states and
    evidence files (and their attestations), the tagged files, and the commit the diffs are taken
    against (or, where this clone lacks it, the diffs kept beside the document)."""
    report = bug.report
    revision = base or report.pre_fix_revision or ""
    try:
        commit = resolve_revision(config.root, revision) if revision else ""
    except GitError:
        kept = diffs_path(config, report)
        commit = (
            "unresolved:"
            + revision
            + ":"
            + _bytes_or_why(config, kept, config.max_evidence_bytes).decode("utf-8", "replace")
        )
    # the item states too: they depend on more than these files (which linked test files exist)
    # the digest of the bytes it was read from
    text = report.digest or _bytes_or_why(config, config.root / report.path, config.max_report_bytes)
    parts: list[bytes | str] = [report.path, text, commit, repr(bug.items)]
    evidence_paths = evidence_files(config, report.bug_id)
    for evidence in evidence_paths:
        parts += [evidence.name, _bytes_or_why(config, evidence, config.max_evidence_bytes)]
    parts += attestation_inputs(config, report.bug_id, evidence_paths)
    for tagged_path in sorted({t.path for t in bug.tagged}):
        parts += [tagged_path, (config.root / tagged_path).read_bytes()]
    return parts


def project_templates(config: Config) -> list[bytes | str]:
    """Names and bytes of the project's own templates, for cache keys (tracer's own are in every key)."""
    folder = config.path(config.templates_dir)
    parts: list[bytes | str] = []
    for template in sorted(folder.glob("*")) if folder.is_dir() else []:
        if os.path.islink(template) or template.is_file():
            parts += [template.name, _bytes_or_why(config, template, config.max_report_bytes)]
    return parts


def _bytes_or_why(config: Config, path: Path, limit: int) -> bytes:
    """A file's bytes for a cache key, read through `guard`; where it cannot be read, why (its
    reader reports the problem, and the key still changes with it)."""
    try:
        return read_bytes(config.root, path, limit, "a limit", "file")
    except (UnsafePath, FileNotFoundError) as error:
        return f"unreadable: {error}".encode("utf-8", "surrogateescape")


# Diffs as data


def diffs_path(config: Config, report: BugReport) -> Path:
    """Beside the document: `<document name without its suffix>.diffs.json`."""
    document = document_path(config, report)
    return document.with_name(document.name.removesuffix(document.suffix) + ".diffs.json")


def scope_diffs(config: Config, bug: BugStatus, base: str | None) -> dict[tuple[str, str], ScopeDiff]:
    """Each tagged scope's diff against the pre-fix revision (or `base`), by (path, qualname).
    Where this clone lacks that revision and is shallow, the diffs committed beside the document
    are kept; no template's wording is ever parsed back."""
    revision = base or bug.report.pre_fix_revision
    if not revision:
        return {}
    if diff_base_missing(config, bug.report, base) and is_shallow(config.root):
        return kept_diffs(config, bug.report)
    current = read_lines(config.root, (t.path for t in bug.tagged))
    return diff_scopes(config.root, revision, list(bug.tagged), current)


def diffs_json(bug: BugStatus, base: str | None, diffs: Mapping[tuple[str, str], ScopeDiff]) -> str:
    """The diffs file's text ("" where the report names no pre-fix revision: no file)."""
    revision = base or bug.report.pre_fix_revision
    if not revision:
        return ""
    scopes = [
        {"path": path, "qualname": qualname, "status": str(diff.status), "diff": diff.diff, "note": diff.note}
        for (path, qualname), diff in sorted(diffs.items())
    ]
    data = {"bug_id": bug.report.bug_id, "revision": revision, "scopes": scopes}
    return json_text(data, indent=2) + "\n"


def kept_diffs(config: Config, report: BugReport) -> dict[tuple[str, str], ScopeDiff]:
    """The diffs committed beside the document, checked as the hostile input they may be: a file
    that is not what `diffs_json` writes is an error naming it."""
    path = diffs_path(config, report)
    shown = path.relative_to(config.root).as_posix()
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(
            read_bytes(config.root, path, config.max_evidence_bytes, "max_evidence_bytes", "kept diffs").decode("utf-8")
        )
        scopes = data["scopes"]
        kept = {}
        for entry in scopes:
            fields = [entry[name] for name in ("path", "qualname", "status", "diff", "note")]
            if not all(isinstance(value, str) for value in fields):
                raise TypeError("a value is not text")
            if any(unencodable(value) is not None for value in fields):
                raise ValueError("a value holds a lone surrogate, which is no text")
            kept[(fields[0], fields[1])] = ScopeDiff(DiffStatus(fields[2]), diff=fields[3], note=fields[4])
    except UnsafePath as error:
        raise TracerError(f"kept diffs cannot be read: {error.message}", shown) from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as error:
        message = str(error)[:200]
        raise TracerError(
            f"kept diffs cannot be read ({type(error).__name__}: {message}); restore the file from git", shown
        ) from None
    return kept


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
