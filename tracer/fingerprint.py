"""Fingerprints of code: a digest of its tokens that stays the same under every Python version.

Standard library only, so that a test can run it under every interpreter on the machine."""

from __future__ import annotations

import hashlib
import io
import textwrap
import tokenize

from tracer.sourcetext import split_lines

FINGERPRINT_SCHEME = 2  # 1 hashed tokenize's type numbers, which differ between Python versions

_STRING_STARTS = {"FSTRING_START": "FSTRING_END", "TSTRING_START": "TSTRING_END"}
_NO_TEXT = {"NEWLINE", "INDENT", "DEDENT", "ENDMARKER"}  # their text is layout, already in their kind


def fingerprint_source(source: str) -> str:
    """A digest of a scope's code tokens: the same wherever the scope sits in its file, however its
    comments and blank lines read, and under every Python version; different for any change of its
    code or docstrings.

    Token kinds are hashed by name, and the pieces 3.12+ splits an f-string into are joined back
    into the one STRING token earlier versions give, so the digest does not depend on the
    interpreter (scheme 2)."""
    text = textwrap.dedent(source)
    lines = split_lines(text)
    digest = hashlib.sha256()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        digest.update(b"untokenizable\0" + text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:16]
    depth, opened_at = 0, (0, 0)
    for token in tokens:
        kind = tokenize.tok_name[token.type]
        if kind in _STRING_STARTS:
            depth += 1
            if depth == 1:
                opened_at = token.start
            continue
        if depth:
            if kind in _STRING_STARTS.values():
                depth -= 1
                if depth == 0:
                    digest.update(f"STRING:{_span(lines, opened_at, token.end)}\0".encode("utf-8", "surrogatepass"))
            continue
        if kind in ("COMMENT", "NL") or (kind == "ERRORTOKEN" and not token.string.strip()):
            continue
        shown = "" if kind in _NO_TEXT else token.string
        digest.update(f"{kind}:{shown}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def _span(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The source text between two token positions (1-based lines, 0-based columns)."""
    (first, column), (last, end_column) = start, end
    if first == last:
        return lines[first - 1][column:end_column]
    return "\n".join([lines[first - 1][column:], *lines[first : last - 1], lines[last - 1][:end_column]])
