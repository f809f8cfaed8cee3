"""The text rules of a tag: the ID pattern compiled on its own, the comment matcher, and the
prefilter that must never drop a file holding an ID."""

from __future__ import annotations

import re
import sys

import pytest

from tracer.problems import TracerError
from tracer.scanner import Prefilter, compile_id_pattern, literal_prefix, literal_starts, match_tag, scan_source

BODY = "def f():\n    # {tag}: the fix\n    return 1\n"


def test_an_invalid_id_pattern_is_an_error_naming_the_key():
    with pytest.raises(TracerError, match="id_pattern is not a valid regular expression: '\\(\\?P<x>'"):
        compile_id_pattern("(?P<x>")
    with pytest.raises(TracerError, match="id_pattern matches the empty string"):
        compile_id_pattern(r"\d*")


@pytest.mark.parametrize(
    ("pattern", "tag", "ids"),
    [
        (r"(?i)(?P<kind>bug|gh)-(\d+)", "GH-12, bug-3", ("GH-12", "bug-3")),
        (r"(BUG)-(\d+)-\1", "BUG-1-BUG", ("BUG-1-BUG",)),
        (r"(?P<ids>X)-\d+", "X-1 and X-2", ("X-1", "X-2")),  # our own group names cannot collide
        (r"BUG #\d+", "BUG #12", ("BUG #12",)),  # a space and a `#`: no VERBOSE reading
        (r"(?x) BUG - \d+  # the flag reads this as BUG-\d+", "BUG-7", ("BUG-7",)),
    ],
)
def test_an_id_pattern_with_groups_flags_spaces_or_hashes_is_matched_on_its_own(pattern, tag, ids):
    regex = compile_id_pattern(pattern)
    assert match_tag(f"# {tag}: the fix", regex).ids == ids
    (tagged,) = scan_source("a.py", BODY.format(tag=tag), regex).scopes
    assert tagged.changes[0].bug_ids == ids and tagged.changes[0].text == "the fix"


def test_the_matcher_moves_forward_only():
    """A 1 MB comment: the loop calls `match` once per ID and separator, never backtracking
    over the comment (the old VERBOSE regex retried every split of the text)."""
    regex = compile_id_pattern(r"BUG-\d+")
    calls = []

    class Counting:
        def match(self, text, position):
            calls.append(position)
            return regex.match(text, position)

    comment = "# " + "BUG-1 " * 1000 + "x" * 1_000_000
    found = match_tag(comment, Counting())  # type: ignore[arg-type]
    assert len(found.ids) == 1 and len(calls) == 1001 and calls == sorted(calls)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"BUG-\d{8}-\d{3}", {"BUG-"}),
        (r"bpo-\d+|gh-\d+", {"bpo-", "gh-"}),
        (r"(?:gh|bpo)-\d+", {"gh-", "bpo-"}),
        (r"bugs?-\d+", {"bug"}),
        (r"gh-?\d+", {"gh"}),
        (r"[Bb]ug-\d+", {"[Bb]ug-"}),
        (r"(?P<p>ISSUE)-\d+", {"ISSUE-"}),
        (r"^\bBUG(?=-)-\d+", {"BUG-"}),
        (r"[A-Z]+-\d+", None),
        (r"(?:BUG|\d+)-x", None),
        (r"(BUG)\1", {"BUG"}),
    ],
)
def test_literal_starts_one_per_branch(pattern, literals):
    found = literal_starts(pattern)
    as_text = (
        None
        if found is None
        else {"".join(min(c) if len(c) == 1 else "[" + "".join(sorted(c)) + "]" for c in literal) for literal in found}
    )
    assert as_text == literals


def test_literal_prefix_is_what_every_id_starts_with():
    assert literal_prefix(r"BUG-\d{8}-\d{3}") == "BUG-"
    assert literal_prefix(r"bpo-\d+|bpx-\d+") == "bp"
    assert literal_prefix(r"(?i)bug-\d+") == ""


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"bpo-\d+|gh-\d+", "gh-1"),
        (r"bugs?-\d+", "bug-3"),
        (r"gh-?\d+", "gh2"),
        (r"(?i)bug-\d+", "BuG-1"),
        (r"(?i)issue-\d+", "\u0130\u017f\u017fue-1"),  # İ and ſ match i and s under IGNORECASE
        (r"(?i:k)-\d+", "\u212a-1"),  # the Kelvin sign matches k
        (r"X-\d+", "X-\u0663"),  # an Arabic-Indic digit is a \d
        (r"[A-Z]+-\d+", "AB-1"),
    ],
)
def test_the_prefilter_keeps_every_file_with_a_match(pattern, text):
    regex = compile_id_pattern(pattern)
    assert regex.search(text)
    prefilter = Prefilter(regex)
    assert prefilter.may_match(f"x = 1  # {text}: fix\n".encode())
    cookie = f"# -*- coding: latin-1 -*-\n# {text}\n"
    if all(ord(c) < 256 for c in cookie):
        assert prefilter.may_match(cookie.encode("latin-1"))


