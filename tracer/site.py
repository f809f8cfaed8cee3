"""The static site: an overview of all bugs, a page per bug and per report, the traceability
matrix and every tag by file, with a sidebar of bugs by status, a table of contents per page and
a search over IDs, titles, items, scopes and tag texts that runs from `file://` with no server.

Pages come from Jinja2 templates in the sandbox, autoescaped, which a project overrides like the
Markdown ones (`templates/site-bug.html.j2`, extending `tracer/site-bug.html.j2`); they render
through `render.render_with`, the documents' one renderer. Each page is cached under a digest of
its inputs, as `render_document` does, so a warm site reads a few files, asks git one question a
bug, and imports neither jinja2 nor pygments. Every value from a report, the evidence or the
code is text; the only links out of the site are `http(s)` URLs."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.diffs import DiffStatus
from tracer.fileio import atomic_write
from tracer.gitio import head_commit
from tracer.guard import UnsafePath, output_target, read_bytes, write_target
from tracer.htmltext import HtmlText, inline_code, markdown_to_html, safe_url
from tracer.matrix import Matrix, bug_matrix
from tracer.problems import TracerError
from tracer.render import (
    bug_inputs,
    document_context,
    document_path,
    issue_link,
    project_templates,
    read_lines,
    render_with,
    source_link,
)
from tracer.reports import BugReport, Status
from tracer.scanner import FileScan, TaggedScope
from tracer.search import search_entries, search_script
from tracer.status import BugStatus

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

TEMPLATES = {
    "index": "site-index.html.j2",
    "bug": "site-bug.html.j2",
    "report": "site-report.html.j2",
    "matrix": "site-matrix.html.j2",
    "tags": "site-tags.html.j2",
    "style": "site-style.css.j2",
    "script": "site-script.js.j2",
}
STYLESHEET, SCRIPT, SEARCH_INDEX = "style.css", "site.js", "search-index.js"
GENERATOR = '<meta name="generator" content="tracer site">'  # marks the pages a rerun may remove or replace
STATIC_MARKS = (
    "/* tracer site */",
    "window.tracerSearch=",
)  # mark the stylesheet, the script and the search index as tracer's
_LIGHT_STYLE, _DARK_STYLE = "default", "github-dark"  # Pygments styles, one for each colour scheme
_FOLDERS = ("bugs", "reports")  # the folders of generated pages, which a rerun prunes
# A team's thousands of reports make a site that a browser still opens: listings split into pages
# of this many bugs (or tags), and a sidebar that lists every bug only up to NAV_BUGS of them.
# Measured: a page of 200 index rows or matrix bugs of three items is about 200 kB.
PER_PAGE = {"index": 200, "matrix": 200, "tags": 500}
NAV_BUGS = 100
_PAGED = re.compile(r"(?:index|matrix|tags)-[0-9]+\.html")  # a listing's later pages, which a rerun prunes


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
    committed by accident. A path that exists and is not a folder is refused, never replaced;
    so is one through a symlink inside the project (`guard.output_target`), and a cache folder
    that leads out of the project."""
    if out is None:
        folder = config.cache("site")
        if folder is None:
            raise TracerError(
                "the cache folder leads out of the project or holds files git tracks; give the site a folder with -o",
                config.cache_dir,
            )
        return folder
    folder = output_target(config.root, out)
    if folder.exists() and not folder.is_dir():
        raise TracerError("not a folder; give a folder for the site (it is made if missing)", out)
    return folder


