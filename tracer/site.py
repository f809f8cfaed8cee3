"""The static site: an index of all bugs, a page per bug, the traceability matrix and every tag by
file, as plain HTML that opens from `file://` with no network and no JavaScript.

Pages come from Jinja2 templates in the sandbox, autoescaped, which a project overrides like the
Markdown ones (`templates/site-bug.html.j2`, extending `tracer/site-bug.html.j2`). Each page is
cached under a digest of its inputs, as `render_document` does, so a warm site reads a few files,
asks git one question a bug, and imports neither jinja2 nor pygments."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.diffs import DiffStatus
from tracer.fileio import atomic_write
from tracer.gitio import head_commit, is_shallow
from tracer.problems import TracerError
from tracer.render import (
    bug_inputs,
    document_context,
    document_path,
    issue_link,
    project_templates,
    read_lines,
    relative_link,
    source_link,
)
from tracer.scanner import FileScan, TaggedScope
from tracer.status import BugStatus, ItemState, LinkedResult

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

TEMPLATES = {
    "index": "site-index.html.j2",
    "bug": "site-bug.html.j2",
    "matrix": "site-matrix.html.j2",
    "tags": "site-tags.html.j2",
    "style": "site-style.css.j2",
}
STYLESHEET = "style.css"
GENERATOR = '<meta name="generator" content="tracer site">'  # marks the pages a rerun may remove
_LIGHT_STYLE, _DARK_STYLE = "default", "github-dark"  # Pygments styles, one for each colour scheme


@dataclass(frozen=True)
class Page:
    path: str  # inside the site folder, with forward slashes
    text: str


@dataclass(frozen=True)
class Site:
    """What `tracer site` wrote: every page, the ones whose bytes changed, the stale ones removed."""

    folder: Path
    pages: tuple[str, ...]
    written: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


def site_folder(config: Config, out: Path | None) -> Path:
    """Where the site goes: `out`, or the cache folder, which git ignores, so a site is never
    committed by accident. A path that exists and is not a folder is refused, never replaced."""
    if out is None:
        return config.path(config.cache_dir) / "site"  # output, not a cache read back: trusted or not  # output, not a cache read back: trusted or not
    if out.exists() and not out.is_dir():
        raise TracerError("not a folder; give a folder for the site (it is made if missing)", out)
    return out.resolve()


def build_site(config: Config, bugs: Sequence[BugStatus], scans: Sequence[FileScan], out: Path | None = None,
               cache: ContentCache | None = None) -> Site:
    """Render every page and write those whose bytes differ from the files on disk."""
    folder = site_folder(config, out)
    pages = site_pages(config, bugs, scans, folder, cache or ContentCache(None))
    if out is None:
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():  # as the cache does: the folder ignores itself in git
            atomic_write(ignore, "# created by tracer\n*\n")
    written = []
    for page in pages:
        target = folder / page.path
        try:
            same = target.read_bytes() == page.text.encode("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            same = False
        if not same:
            atomic_write(target, page.text)
            written.append(page.path)
    removed = _remove_stale_bug_pages(folder, {page.path for page in pages})
    return Site(folder, tuple(p.path for p in pages), tuple(written), removed)


def _remove_stale_bug_pages(folder: Path, kept: set[str]) -> tuple[str, ...]:
    """Pages of bugs that no longer have a report; only files this command wrote (they carry the
    generator tag), so a folder of the user's own is never emptied."""
    removed = []
    for path in sorted((folder / "bugs").glob("*.html")):
        relative = path.relative_to(folder).as_posix()
        if relative in kept or not path.is_file():
            continue
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:2000]
        except OSError:
            continue
        if GENERATOR in head:
            path.unlink()
            removed.append(relative)
    return tuple(removed)


def bug_page(bug_id: str) -> str:
    """A bug page's path in the site: the ID in lower case, safe as a file name anywhere."""
    return "bugs/" + (re.sub(r"[^a-z0-9._-]+", "-", bug_id.lower()).strip(".-") or "bug") + ".html"


