"""Markdown from a report as HTML that is safe to publish: CommonMark and tables through
markdown-it-py with raw HTML escaped, links only to `http(s)` or to pages the caller resolves,
headings with ids for a table of contents. A report is hostile input: nothing in it becomes
markup, a script, or a link out of the site to a file that is not published."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.token import Token
    from markupsafe import Markup

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
WEB = ("http://", "https://")


def is_web_link(url: str) -> bool:
    """An absolute http or https URL: the only links out that a page may carry."""
    return url.strip().lower().startswith(WEB)


def safe_url(url: str) -> str:
    """`url` where it is an http(s) URL, else "": a URL template filled from the project's config
    or from a report is data, never `javascript:`."""
    return url if is_web_link(url) else ""


@dataclass(frozen=True)
class Heading:
    level: int
    anchor: str
    text: str


@dataclass(frozen=True)
class HtmlText:
    html: Markup
    headings: tuple[Heading, ...]


def slug(text: str) -> str:
    """An id from text: lowercase letters, digits and hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def markdown_to_html(
    text: str,
    resolve: Callable[[str], str | None] = lambda target: None,
    anchor_prefix: str = "",
    taken: set[str] | None = None,
) -> HtmlText:
    """`text` as HTML. A relative link goes where `resolve` says (a page of the site) or becomes
    its text; `#anchor`, `http` and `https` links stay; every other scheme becomes text. Images
    become their alt text (the site publishes no file the report points at). Each heading gets
    an id, `anchor_prefix` + its slug, unique among `taken` (which it extends)."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    if not text.strip():
        return HtmlText(Markup(""), ())
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(text)
    used = taken if taken is not None else set()
    headings = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            title = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
            anchor = base = anchor_prefix + slug(title)
            number = 2
            while anchor in used:
                anchor, number = f"{base}-{number}", number + 1
            used.add(anchor)
            token.attrSet("id", anchor)
            headings.append(Heading(int(token.tag[1]), anchor, " ".join(title.split())))
        if token.children:
            _links(token.children, resolve)
    return HtmlText(Markup(markdown.renderer.render(tokens, markdown.options, {})), tuple(headings))


def _links(children: list[Token], resolve: Callable[[str], str | None]) -> None:
    dropping = False
    for child in children:
        if child.type == "link_open":
            target = str(child.attrGet("href") or "")
            moved = _target(target, resolve)
            if moved is None:
                _as_text(child)
                dropping = True
            else:
                child.attrs = {"href": moved}
        elif child.type == "link_close" and dropping:
            _as_text(child)
            dropping = False
        elif child.type == "image":
            alt = "".join(c.content for c in child.children or [])
            _as_text(child, f"[image: {alt}]" if alt else "[image]")


def _target(target: str, resolve: Callable[[str], str | None]) -> str | None:
    if target.startswith("#"):
        return target
    if _SCHEME.match(target):
        return target if is_web_link(target) else None
    if target.startswith("/"):
        return None
    return resolve(target)


def _as_text(token: Token, content: str = "") -> None:
    token.type, token.tag, token.nesting, token.attrs, token.children = "text", "", 0, {}, None
    token.content = content


def inline_code(text: object) -> Markup:
    """Text with its `backtick spans` as <code>, escaped first: item details and tag texts are
    written for Markdown."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(str(text)))))