def build_site(
    config: Config,
    bugs: Sequence[BugStatus],
    scans: Sequence[FileScan],
    out: Path | None = None,
    cache: ContentCache | None = None,
    force: bool = False,
) -> Site:
    """Render every page and write those whose bytes differ from the files on disk; a file in
    the way that tracer did not write (no generator mark) is refused before anything is
    written, unless `force`."""
    folder = site_folder(config, out)
    pages = site_pages(config, bugs, scans, cache or ContentCache(None))
    if out is not None and not force:  # the cache folder is tracer's own
        _refuse_foreign_files(folder, pages)
    if out is None:
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():  # as the cache does: the folder ignores itself in git
            atomic_write(ignore, "# created by tracer\n*\n")
    written = []
    for page in pages:
        target = write_target(folder, folder / page.path)  # a link in the site folder is replaced, never followed
        try:
            same = not target.is_symlink() and target.read_bytes() == page.text.encode("utf-8")
        except (FileNotFoundError, NotADirectoryError):
            same = False
        if not same:
            atomic_write(target, page.text)
            written.append(page.path)
    removed = _remove_stale_pages(folder, {page.path for page in pages})
    return Site(folder, tuple(p.path for p in pages), tuple(written), removed)


def _refuse_foreign_files(folder: Path, pages: Sequence[Page]) -> None:
    """TracerError for the first page whose file exists and was not written by tracer."""
    for page in pages:
        path = folder / page.path
        if not os.path.lexists(path):
            continue
        try:
            head = read_bytes(folder, path, 10**8, "a limit", "page")[:4000]
        except UnsafePath:
            head = b""
        if not any(mark.encode() in head for mark in (GENERATOR, *STATIC_MARKS)):
            raise TracerError(
                f"{page.path} is there and tracer did not write it: nothing written; "
                "give an empty folder, or --force to replace tracer's pages there",
                path,
            )


def _remove_stale_pages(folder: Path, kept: set[str]) -> tuple[str, ...]:
    """Pages of bugs that no longer have a report; only files this command wrote (they carry the
    generator tag), so a folder of the user's own is never emptied."""
    removed = []
    listings = (p for p in folder.glob("*-*.html") if _PAGED.fullmatch(p.name))
    for path in sorted([*(p for name in _FOLDERS for p in (folder / name).glob("*.html")), *listings]):
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


def page_stem(bug_id: str) -> str:
    """A bug's file name in the site: the ID in lower case, safe as a file name anywhere."""
    return re.sub(r"[^a-z0-9._-]+", "-", bug_id.lower()).strip(".-") or "bug"


def bug_page(bug_id: str) -> str:
    return f"bugs/{page_stem(bug_id)}.html"


def report_page(bug_id: str) -> str:
    return f"reports/{page_stem(bug_id)}.html"


def scope_anchor(number: int) -> str:
    """The id of the bug page's section of its `number`th changed scope (the search index and the
    tags page link to it by its place)."""
    return f"scope-{number}"


def site_pages(config: Config, bugs: Sequence[BugStatus], scans: Sequence[FileScan], cache: ContentCache) -> list[Page]:
    """Every page of the site, each from the cache where its inputs are unchanged."""
    bugs = sorted(bugs, key=lambda b: (b.report.created, b.report.bug_id), reverse=True)
    by_id = sorted(bugs, key=lambda b: b.report.bug_id)
    links = site_links(config, bugs)
    renderer = _Renderer(config, cache, nav_context(bugs, NAV_BUGS), links)
    index, matrix = index_context(config, bugs), matrix_context(by_id)["matrix"]
    tags = tags_context(config, by_id, scans, renderer.commit)
    pages = [
        *renderer.listing("index", index["rows"], lambda rows: {**index, "rows": rows}),
        *renderer.listing("matrix", matrix["bugs"], lambda rows: {"matrix": {**matrix, "bugs": rows}}),
        *renderer.listing("tags", _tag_rows(tags["files"]), lambda rows: {**tags, "files": _tag_files(rows)}),
    ]
    pages += [renderer.bug(bug) for bug in by_id]
    pages += [renderer.report(bug.report) for bug in by_id]
    pages += [
        renderer.static(STYLESHEET, "style", lambda: {"pygments": pygments_css()}),
        renderer.static(SCRIPT, "script", dict),
        Page(SEARCH_INDEX, search_script(search_entries(by_id, page_stem))),
    ]
    return pages