def site_pages(config: Config, bugs: Sequence[BugStatus], scans: Sequence[FileScan], folder: Path,
               cache: ContentCache) -> list[Page]:
    """Every page of the site, each from the cache where its inputs are unchanged."""
    bugs = sorted(bugs, key=lambda b: (b.report.created, b.report.bug_id), reverse=True)
    renderer = _Renderer(config, folder, cache)
    pages = [
        renderer.page("index.html", "index", lambda: index_context(config, bugs, folder)),
        renderer.page("matrix.html", "matrix", lambda: matrix_context(bugs)),
        renderer.page("tags.html", "tags", lambda: tags_context(config, bugs, scans, renderer.commit)),
    ]
    pages += [renderer.bug(bug) for bug in sorted(bugs, key=lambda b: b.report.bug_id)]
    pages.append(renderer.stylesheet())
    return pages


class _Renderer:
    """Renders pages through one sandboxed, autoescaped environment, made only when a page is not
    in the cache."""

    def __init__(self, config: Config, folder: Path, cache: ContentCache):
        self.config, self.folder, self.cache = config, folder, cache
        self._environment: jinja2.Environment | None = None
        # Only a `source_url` shows the commit: without one, a new commit keeps every page cached.
        self.commit = (head_commit(config.root) or "HEAD") if "{commit}" in config.source_url else "HEAD"
        import pygments

        self._common: list[bytes | str] = [
            config.cache_key, self.commit, f"pygments {pygments.__version__}",
            relative_link(config.root, folder), *project_templates(config),
        ]

    def page(self, path: str, template: str, context: Callable[[], dict[str, Any]]) -> Page:
        """A page whose context is cheap to make: the context itself is its key."""
        values = context()
        values["root"] = "../" * path.count("/")
        key = "site-" + digest_of(*self._common, path, template, repr(values)) + ".html"
        return Page(path, self._cached(key, lambda: self._render(template, values)))

    def bug(self, bug: BugStatus) -> Page:
        """A bug page: its key is a digest of the files it is made of, so a warm run neither runs
        git diff nor highlights any code."""
        path = bug_page(bug.report.bug_id)
        key = "site-" + digest_of(*self._common, path, *bug_inputs(self.config, bug)) + ".html"
        def make() -> str:
            context = bug_context(self.config, bug, self.folder / path, self.commit)
            return self._render("bug", {**context, "root": "../" * path.count("/")})

        return Page(path, self._cached(key, make))

    def stylesheet(self) -> Page:
        key = "site-" + digest_of(*self._common, STYLESHEET) + ".css"
        return Page(STYLESHEET, self._cached(key, lambda: self._render("style", {"pygments": pygments_css()})))

    def _cached(self, key: str, make: Callable[[], str]) -> str:
        text = self.cache.get(key)
        if text is None:
            text = make()
            self.cache.put(key, text)
        return text

    def _render(self, template: str, context: Mapping[str, Any]) -> str:
        """A template's text; an error in a template names its file and line, as for the documents."""
        from jinja2 import TemplateError
        from jinja2.exceptions import SecurityError

        name = TEMPLATES[template]
        try:
            return self.environment.get_template(name).render(context)
        except (TemplateError, SecurityError) as error:
            own = self.config.path(self.config.templates_dir) / name
            where = getattr(error, "filename", None) or (f"{self.config.templates_dir}/{name}" if own.exists() else name)
            message = getattr(error, "message", None) or str(error)
            raise TracerError(f"template error: {message}", where, getattr(error, "lineno", None)) from None
        except RecursionError:
            raise TracerError("template error: templates include or extend each other without end", name) from None

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            self._environment = site_environment(self.config)
        return self._environment


def site_environment(config: Config) -> jinja2.Environment:
    """The documents' environment (the project's templates first, tracer's also as `tracer/NAME`,
    the sandbox, StrictUndefined), with HTML autoescaped: a title or a test id is text, never markup."""
    from tracer.render import template_environment

    environment = template_environment(config).overlay(autoescape=True)
    environment.filters["ticks"] = inline_code
    environment.filters["state_class"] = lambda state: f"state-{state}"
    return environment


