"""Fingerprints of code: a digest of each tagged scope's tokens that stays the same under every
Python version, and the code id that names one set of them.

`fingerprint_source` uses the standard library only, so that a test can run it under every
interpreter on the machine."""

from __future__ import annotations

import hashlib
import io
import json
import textwrap
import tokenize
from collections.abc import Iterable, Mapping
from pathlib import Path

from tracer.problems import TracerError
from tracer.sourcetext import SourceDecodeError, read_source, split_lines
from tracer.tags import TaggedScope

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


def scope_key(tagged: TaggedScope) -> str:
    return f"{tagged.path}::{tagged.scope.qualname}"


def fingerprints(root: Path, tagged: Iterable[TaggedScope]) -> dict[str, str]:
    """Fingerprint of each tagged scope of one bug, by `path::qualname`. A module is fingerprinted
    by its tagged blocks only: its functions have fingerprints of their own. A tagged file that
    cannot be read now is an error naming it, never the fingerprint of no code."""
    sources: dict[str, list[str]] = {}
    tagged = list(tagged)
    for item in tagged:
        if item.path not in sources:
            try:
                sources[item.path] = split_lines(read_source(root / item.path))
            except (OSError, SourceDecodeError) as error:
                raise TracerError(f"cannot read tagged file to fingerprint it: {error}", item.path) from None
    return fingerprints_of_lines(sources, tagged)


def fingerprints_of_lines(sources: Mapping[str, list[str]], tagged: Iterable[TaggedScope]) -> dict[str, str]:
    """`fingerprints` of files given as their lines (a file at another revision, say)."""
    result = {}
    for item in tagged:
        lines = sources[item.path]
        if item.scope.kind == "module":
            text = "\n".join("\n".join(lines[c.start_line - 1 : c.end_line]) for c in item.changes)
        else:
            text = "\n".join(lines[item.scope.start_line - 1 : item.scope.end_line])
        result[scope_key(item)] = fingerprint_source(text + "\n")
    return dict(sorted(result.items()))


def code_id(prints: Mapping[str, str]) -> str:
    """One name for a set of fingerprints: what a result records as the code it ran on."""
    return hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()[:12]


def changed_scopes(recorded: Mapping[str, str], current: Mapping[str, str]) -> set[str]:
    """Scopes changed, added or removed since the fingerprints were recorded."""
    return {scope for scope in recorded.keys() | current.keys() if recorded.get(scope) != current.get(scope)}