def _tag_rows(files: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The tags page's rows, for paging: each tag with its file (a file with only malformed tags,
    one row of its own), so that a file of thousands of tags is split like any listing."""
    return [(file, tag) for file in files for tag in (file["tags"] or [None])]


def _tag_files(rows: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[dict[str, Any]]:
    """Rows of the tags page back into files: a file split across pages shows its part on each,
    its malformed tags with its first part."""
    files: dict[str, dict[str, Any]] = {}
    for file, tag in rows:
        part = files.get(file["path"])
        if part is None:
            first = tag is None or tag is file["tags"][0]
            part = files[file["path"]] = {
                **file,
                "tags": [],
                "malformed": file["malformed"] if first else [],
                "continued": not first,
            }
        if tag is not None:
            part["tags"].append(tag)
    return list(files.values())


def site_links(config: Config, bugs: Iterable[BugStatus]) -> dict[str, str]:
    """Project files that have a page in the site, by their path in the project: each report and
    each code-changes document. A report's link to one of them stays in the site."""
    links = {}
    for bug in bugs:
        report = bug.report
        links[report.path] = report_page(report.bug_id)
        links[document_path(config, report).relative_to(config.root).as_posix()] = bug_page(report.bug_id)
    return links


def link_resolver(source: str, page: str, links: Mapping[str, str]) -> Callable[[str], str | None]:
    """How a relative link written in project file `source` reads from site page `page`: the
    page of the file it points at, or None (no link) where that file has no page here."""

    def resolve(target: str) -> str | None:
        path, _, fragment = target.partition("#")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(source), unquote(path)))
        found = links.get(joined)
        if found is None:
            return None
        relative = posixpath.relpath(found, posixpath.dirname(page) or ".")
        return relative + ("#" + fragment if fragment and found.startswith("reports/") else "")

    return resolve


class _Renderer:
    """Renders pages through one sandboxed, autoescaped environment, made only when a page is not
    in the cache."""

    def __init__(self, config: Config, cache: ContentCache, nav: dict[str, Any], links: dict[str, str]):
        self.config, self.cache, self.nav, self.links = config, cache, nav, links
        self._environment: jinja2.Environment | None = None
        # Only a `source_url` shows the commit: without one, a new commit keeps every page cached.
        self.commit = (head_commit(config.root) or "HEAD") if "{commit}" in config.source_url else "HEAD"
        import pygments

        # what every static file's key holds, and what every page's key holds besides
        self._static: list[bytes | str] = [
            config.cache_key,
            f"pygments {pygments.__version__}",
            *project_templates(config),
        ]
        # digested once: the sidebar and the links grow with the reports, and every page's key holds them
        self._common: list[bytes | str] = [
            digest_of(*self._static, self.commit, repr(nav), repr(sorted(links.items())))
        ]

    def _values(self, path: str, values: dict[str, Any]) -> dict[str, Any]:
        return {"current_bug": None, **values, "root": "../" * path.count("/"), "current": path, "nav": self.nav}

    def listing(self, name: str, rows: list[Any], context: Callable[[list[Any]], dict[str, Any]]) -> list[Page]:
        """A listing's pages: `name`.html with the first PER_PAGE[name] rows, `name`-2.html with the
        next, and so on, each with a pager (none where one page holds them all)."""
        size = PER_PAGE[name]
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)] or [rows]
        paths = [f"{name}.html", *(f"{name}-{number}.html" for number in range(2, len(chunks) + 1))]
        links = [{"number": number, "href": path} for number, path in enumerate(paths, start=1)]
        pages = []
        for number, (path, chunk) in enumerate(zip(paths, chunks), start=1):
            first = (number - 1) * size + 1
            pager = {"pages": links, "current": number, "first": first, "last": first + len(chunk) - 1, "of": len(rows)}
            pages.append(self.page(path, name, {**context(chunk), "pager": pager}))
        return pages

    def page(self, path: str, template: str, context: dict[str, Any]) -> Page:
        """A page whose context is cheap to make: the context itself is its key."""
        values = self._values(path, context)
        key = "site-" + digest_of(*self._common, path, template, repr(values)) + ".html"
        return Page(path, self._cached(key, lambda: self._render(template, values)))

    def bug(self, bug: BugStatus) -> Page:
        """A bug page: its key is a digest of the files it is made of, so a warm run neither runs
        git diff nor highlights any code."""
        path = bug_page(bug.report.bug_id)
        key = "site-" + digest_of(*self._common, path, *bug_inputs(self.config, bug)) + ".html"
        return Page(
            path,
            self._cached(
                key,
                lambda: self._render(
                    "bug",
                    self._values(
                        path,
                        {
                            **bug_context(self.config, bug, self.links, self.commit),
                            "current_bug": nav_entry(bug.report),
                        },
                    ),
                ),
            ),
        )

    def report(self, report: BugReport) -> Page:
        path = report_page(report.bug_id)
        key = (
            "site-"
            + digest_of(*self._common, path, report.path, (self.config.root / report.path).read_bytes())
            + ".html"
        )
        return Page(
            path,
            self._cached(
                key, lambda: self._render("report", self._values(path, report_context(self.config, report, self.links)))
            ),
        )

    def static(self, path: str, template: str, context: Callable[[], dict[str, Any]]) -> Page:
        """The stylesheet and the script: the same for every project but its own templates."""
        key = "site-" + digest_of(*self._static, path) + Path(path).suffix
        return Page(path, self._cached(key, lambda: self._render(template, context())))

    def _cached(self, key: str, make: Callable[[], str]) -> str:
        text = self.cache.get(key)
        if text is None:
            text = make()
            self.cache.put(key, text)
        return text

    def _render(self, template: str, context: Mapping[str, Any]) -> str:
        return render_with(self.environment, self.config, TEMPLATES[template], context)

    @property
    def environment(self) -> jinja2.Environment:
        if self._environment is None:
            self._environment = site_environment(self.config)
        return self._environment