# The pages' contexts


def index_context(config: Config, bugs: Iterable[BugStatus], folder: Path) -> dict[str, Any]:
    """One row a bug, as the Markdown index: ID, title, severity, status, verified of total,
    stale, failed and proven items, where verified."""
    rows = []
    for bug in bugs:
        report = bug.report
        rows.append({
            "bug_id": report.bug_id,
            "title": report.title,
            "severity": str(report.severity),
            "status": str(report.status),
            "page": bug_page(report.bug_id),
            "issue_link": issue_link(config, report.bug_id),
            "report_link": relative_link(config.root / report.path, folder),
            **bug.summary,
        })
    return {"rows": rows}


@dataclass(frozen=True)
class MatrixCell:
    """One cell of the matrix: a linked test, and its result in each environment where it ran."""

    test_id: str
    name: str
    file: str
    results: tuple[LinkedResult, ...]


def matrix_cells(item: ItemState) -> tuple[MatrixCell, ...]:
    """The item's linked tests, one cell each, sorted by test id; each with its results sorted by
    environment."""
    by_test: dict[str, list[LinkedResult]] = {}
    for result in item.results:
        by_test.setdefault(result.test_id, []).append(result)
    cells = []
    for test_id, results in sorted(by_test.items()):
        file, _, name = test_id.rpartition("::")
        cells.append(MatrixCell(test_id, name or test_id, file, tuple(sorted(results, key=lambda r: r.environment))))
    return tuple(cells)


def matrix_context(bugs: Iterable[BugStatus]) -> dict[str, Any]:
    """Checklist items by linked tests, for every bug: one row an item, one cell a linked test."""
    tables = []
    for bug in bugs:
        cells = [matrix_cells(item) for item in bug.items]
        rows = [{"item": item, "cells": row} for item, row in zip(bug.items, cells)]
        width = max(map(len, cells), default=0)
        tables.append({
            "bug_id": bug.report.bug_id,
            "title": bug.report.title,
            "page": bug_page(bug.report.bug_id),
            "status_line": bug.status_line,
            "rows": rows,
            "width": width,
        })
    return {"tables": sorted(tables, key=lambda t: t["bug_id"])}


def tags_context(config: Config, bugs: Iterable[BugStatus], scans: Sequence[FileScan], commit: str) -> dict[str, Any]:
    """Every tag in the code, by file then line: its scope, its IDs (those without a report are
    orphans), its text, a link to the code; and the malformed ones."""
    pages = {bug.report.bug_id.casefold(): bug_page(bug.report.bug_id) for bug in bugs}
    files, orphans = [], set()
    for scan in sorted(scans, key=lambda s: s.path):
        if not scan.scopes and not scan.malformed:
            continue
        tags: list[dict[str, Any]] = []
        for tagged in scan.scopes:
            for change in tagged.changes:
                ids = []
                for bug_id in change.bug_ids:
                    page = pages.get(bug_id.casefold(), "")
                    if not page:
                        orphans.add(bug_id)
                    ids.append({"id": bug_id, "page": page, "issue_link": issue_link(config, bug_id)})
                tags.append({
                    "change": change,
                    "scope": tagged.scope,
                    "ids": ids,
                    "link": source_link(config, scan.path, change.start_line, change.end_line, commit),
                })
        tags.sort(key=lambda t: (t["change"].start_line, t["change"].end_line, t["scope"].qualname))
        files.append({"path": scan.path, "anchor": "file-" + _anchor(scan.path), "tags": tags, "malformed": list(scan.malformed)})
    return {"files": files, "orphans": sorted(orphans)}


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def bug_context(config: Config, bug: BugStatus, page: Path, commit: str) -> dict[str, Any]:
    """The code-changes document's context, with each scope's source highlighted (its change
    blocks marked), its diff coloured, and the report's sections as HTML."""
    context = document_context(config, bug, None, page, commit)
    lines = read_lines(config.root, (t.path for t in bug.tagged))
    for view, tagged in zip(context["functions"], bug.tagged):
        view["blocks"] = [
            {"start": start, "end": end, "marked": marked, "html": highlight_python(lines[tagged.path], start, end, marked)}
            for start, end, marked in code_blocks(tagged)
        ]
        view["diff_html"] = highlight_diff(view["diff"].diff) if view["diff"].status is DiffStatus.CHANGED else None
        view["anchor"] = f"f{view['number']}"
    for name in ("root_cause", "solution", "alternatives", "next_steps", "notes"):
        context[name + "_html"] = markdown_html(context[name], config.root / bug.report.path, page)
    context["page"] = bug_page(bug.report.bug_id)
    context["matrix_anchor"] = bug.report.bug_id
    return context


