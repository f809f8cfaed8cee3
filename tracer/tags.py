"""What a scan finds, and the text rules that find it: the frozen result types, the ID pattern
compiled once, the comment-tag matcher, and the byte prefilter that decides whether a file is
parsed at all. No libcst here (that is tracer.syntax): a warm `tracer trace` needs none of it."""

from __future__ import annotations

import codecs
import importlib
import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from tracer.problems import Problem, TracerError
from tracer.sourcetext import SourceDecodeError, decode_source


@dataclass(frozen=True, order=True)
class Change:
    """One change block: the lines a tag marks and what the tag says of them."""

    start_line: int
    end_line: int
    kind: str  # "comment" or "docstring"
    text: str
    bug_ids: tuple[str, ...]
    tag_line: int


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


def compile_id_pattern(pattern: str, key: str = "id_pattern", path: str | Path | None = None, line: int | None = None) -> re.Pattern[str]:
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


# The prefilter: which files can hold an ID at all

# A literal, as the characters each position may be: ("B",) ("U",) ... or, under IGNORECASE,
# ("b", "B") ("u", "U") ...
Literal = tuple[frozenset[str], ...]
_MAX_LITERALS = 64
# Non-ASCII characters that Python's `re` matches to an ASCII letter under IGNORECASE without
# re.ASCII (checked against every code point in tests/tracer/test_scanner_tags.py).
_IGNORECASE_EXTRAS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def literal_starts(pattern: str, flags: int = 0) -> tuple[Literal, ...] | None:
    """Literals one of which every match of `pattern` starts with, one per alternative branch
    (`bpo-\\d+|gh-\\d+` gives `bpo-` and `gh-`; `bugs?-\\d+` gives `bug`); None where some match
    may start with no literal at all (`[A-Z]+-\\d+`). Read from the parsed pattern, and only the
    parts whose meaning is certain: anything else ends the literal early, which can only make the
    prefilter let more files through, never fewer."""
    try:
        # re's own parser (internal, but the only exact reading of a pattern); any surprise
        # in it only costs speed, as the exact search then runs instead.
        parsed = importlib.import_module("re._parser").parse(pattern, flags)
        literals, _ = _sequence(list(parsed), parsed.state.flags, importlib.import_module("re._constants"))
    except Exception:  # noqa: BLE001
        return None
    if not literals or any(not literal for literal in literals):
        return None
    return tuple(sorted(set(literals), key=lambda lit: [sorted(c) for c in lit]))


def _sequence(items: list[tuple[Any, Any]], flags: int, k: Any) -> tuple[list[Literal], bool]:
    """The literal starts of a sequence of parsed items, and whether all of it was literal."""
    results: list[Literal] = [()]
    for op, argument in items:
        step = _item(op, argument, flags, k)
        if step is None:  # zero-width: an anchor or a lookaround constrains, never consumes
            continue
        alternatives, complete = step
        combined = list(dict.fromkeys(r + a for r in results for a in alternatives))
        if len(combined) > _MAX_LITERALS:
            return results, False
        results = combined
        if not complete:
            return results, False
    return results, True


def _item(op: Any, argument: Any, flags: int, k: Any) -> tuple[list[Literal], bool] | None:
    none: tuple[list[Literal], bool] = ([()], False)
    if op is k.LITERAL:
        char_class = _char_class(chr(argument), flags)
        return ([(char_class,)], True) if char_class else none
    if op is k.IN:
        members = list(argument)
        if not members or len(members) > 8 or any(kind is not k.LITERAL for kind, _ in members):
            return none
        classes = [_char_class(chr(code), flags) for _, code in members]
        if any(c is None for c in classes):
            return none
        return [(frozenset(char for c in classes if c for char in c),)], True
    if op is k.SUBPATTERN:
        _, add, remove, sub = argument
        return _sequence(list(sub), (flags | add) & ~remove, k)
    if op is k.ATOMIC_GROUP:
        return _sequence(list(argument), flags, k)
    if op is k.BRANCH:
        alternatives: list[Literal] = []
        complete = True
        for branch in argument[1]:
            literals, whole = _sequence(list(branch), flags, k)
            alternatives += literals
            complete = complete and whole
        return alternatives, complete
    if op in (k.MAX_REPEAT, k.MIN_REPEAT, k.POSSESSIVE_REPEAT):
        low, _, sub = argument
        if low < 1:
            return none
        return _sequence(list(sub), flags, k)[0], False
    if op in (k.AT, k.ASSERT, k.ASSERT_NOT):
        return None
    return none