def test_the_prefilter_drops_files_without_the_literal():
    prefilter = Prefilter(compile_id_pattern(r"bpo-\d+|gh-\d+"))
    assert not prefilter.may_match(b"x = 1  # bp-1 g-1\n")


def test_ascii_letters_have_no_other_ignorecase_matches_than_listed():
    """The prefilter's table of non-ASCII characters that match an ASCII letter under
    IGNORECASE, checked against this Python's `re` over every code point."""
    from tracer.prefilter import _IGNORECASE_EXTRAS

    letters = re.compile("[a-z]", re.IGNORECASE)
    found = {chr(c) for c in range(128, sys.maxunicode + 1) if letters.fullmatch(chr(c))}
    assert found == set("".join(_IGNORECASE_EXTRAS.values()))
    for lower, extras in _IGNORECASE_EXTRAS.items():
        assert all(re.fullmatch(lower, extra, re.IGNORECASE) for extra in extras)


# Where no literal narrows the search (issue 24: Django's `#\d{4,5}\b` has only `#`)


def test_where_no_literal_narrows_the_prefilter_runs_the_pattern_itself_over_the_bytes():
    prefilter = Prefilter(compile_id_pattern(r"#\d{4,5}\b"))
    assert prefilter.needles == () and prefilter.needle_regex is None and prefilter.byte_regexes
    assert not prefilter.may_match(b"x = 1  # an ordinary comment, as in every file\n")
    assert not prefilter.may_match(b'x = "#123"  # too short, in a string\n')
    assert prefilter.may_match(b"# #123: too short\n")  # a malformed tag: the file is kept to report it
    assert prefilter.may_match(b"x = 1  # #12345: fix\n")
    assert prefilter.may_match("# caf\u00e9 #12345\n".encode())  # not ASCII: the text is searched
    assert not prefilter.may_match("# caf\u00e9 #123\n".encode())


def test_the_prefilter_keeps_a_file_whose_only_tag_is_malformed():
    assert Prefilter(compile_id_pattern(r"BUG-\d{8}-\d{3}")).may_match(b"# BUG-2025: typo\n")
    short = Prefilter(compile_id_pattern(r"X\d+"))  # the literal `X` is too short to search for alone
    assert short.needles == ()
    assert short.may_match(b"# X-1: typo\n") and not short.may_match(b"y = MAX_SIZE  # no tag\n")
    assert scan_source("a.py", "# X-1: typo\n", compile_id_pattern(r"X\d+")).malformed  # what it keeps the file for


def test_a_comment_opening_with_hashes_is_read_from_its_first_hash():
    r"""Django's `#\d{4,5}\b` starts with the comment's own character: a `#` further along the
    line must not hide where the comment starts. Found on Django's sources: headings such as
    `# ### Envelope checking ###` above a def were lost as malformed tags, and `# #12345: fix`
    could be lost as a tag."""
    pattern = compile_id_pattern(r"#\d{4,5}\b")
    source = "x = 1\n\n# ### Heading ###\n\n\n# ### Envelope checking ###\ndef f():\n    # #12345: fix\n    return 1\n"
    scan = scan_source("a.py", source, pattern)
    assert [tag.line for tag in scan.malformed] == [3, 6]
    assert [(change.bug_ids, change.text) for scope in scan.scopes for change in scope.changes] == [
        (("#12345",), "fix")
    ]


@pytest.mark.parametrize("pattern", [r"(?i)\u212a-\d+", r"bug\s\d+", r"(?u)bug-\d+", "caf\u00e9-\\d+"])
def test_the_pattern_runs_over_the_text_where_bytes_could_read_it_otherwise(pattern):
    regex = compile_id_pattern(pattern)
    assert regex.search("# k-1 bug\x1c2 bug-3 caf\u00e9-4")
    prefilter = Prefilter(regex)
    assert prefilter.may_match("# k-1 bug\x1c2 bug-3 caf\u00e9-4\n".encode())