def site_environment(config: Config) -> jinja2.Environment:
    """The documents' environment (the project's templates first, tracer's also as `tracer/NAME`,
    the sandbox, StrictUndefined), with HTML autoescaped: a title or a test id is text, never markup."""
    from tracer.render import template_environment

    environment = template_environment(config).overlay(autoescape=True, finalize=None)  # HTML escaping, not Markdown's
    environment.filters["ticks"] = inline_code
    environment.filters["state_class"] = lambda state: f"state-{state}"
    environment.filters["web"] = safe_url
    return environment


# The pages' contexts


def nav_context(bugs: Iterable[BugStatus], limit: int | None = None) -> dict[str, Any]:
    """The sidebar: every bug, grouped by status in the order a bug moves through them, each
    group sorted by ID. Over `limit` bugs, each group's count only (`complete` false): a list of
    thousands on every page would make each page megabytes, and the search finds any bug."""
    groups: dict[str, list[dict[str, str]]] = {str(status): [] for status in Status}
    for bug in sorted(bugs, key=lambda b: b.report.bug_id):
        groups[str(bug.report.status)].append(nav_entry(bug.report))
    complete = limit is None or sum(map(len, groups.values())) <= limit
    return {
        "complete": complete,
        "groups": [
            {"status": status, "count": len(rows), "bugs": rows if complete else []}
            for status, rows in groups.items()
            if rows
        ],
    }


def nav_entry(report: BugReport) -> dict[str, str]:
    """A bug as the sidebar lists it."""
    return {"id": report.bug_id, "title": report.title, "page": bug_page(report.bug_id), "status": str(report.status)}


def index_context(config: Config, bugs: Iterable[BugStatus]) -> dict[str, Any]:
    """One row a bug, as the Markdown index: ID, title, severity, status, verified of total,
    stale, failed and proven items, where verified; and the totals."""
    rows = []
    for bug in bugs:
        report = bug.report
        rows.append(
            {
                "bug_id": report.bug_id,
                "title": report.title,
                "severity": str(report.severity),
                "status": str(report.status),
                "page": bug_page(report.bug_id),
                "issue_link": safe_url(issue_link(config, report.bug_id)),
                **bug.summary,
            }
        )
    totals = {name: sum(row[name] for row in rows) for name in ("verified", "total", "stale", "failed", "proven")}
    totals["bugs"] = len(rows)
    return {"rows": rows, "totals": totals}


