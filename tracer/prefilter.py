"""Which files can hold an ID at all, decided on their bytes before anything is parsed: the
literal starts of the configured ID pattern (read from the pattern's own parse), and the
pattern itself run over the bytes or the text. Also the prefix `tracer new` puts before a date."""

from __future__ import annotations

import codecs
import importlib
import io
import re
from functools import lru_cache
from typing import Any

from tracer.sourcetext import SourceDecodeError, decode_source

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
    """Whether a file's bytes may hold an ID or a malformed tag. It may let through files
    without one, never drop a file with one (checked by hypothesis in
    tests/tracer/test_properties_scanner.py). Two passes, both in C: where the pattern's literal
    starts are long enough to narrow (`BUG-`, not Django's `#`), a plain byte search for them;
    then the ID pattern itself, compiled once, over the bytes where that is exact (an ASCII
    pattern over ASCII UTF-8 bytes) and over the decoded text elsewhere."""

    def __init__(self, id_regex: re.Pattern[str]):
        self.id_regex = id_regex
        self.literals = literal_starts(id_regex.pattern, id_regex.flags)
        self.needles: tuple[bytes, ...] = ()
        self.needle_regex: re.Pattern[bytes] | None = None
        self.malformed_regex: re.Pattern[str] | None = None
        # A comment that opens like an ID (what `looks_like_tag` reports): the files to keep
        # beside those with an ID.
        self.malformed_comment: re.Pattern[str] | None = None
        # An ID in the wrong case (`# bug-20251110-002:` for `BUG-...`) is a malformed tag too, never
        # silently ignored; "# bug-fix" is no ID in any case, so it is nothing.
        self.caseless_id = re.compile(id_regex.pattern, id_regex.flags | re.IGNORECASE)
        if self.literals is not None:
            alternatives = "|".join("".join(_class_regex(c) for c in literal) for literal in self.literals)
            self.malformed_regex = re.compile(alternatives)
            self.malformed_comment = re.compile(rf"#+\s*(?:{alternatives})", re.IGNORECASE)
            if min(len(literal) for literal in self.literals) >= _NARROWING:
                if all(len(c) == 1 for literal in self.literals for c in literal):
                    texts = {"".join(next(iter(c)) for c in literal).encode() for literal in self.literals}
                    # A needle that holds another needle adds nothing.
                    self.needles = tuple(sorted(t for t in texts if not any(o != t and o in t for o in texts)))
                else:
                    self.needle_regex = re.compile(alternatives.encode(), re.IGNORECASE)
        self.byte_regexes = _byte_regexes(id_regex, self.malformed_comment)

    def may_match(self, data: bytes) -> bool:
        utf8 = _is_utf8(data)
        if utf8 and self.needles and not any(needle in data for needle in self.needles):
            lowered = data.lower()  # an ID in the wrong case is a finding: keep its file
            if not any(needle.lower() in lowered for needle in self.needles):
                return False
        if utf8 and self.needle_regex is not None and self.needle_regex.search(data) is None:
            return False
        if utf8 and self.byte_regexes and _NOT_PLAIN_ASCII.search(data) is None:
            return any(regex.search(data) is not None for regex in self.byte_regexes)
        try:
            text = decode_source(data)
        except SourceDecodeError:
            return True  # unreadable: let the scan say so
        if self.id_regex.search(text) is not None:
            return True
        return self.malformed_comment is not None and self.malformed_comment.search(text) is not None

    def looks_like_tag(self, comment_body: str) -> bool:
        """A comment that starts like an ID but is not a tag: a malformed tag (an ID in the wrong
        case among them)."""
        if self.malformed_regex is not None and self.malformed_regex.match(comment_body) is not None:
            return True
        return self.literals is not None and self.caseless_id.match(comment_body) is not None


# Literals shorter than this let nearly every file through (`#` for Django's `#\d{4,5}\b`):
# the pattern itself is the better first pass.
_NARROWING = 2
# Bytes on which a str pattern and the same pattern over bytes may disagree: non-ASCII, and the
# ASCII separators \x1c-\x1f, which are whitespace (`\s`) to a str pattern only.
_NOT_PLAIN_ASCII = re.compile(rb"[\x1c-\x1f\x80-\xff]")


def _byte_regexes(id_regex: re.Pattern[str], malformed: re.Pattern[str] | None) -> tuple[re.Pattern[bytes], ...]:
    """The ID pattern (and the malformed-tag opening) compiled over bytes, where that means the
    same on plain ASCII bytes as over their text: an ASCII pattern (under IGNORECASE a non-ASCII
    letter such as the Kelvin sign matches ASCII `k`) that compiles as bytes (`\\u` escapes and
    `(?u)` do not). Empty where it does not."""
    compiled = []
    for regex in (id_regex, malformed):
        if regex is None:
            continue
        if not regex.pattern.isascii():
            return ()
        try:
            compiled.append(re.compile(regex.pattern.encode("ascii"), regex.flags & ~re.UNICODE))
        except (re.error, ValueError, OverflowError, RecursionError):
            return ()
    return tuple(compiled)


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