def _char_class(char: str, flags: int) -> frozenset[str] | None:
    """The characters `char` matches under `flags`; None where that is not known for certain."""
    if not flags & re.IGNORECASE:
        return frozenset(char)
    if not char.isascii():
        return None
    lower = char.lower()
    if lower == char.upper():
        return frozenset(char)
    extras = "" if flags & re.ASCII else _IGNORECASE_EXTRAS.get(lower, "")
    return frozenset((lower, char.upper(), *extras))


def literal_prefix(id_pattern: str, flags: int = 0) -> str:
    """The literal, case-sensitive text every ID starts with (`BUG-` for `BUG-\\d{8}-\\d{3}`,
    `` for `bpo-\\d+|gh-\\d+`): what `tracer new` puts before the date."""
    literals = literal_starts(id_pattern, flags)
    if not literals:
        return ""
    texts = []
    for literal in literals:
        text = ""
        for char_class in literal:
            if len(char_class) != 1:
                break
            text += next(iter(char_class))
        texts.append(text)
    first, last = min(texts), max(texts)
    length = next((i for i, (a, b) in enumerate(zip(first, last)) if a != b), min(len(first), len(last)))
    return first[:length]


class Prefilter:
    """Whether a file's bytes may hold an ID: a byte search for the pattern's literal starts in
    UTF-8 files, else (no literal, another encoding) decoding the file and searching it with the
    ID pattern itself. It may let through files without an ID, never drop one with an ID."""

    def __init__(self, id_regex: re.Pattern[str]):
        self.id_regex = id_regex
        self.literals = literal_starts(id_regex.pattern, id_regex.flags)
        self.needles: tuple[bytes, ...] = ()
        self.byte_regex: re.Pattern[bytes] | None = None
        self.malformed_regex: re.Pattern[str] | None = None
        if self.literals is None:
            return
        alternatives = ["".join(_class_regex(c) for c in literal) for literal in self.literals]
        self.malformed_regex = re.compile("|".join(alternatives))
        if all(len(c) == 1 for literal in self.literals for c in literal):
            texts = {"".join(next(iter(c)) for c in literal).encode() for literal in self.literals}
            # A needle that holds another needle adds nothing.
            self.needles = tuple(sorted(t for t in texts if not any(o != t and o in t for o in texts)))
        else:
            self.byte_regex = re.compile("|".join(alternatives).encode())

    def may_match(self, data: bytes) -> bool:
        if self.literals is not None and _is_utf8(data):
            if self.byte_regex is not None:
                return self.byte_regex.search(data) is not None
            return any(needle in data for needle in self.needles)
        try:
            return self.id_regex.search(decode_source(data)) is not None
        except SourceDecodeError:
            return True  # unreadable: let the scan say so

    def looks_like_tag(self, comment_body: str) -> bool:
        """A comment that starts like an ID but is not a tag: a malformed tag."""
        return self.malformed_regex is not None and self.malformed_regex.match(comment_body) is not None


def _class_regex(char_class: frozenset[str]) -> str:
    if len(char_class) == 1:
        return re.escape(next(iter(char_class)))
    return "(?:" + "|".join(sorted(re.escape(c) for c in char_class)) + ")"


def _is_utf8(data: bytes) -> bool:
    """Whether Python reads these bytes as UTF-8: no PEP 263 cookie, or one that says UTF-8."""
    end = 0
    for _ in range(2):  # the cookie may only be on the first two lines
        found = [i for i in (data.find(b"\n", end), data.find(b"\r", end)) if i >= 0]
        end = min(found) + 1 if found else len(data)
    if b"coding" not in data[:end]:
        return True
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return False
    return _codec_name(encoding) == "utf-8"


@lru_cache(maxsize=32)
def _codec_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name.removesuffix("-sig")
    except LookupError:
        return encoding