def environment_header(label: str) -> list[str]:
    """An environment's label in lines for a column header: "cpython 3.11", "linux", "device cpu"."""
    return [part for part in label.split(" / ") if part]


def matrix_view(matrix: Matrix, bugs: Sequence[BugStatus]) -> dict[str, Any]:
    """The matrix as the templates draw it: environment headers, and the rows by bug."""
    titles = {bug.report.bug_id: bug for bug in bugs}
    groups: dict[str, list[Any]] = {}
    for row in matrix.rows:
        groups.setdefault(row.bug_id, []).append(row)
    return {
        "environments": [{"label": label, "lines": environment_header(label)} for label in matrix.environments],
        "bugs": [
            {
                "bug_id": bug_id,
                "title": titles[bug_id].report.title,
                "page": bug_page(bug_id),
                "status_line": titles[bug_id].status_line,
                "rows": rows,
            }
            for bug_id, rows in groups.items()
        ],
    }


def matrix_context(bugs: Sequence[BugStatus]) -> dict[str, Any]:
    """Every checklist item of every bug against every environment, and the proofs."""
    return {"matrix": matrix_view(bug_matrix(bugs), bugs)}


def tags_context(config: Config, bugs: Iterable[BugStatus], scans: Sequence[FileScan], commit: str) -> dict[str, Any]:
    """Every tag in the code, by file then line: its scope (linked to its section on the bug
    page), its IDs (those without a report are orphans), its text, a link to the code; and the
    malformed ones."""
    pages = {bug.report.bug_id.casefold(): bug_page(bug.report.bug_id) for bug in bugs}
    sections = {
        (bug.report.bug_id.casefold(), tagged.path, tagged.scope.qualname): scope_anchor(number)
        for bug in bugs
        for number, tagged in enumerate(bug.tagged, start=1)
    }
    files, orphans = [], set()
    for scan in sorted(scans, key=lambda s: s.path):
        if not scan.scopes and not scan.malformed:
            continue
        tags: list[dict[str, Any]] = []
        for tagged in scan.scopes:
            for change in tagged.changes:
                ids, scope_link = [], ""
                for bug_id in change.bug_ids:
                    page = pages.get(bug_id.casefold(), "")
                    if not page:
                        orphans.add(bug_id)
                    elif not scope_link:
                        anchor = sections.get((bug_id.casefold(), scan.path, tagged.scope.qualname))
                        scope_link = page + (f"#{anchor}" if anchor else "")
                    ids.append({"id": bug_id, "page": page, "issue_link": safe_url(issue_link(config, bug_id))})
                tags.append(
                    {
                        "change": change,
                        "scope": tagged.scope,
                        "scope_link": scope_link,
                        "ids": ids,
                        "link": safe_url(source_link(config, scan.path, change.start_line, change.end_line, commit)),
                    }
                )
        tags.sort(key=lambda t: (t["change"].start_line, t["change"].end_line, t["scope"].qualname))
        files.append(
            {"path": scan.path, "anchor": "file-" + _anchor(scan.path), "tags": tags, "malformed": list(scan.malformed)}
        )
    return {"files": files, "orphans": sorted(orphans)}