def code_blocks(tagged: TaggedScope) -> list[tuple[int, int, tuple[int, ...]]]:
    """(first line, last line, marked lines) of each block of code a page shows: a function's or
    class's whole source with its change blocks marked; for a module, each change block alone."""
    scope = tagged.scope
    if scope.kind == "module":
        return [(c.start_line, c.end_line, tuple(range(c.start_line, c.end_line + 1))) for c in tagged.changes]
    marked = sorted({n for c in tagged.changes for n in range(c.start_line, c.end_line + 1)})
    return [(scope.start_line, scope.end_line, tuple(marked))]


# HTML pieces


def highlight_python(lines: Sequence[str], start: int, end: int, marked: Iterable[int]) -> Markup:
    """Lines `start`..`end` of a file, highlighted, numbered as in the file, `marked` lines marked."""
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters.html import HtmlFormatter
    from pygments.lexers.python import PythonLexer

    text = "\n".join(lines[start - 1 : end]) + "\n"
    # hl_lines counts from the snippet's first line whatever linenostart says
    formatter = HtmlFormatter(linenos="inline", linenostart=start, hl_lines=[n - start + 1 for n in marked], wrapcode=True)
    return Markup(highlight(text, PythonLexer(stripnl=False, ensurenl=True), formatter))


def highlight_diff(diff: str) -> Markup:
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters.html import HtmlFormatter
    from pygments.lexers.diff import DiffLexer

    return Markup(highlight(diff.strip("\n") + "\n", DiffLexer(stripnl=False), HtmlFormatter(cssclass="highlight diff", wrapcode=True)))


def pygments_css() -> Markup:
    """Token colours for light pages, and for dark ones under `prefers-color-scheme: dark`; each
    scheme's rules only under its own query, so no colour of one leaks into the other."""
    from markupsafe import Markup
    from pygments.formatters.html import HtmlFormatter

    def rules(style: str) -> str:
        lines = HtmlFormatter(style=style).get_style_defs(".highlight").splitlines()
        return "\n".join("  " + line for line in lines if line.startswith(".highlight"))

    return Markup(
        f"@media not all and (prefers-color-scheme: dark) {{\n{rules(_LIGHT_STYLE)}\n}}\n"
        f"@media (prefers-color-scheme: dark) {{\n{rules(_DARK_STYLE)}\n}}\n"
    )


def inline_code(text: object) -> Markup:
    """Text with its `backtick spans` as <code>, escaped first: the item details are written for
    Markdown."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(str(text)))))


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_html(text: str, source: Path, page: Path) -> Markup:
    """A report section as HTML: CommonMark and tables, raw HTML escaped, and each relative link,
    written from the report's folder, pointed from the page to the same file."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    if not text.strip():
        return Markup("")
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    for token in tokens:
        for child in token.children or []:
            attribute = "href" if child.type == "link_open" else "src" if child.type == "image" else ""
            target = str(child.attrGet(attribute) or "") if attribute else ""
            if not target or target.startswith(("#", "/")) or _SCHEME.match(target):
                continue
            path, hash_, fragment = target.partition("#")
            moved = relative_link(Path(os.path.normpath(source.parent / path)), page.parent) if path else ""
            child.attrSet(attribute, moved + hash_ + fragment)
    return Markup(markdown.renderer.render(tokens, markdown.options, {}))
