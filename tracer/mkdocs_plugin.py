"""tracer inside MkDocs: with `plugins: [tracer]` in `mkdocs.yml`, every build adds a page per
bug, the traceability matrix and the tags by file to the team's own site, in its theme, under a
"Bugs" section of its navigation. Registered through the `mkdocs.plugins` entry point; mkdocs
itself is an optional dependency (`pip install 'bugfix-tracer[mkdocs]'`).

The pages are Markdown made from `tracer/templates/mkdocs-*.md.j2` (a project overrides them as
it does the others): headings, lists and links in Markdown, so the theme's table of contents
and MkDocs' link checks see them; the matrix and the report's own prose as HTML that tracer
escaped and sanitised, since Python-Markdown would pass a report's raw HTML through."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config import config_options
from mkdocs.config.base import Config as MkDocsPluginConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files

from tracer.problems import TracerError

if TYPE_CHECKING:
    from markupsafe import Markup
    from mkdocs.config.defaults import MkDocsConfig

    from tracer.api import Project

STYLESHEET = "tracer.css"


class TracerPluginConfig(MkDocsPluginConfig):  # type: ignore[no-untyped-call]
    project_dir = config_options.Type(
        str, default=""
    )  # where tracer looks for pyproject.toml; default: mkdocs.yml's folder
    folder = config_options.Type(str, default="bugs")  # the folder of the site the pages go in
    nav_title = config_options.Type(str, default="Bugs")


class TracerPlugin(BasePlugin[TracerPluginConfig]):  # type: ignore[no-untyped-call]
    """Makes the pages in `on_config` (so an unreadable report or evidence file stops the build
    with its name and line, before MkDocs reads anything) and adds them in `on_files`."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.titles: list[tuple[str, str]] = []

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        folder = self.config.folder.strip("/")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", folder) or ".." in folder.split("/"):
            raise PluginError(f"tracer: folder must be a relative folder of the site, got {self.config.folder!r}")
        start = Path(config.config_file_path or ".").resolve().parent / self.config.project_dir
        try:
            self.pages, self.titles = mkdocs_pages(_project(start), folder)
        except TracerError as error:
            raise PluginError(f"tracer: {error}") from None
        config.extra_css.append(f"{folder}/{STYLESHEET}")
        if config.nav is not None and not _mentions(config.nav, folder):
            config.nav.append({self.config.nav_title: [{title: path} for title, path in self.titles]})
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        for path, text in sorted(self.pages.items()):
            if files.get_file_from_path(path) is not None:
                raise PluginError(
                    f"tracer: {path} is a file of the docs already; set the plugin's folder to another one"
                )
            files.append(File.generated(config, path, content=text))
        return files


def _project(start: Path) -> Project:
    from tracer.api import Project
    from tracer.config import load_config

    return Project(load_config(start))


def _mentions(nav: Any, folder: str) -> bool:
    """Whether the user's own nav already lists a page of tracer's folder."""
    if isinstance(nav, str):
        return nav.startswith(folder + "/")
    if isinstance(nav, dict):
        return any(_mentions(value, folder) for value in nav.values())
    if isinstance(nav, list):
        return any(_mentions(value, folder) for value in nav)
    return False


def mkdocs_pages(project: Project, folder: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Every page's Markdown by its path in the docs, and the nav entries (title, path): the
    overview, the matrix, the tags, then each bug."""
    from tracer.matrix import bug_matrix
    from tracer.render import render_with
    from tracer.site import (
        bug_context,
        index_context,
        matrix_view,
        nav_context,
        page_stem,
        report_context,
        tags_context,
    )

    config = project.config
    bugs = []
    for outcome in project.all_bugs():
        if isinstance(outcome, TracerError):
            raise outcome
        bugs.append(outcome)
    environment = mkdocs_environment(project)
    stems = {bug.report.bug_id: page_stem(bug.report.bug_id) for bug in bugs}

    def render(name: str, context: dict[str, Any]) -> str:
        return render_with(
            environment, config, f"mkdocs-{name}.md.j2", {**context, "stems": stems, "nav": nav_context(bugs)}
        )

    newest = sorted(bugs, key=lambda b: (b.report.created, b.report.bug_id), reverse=True)
    pages = {
        f"{folder}/index.md": render("index", index_context(config, newest)),
        f"{folder}/matrix.md": render("matrix", {"matrices": [matrix_view(bug_matrix([bug]), [bug]) for bug in bugs]}),
        f"{folder}/tags.md": render("tags", tags_context(config, bugs, project.scans, "HEAD")),
        f"{folder}/{STYLESHEET}": render_with(environment, config, "mkdocs-style.css.j2", {}),
    }
    titles = [
        ("Overview", f"{folder}/index.md"),
        ("Traceability matrix", f"{folder}/matrix.md"),
        ("Tags by file", f"{folder}/tags.md"),
    ]
    for bug in bugs:
        stem = stems[bug.report.bug_id]
        pages[f"{folder}/{stem}.md"] = render("bug", bug_context(config, bug, {}, "HEAD"))
        pages[f"{folder}/reports/{stem}.md"] = render("report", report_context(config, bug.report, {}))
        titles.append((bug.report.bug_id, f"{folder}/{stem}.md"))
    return pages, titles


def mkdocs_environment(project: Project) -> Any:
    """The site's environment (sandboxed, autoescaped, the project's templates first) with `md`:
    text escaped for Markdown, so a title is never markup, a link or a heading."""
    from tracer.site import site_environment

    environment = site_environment(project.config)
    environment.filters["md"] = markdown_text
    return environment


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")


def markdown_text(text: object) -> Markup:
    """Text for one line of Markdown: `&`, `<` and `>` as entities, Markdown's punctuation
    backslash-escaped, line breaks folded, so Python-Markdown shows it as the same text."""
    from markupsafe import Markup

    flat = " ".join(str(text).split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Markup(_MARKDOWN_SPECIAL.sub(r"\\\1", flat))