def _anchor(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


# The report's sections a bug page shows: (context name, anchor, heading, what it says where absent;
# "" for a section shown only where the report has it)
_SECTIONS = (
    ("root_cause", "", "Root cause", "The report has no Root Cause section."),
    ("solution", "", "Solution", "The report has no Solution section."),
    ("alternatives", "alternatives", "Alternatives considered", ""),
    ("next_steps", "next-steps", "Next steps", "The report lists no next steps."),
    ("notes", "notes", "Notes", "The report has no notes."),
)


def bug_context(config: Config, bug: BugStatus, links: Mapping[str, str], commit: str) -> dict[str, Any]:
    """The code-changes document's context, with each scope's source highlighted (its change
    blocks marked), its diff coloured, the report's sections as HTML, and the bug's matrix."""
    page = bug_page(bug.report.bug_id)
    context = document_context(config, bug, None, config.root / page, commit)
    lines = read_lines(config.root, (t.path for t in bug.tagged))
    for view, tagged in zip(context["functions"], bug.tagged):
        view["blocks"] = [
            {
                "start": start,
                "end": end,
                "marked": marked,
                "html": highlight_python(lines[tagged.path], start, end, marked),
            }
            for start, end, marked in code_blocks(tagged)
        ]
        view["diff_html"] = highlight_diff(view["diff"].diff) if view["diff"].status is DiffStatus.CHANGED else None
        view["anchor"] = scope_anchor(view["number"])
        view["link"] = safe_url(view["link"])
        view["change_links"] = [safe_url(link) for link in view["change_links"]]
    resolve = link_resolver(bug.report.path, page, links)
    taken = {
        "overview",
        "summary",
        "functions",
        "testing",
        "matrix",
        *(anchor for _, anchor, _, _ in _SECTIONS if anchor),
    }
    taken |= {scope_anchor(n) for n in range(1, len(bug.tagged) + 1)}
    context["extra_sections"] = []
    for name, anchor, heading, absent in _SECTIONS:
        # the report's headings sit under the page's own h2 or h3: two levels down, so h2 reads as h4
        html = _shifted(markdown_to_html(context[name], resolve, "r-", taken)) or _note(absent)
        context[name + "_html"] = html
        if anchor and html:
            context["extra_sections"].append({"anchor": anchor, "heading": heading, "html": html})
    for name in ("overview_sections", "other_sections"):  # the report's other sections, as the document places them
        context[name + "_html"] = [
            (heading, _shifted(markdown_to_html(text, resolve, "r-", taken))) for heading, text in context[name]
        ]
    context["issue_link"] = safe_url(context["issue_link"])
    context["report_page"] = posixpath.relpath(report_page(bug.report.bug_id), "bugs")
    context["matrix"] = matrix_view(bug_matrix([bug]), [bug])
    return context


def _shifted(text: HtmlText, levels: int = 2) -> Markup:
    """The HTML with each heading `levels` lower, to sit under a page's own headings."""
    from markupsafe import Markup

    return Markup(re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m[1]}h{min(int(m[2]) + levels, 6)}", str(text.html)))


def _note(text: str) -> Markup:
    from markupsafe import Markup, escape

    return Markup(f"<p><em>{escape(text)}</em></p>") if text else Markup("")


def report_context(config: Config, report: BugReport, links: Mapping[str, str]) -> dict[str, Any]:
    """A report as a page of the site: its front matter as facts, its checklist, and its body
    (Markdown, with raw HTML escaped and links kept inside the site)."""
    page = report_page(report.bug_id)
    body = markdown_to_html(report.body, link_resolver(report.path, page, links), "", {"facts", "checklist"})
    groups: dict[str, list[Any]] = {}
    for item in report.checklist:
        groups.setdefault(item.group, []).append(item)
    return {
        "report": report,
        "body_html": _shifted(body, 1),  # the page has its own h1
        "headings": [h for h in body.headings if h.level <= 2],
        "groups": groups,
        "bug_page": posixpath.relpath(bug_page(report.bug_id), "reports"),
        "issue_link": safe_url(issue_link(config, report.bug_id)),
    }


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
    formatter = HtmlFormatter(
        linenos="inline", linenostart=start, hl_lines=[n - start + 1 for n in marked], wrapcode=True
    )
    return Markup(highlight(text, PythonLexer(stripnl=False, ensurenl=True), formatter))


def highlight_diff(diff: str) -> Markup:
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters.html import HtmlFormatter
    from pygments.lexers.diff import DiffLexer

    return Markup(
        highlight(
            diff.strip("\n") + "\n", DiffLexer(stripnl=False), HtmlFormatter(cssclass="highlight diff", wrapcode=True)
        )
    )


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
