"""What a scan finds, and the text rules that find it: the frozen result types, the ID pattern
compiled once and the comment-tag matcher. No libcst here (that is tracer.syntax), and no
prefilter (tracer.prefilter): a warm `tracer trace` needs none of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tracer.problems import Problem, TracerError


@dataclass(frozen=True, order=True)
class Change:
    """One change block: the lines a tag marks and what the tag says of them. Where several tags
    of one bug mark the same lines, the block is listed once: `tag_lines` names every tag, and
    `text` joins what they say (see `tracer.scanner.iter_tagged`)."""

    start_line: int
    end_line: int
    kind: str  # "comment" or "docstring"
    text: str
    bug_ids: tuple[str, ...]
    tag_line: int
    tag_lines: tuple[int, ...] = ()  # every tag of the block; () in a file's scan, one Change a tag


@dataclass(frozen=True)
class Scope:
    """The innermost def, async def or class around a tag, or the module."""

    qualname: str
    kind: str  # "function", "method", "class" or "module"
    start_line: int
    end_line: int
    signature: str


@dataclass(frozen=True)
class TaggedScope:
    path: str
    scope: Scope
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class MalformedTag:
    line: int
    text: str


@dataclass(frozen=True)
class FileScan:
    path: str
    scopes: tuple[TaggedScope, ...] = ()
    malformed: tuple[MalformedTag, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)


# The ID pattern


def compile_id_pattern(
    pattern: str, key: str = "id_pattern", path: str | Path | None = None, line: int | None = None
) -> re.Pattern[str]:
    """The configured ID pattern, compiled once and used on its own: tags are matched by a loop
    around `match` (see `match_tag`), never by pasting the pattern into a larger regex, so its
    groups, named groups, backreferences, inline flags (`(?i)`), `#` and spaces mean what they
    mean in the pattern alone. Bad patterns raise TracerError naming `key`."""
    try:
        regex = re.compile(pattern)
    except (re.error, OverflowError, RecursionError, ValueError) as error:
        raise TracerError(f"{key} is not a valid regular expression: {pattern!r}: {error}", path, line) from None
    if regex.fullmatch("") is not None:
        raise TracerError(f"{key} matches the empty string: {pattern!r}, so every comment would be a tag", path, line)
    return regex


# Comment tags: `# ID[, ID ...][:] text`

_SPACE = re.compile(r"\s*")
# Between two IDs of one tag: a comma, `&`, `/` or the word `and`, or only spaces.
_SEPARATOR = re.compile(r"\s*(?:[,&/]|\band\b)?\s*")


class TagMatch(NamedTuple):  # a NamedTuple: a dataclass costs a millisecond to import
    ids: tuple[str, ...]
    text: str


def match_tag(comment: str, id_regex: re.Pattern[str]) -> TagMatch | None:
    """A comment tag: one or more IDs at the start of the comment, then an optional colon and
    the change text. Hand-written rather than one regex because the ID pattern is the user's
    (see `compile_id_pattern`), and because a loop that only ever moves forward runs in time
    linear in the comment (a backtracking regex over a 100 kB comment took 33 s)."""
    if not comment.startswith("#"):
        return None
    position = _skip(_SPACE, comment, 1)
    ids: list[str] = []
    end = position
    while True:
        found = id_regex.match(comment, position)
        if found is None or found.end() == position:  # an empty match is no ID
            break
        ids.append(found.group())
        end = found.end()
        position = _skip(_SEPARATOR, comment, end)
    if not ids:
        return None
    rest = comment[end:].lstrip()
    return TagMatch(tuple(dict.fromkeys(ids)), rest.removeprefix(":").strip())


def _skip(regex: re.Pattern[str], text: str, position: int) -> int:
    found = regex.match(text, position)
    return found.end() if found else position


def ids_in(text: str, id_regex: re.Pattern[str]) -> tuple[str, ...]:
    """Every distinct non-empty ID in `text`, in order of first appearance."""
    return tuple(dict.fromkeys(m.group() for m in id_regex.finditer(text) if m.group()))


def docstring_text(line: str, id_regex: re.Pattern[str]) -> str:
    """What a docstring line says of the first ID on it: the words after it, else (when the ID
    closes the line, as in "Checks (BUG-...)") the words before it."""
    match = next((m for m in id_regex.finditer(line) if m.group()), None)
    if match is None:
        return ""
    rest = _clean(id_regex.sub("", line[match.end() :]))
    return rest or _clean(id_regex.sub("", line))


def _clean(text: str) -> str:
    """Docstring text without quotes, brackets and punctuation left at its ends."""
    return text.strip().strip("\"'").strip(" ,&/:;.()[]").strip()
