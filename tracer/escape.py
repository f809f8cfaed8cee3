"""Escaping, one function per output format: every value from a repository (a title, a test id,
an environment fact, a file name) is data, and each output shows it as data and never as
structure.

- terminal (`terminal`): control characters (C0 but the line break, DEL, C1, bidirectional
  overrides, line and paragraph separators) shown as `\\x1b`, `\\u202e`; bytes of a file name that
  are not UTF-8 shown as `\\xe9`; no line can start a GitHub workflow command (`::` after
  blanks, or `##[` anywhere: their first `:` or `[` is shown as `\\u003a` or `\\u005b`, which
  reads the same in JSON), unless the caller prints its own annotations.
- one line (`one_line`): the same, with the line break escaped too, for a value inside a record.
- JSON (`json_text`): valid UTF-8 JSON whatever the value: a lone surrogate (a file name byte that
  is not UTF-8, kept as U+DC80-U+DCFF by Python's surrogateescape) is written as the JSON escape
  `\\udce9`, as `json.dumps(ensure_ascii=True)` writes it, and so are the invisible controls:
  lossless (Python's `json.loads` gives the same string back, `os.fsencode` the bytes).
- URIs (`uri_path`): a path percent-encoded as RFC 3986 asks, from its bytes.
- Markdown (`md_inline`, `code_span`, `link_target`): values flattened to one line, inline syntax
  escaped, code spans fenced longer than any backtick run inside. `MarkdownText` marks text that
  is Markdown already (built by tracer from escaped parts, or a report's own section)."""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote

# Characters that change what a terminal, a log viewer or a reader sees beyond their own glyph:
# C0 (but tab and line feed), DEL, C1, the bidirectional controls and the Unicode line breaks.
_INVISIBLE = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}\ud800-\udfff]")
_CONTROL_OR_BREAK = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}\ud800-\udfff]")
_CONTROL_OR_BREAK_BUT_BYTES = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}\ud800-\udc7f\udd00-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# A GitHub runner takes a line as a workflow command where, after leading blanks, it starts with
# "::", or (the older form) where it holds "##[" anywhere.
_WORKFLOW_COMMAND = re.compile(r"^([^\S\n]*):(?=:)|##\[", re.MULTILINE)


def _shown(char: str) -> str:
    """One character as a visible escape."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def one_line(text: str, keep_bytes: bool = False) -> str:
    """A value as one line of visible text: every control character and line break escaped
    (`keep_bytes`: but the bytes of a file name that is not UTF-8, which a document writes back
    as the bytes they are)."""
    pattern = _CONTROL_OR_BREAK_BUT_BYTES if keep_bytes else _CONTROL_OR_BREAK
    return pattern.sub(lambda m: _shown(m.group()), text)


def terminal(text: str, annotations: bool = False) -> str:
    """Text for a terminal or a CI log: line breaks kept, every other control escaped, and no line
    that a runner would take for a workflow command (`annotations`: the caller prints its own
    annotations, whose data is escaped already)."""
    text = _CONTROL.sub(lambda m: _shown(m.group()), text.replace("\r\n", "\n"))
    if annotations:
        return text
    # \u003a and \u005b: escapes that read alike in text and in JSON, where they decode to ":" and "["
    return _WORKFLOW_COMMAND.sub(lambda m: m.group(1) + "\\u003a" if m.group().endswith(":") else "##\\u005b", text)


def json_text(data: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON that is valid UTF-8 for any value, readable where it can be (non-ASCII kept as is):
    lone surrogates and invisible controls as `\\uXXXX` escapes."""
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# json.dumps escapes C0 itself; these it leaves as they are with ensure_ascii=False.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_INVISIBLE}\ud800-\udfff]")


def uri_path(path: str) -> str:
    """A relative path as an RFC 3986 URI reference: its bytes (a name that is not UTF-8 keeps
    them) percent-encoded, `/` kept."""
    return quote(os.fsencode(path) if _has_surrogates(path) else path.encode("utf-8"), safe="/")


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


# Markdown


class MarkdownText(str):
    """Text that is Markdown already: printed by the document templates as it is."""

    __slots__ = ()


_MD_SPECIAL = re.compile(
    r"[`*|]|<(?=[A-Za-z/!?])|\](?=[(\[])|\\(?=[!-/:-@\[-`{-~]|$)|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"
)


def md_inline(value: object) -> MarkdownText:
    """A value as inline Markdown text: one line, and no character of it opens a code span,
        emphasis, a link, an image, raw HTML or a table cell (a `]` is escaped where a `(` or `[` follows,
    which is all a link or an image needs, and a `<` where a tag or an autolink could start)."""
    if isinstance(value, MarkdownText):
        return value
    return MarkdownText(_MD_SPECIAL.sub(lambda m: "\\" + m.group(), one_line(str(value), keep_bytes=True)))


def code_span(value: object) -> MarkdownText:
    """A value as one Markdown code span: fenced with more backticks than any run inside, so
    nothing in it can end the span."""
    text = one_line(str(value), keep_bytes=True)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = (
        f" {text} "
        if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ") and text.strip())
        else text
    )
    return MarkdownText(f"{fence}{padded}{fence}")


def md_with_code(value: object) -> MarkdownText:
    """Text written for Markdown with `code spans` in it (a note tracer wrote, kept in a file a
    repository can change): the spans stay code spans, fenced afresh, the rest is inline text."""
    parts = re.split(r"`([^`]*)`", one_line(str(value), keep_bytes=True))
    return MarkdownText(
        "".join(
            code_span(part) if odd else md_inline(part)
            for odd, part in ((index % 2 == 1, part) for index, part in enumerate(parts))
        )
    )


def link_target(url: object) -> MarkdownText:
    """A link's destination: what could end it early (blanks, parentheses, angle brackets, controls)
    percent-encoded."""
    text = str(url)
    return MarkdownText(
        re.sub(
            r"[\x00-\x20\x7f()<>\\`]|[\ud800-\udfff]",
            lambda m: quote(m.group().encode("utf-8", "surrogateescape")),
            text,
        )
    )


def md_finalize(value: object) -> object:
    """Jinja's `finalize` for the Markdown templates: every `{{ value }}` is inline text unless it
    is Markdown already (`MarkdownText`, or what a template marks `| safe`)."""
    from markupsafe import Markup

    if isinstance(value, (MarkdownText, Markup)) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    return md_inline(value)


def unencodable(text: str) -> int | None:
    """Where `text` holds a lone surrogate that is no byte of a file name (JSON can write
    "\\ud800"; no file can hold it), or None."""
    match = _LONE_SURROGATE.search(text)
    return match.start() if match else None


_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
