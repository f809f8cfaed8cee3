"""A report's Markdown as HTML for the site: whatever the text, the HTML holds only the tags
CommonMark makes, no attribute but ids, hrefs and a code block's class, and no link but
in-page anchors, http(s) URLs and the pages the caller resolves."""

from __future__ import annotations

import html5lib
from hypothesis import given
from hypothesis import strategies as st

from tracer.htmltext import markdown_to_html

ALLOWED = {
    "p",
    "em",
    "strong",
    "code",
    "pre",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "blockquote",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "html",
    "head",
    "body",
}
PIECES = st.sampled_from(
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[a](javascript:alert(1))",
        "[b](JAVASCRIPT:x)",
        "[c](data:text/html,x)",
        "[d](https://example.org/d)",
        "[e](other.md#part)",
        "[f](../up.md)",
        "![g](https://example.org/g.png)",
        "<https://example.org/h>",
        "<mailto:x@example.org>",
        "# heading",
        "## heading",
        "`code`",
        "```\n<b>fenced</b>\n```",
        "| a | b |\n| - | - |\n| 1 | 2 |",
        "[h](vbscript:x)",
        "[i](file:///etc/passwd)",
        "[j](#anchor)",
        "<a href='javascript:x'>k</a>",
        "&lt;",
        "\n\n",
        " ",
    ]
)


def resolve(target: str) -> str | None:
    return "resolved.html" if target.startswith("other.md") else None


@given(st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=12).map("".join))
def test_any_markdown_gives_only_safe_tags_and_links(text):
    result = markdown_to_html(text, resolve)
    tree = html5lib.parse(str(result.html), namespaceHTMLElements=False)
    for element in tree.iter():
        assert element.tag in ALLOWED, element.tag
        assert set(element.attrib) <= {"id", "href", "class"}, element.attrib
        if element.tag == "a":
            href = element.get("href")
            assert href.startswith(("#", "http://", "https://")) or href == "resolved.html", href
    ids = [h.anchor for h in result.headings]
    assert len(ids) == len(set(ids))


def test_relative_links_go_where_the_caller_says_and_others_become_text():
    html = str(
        markdown_to_html("See [the doc](other.md#part), [up](../up.md) and [web](https://example.org).", resolve).html
    )
    assert (
        '<a href="resolved.html">the doc</a>' in html
        and "up" in html
        and '<a href="https://example.org">web</a>' in html
    )
    assert "../up.md" not in html
