"""Property tests of the readers of user files: whatever bytes a report or an evidence file holds,
loading gives reports or findings naming the file, never an exception. Mutations start from real
files, so they reach deep into the schema, not only the YAML parser."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tracer.conftest import BUG, report_text
from tracer.config import Config
from tracer.evidence import EvidenceError, load_evidence
from tracer.reports import load_reports

EXAMPLES = int(os.environ.get("TRACER_HYPOTHESIS_EXAMPLES", "200"))
ROOT = Path(__file__).resolve().parents[2]
REAL_REPORT = (ROOT / "docs/bug_reports/bug-20251110-002-nan-gradients-from-step-function-overflow.md").read_bytes()
SMALL_REPORT = report_text(
    items="  - id: a\n    group: g\n    text: t\n    manual: {by: x, reason: y}\n", body="## Notes\nx\n"
).encode()
EVIDENCE = next((ROOT / "docs/bug_reports/evidence/bug-20251110-002").glob("*.json")).read_bytes()
YAML_BITS = [
    b": ",
    b"- ",
    b"&a ",
    b"*a",
    b"!!str ",
    b"!!python/name:x ",
    b"[",
    b"]",
    b"{",
    b"}",
    b"'",
    b'"',
    b"\n",
    b"  ",
    b"yes",
    b"null",
    b"2025-02-30",
    b"2025-01-01 10:00:00",
    b"1e999",
    b"\xff",
    b"\t",
    b"---\n",
    b"#",
    b"|",
    b">",
]
JSON_BITS = [
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b":",
    b",",
    b"null",
    b"1",
    b"-1",
    b"true",
    b'"passed"',
    b'"flaky"',
    b"\\u0000",
    b"\xff",
]


def mutated(base: bytes, bits: list[bytes]) -> st.SearchStrategy[bytes]:
    """`base` with a few pieces cut out, doubled or replaced by characters that matter to the format."""
    edit = st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.sampled_from([b"", *bits]))

    def apply(edits: list[tuple[int, int, bytes]]) -> bytes:
        data = base
        for start, length, insert in edits:
            data = data[:start] + insert + data[start + length :]
        return data

    return st.lists(edit, min_size=1, max_size=6).map(apply)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(mutated(REAL_REPORT, YAML_BITS), mutated(SMALL_REPORT, YAML_BITS), st.binary(max_size=300)))
def test_report_loading_never_raises(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("project")
    path = root / "docs" / "bug_reports" / f"{BUG.lower()}-x.md"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    reports = load_reports(Config(root=root))
    assert len(reports.reports) + len({p.path for p in reports.problems}) == 1
    assert all(p.path == path.relative_to(root).as_posix() and p.line >= 1 for p in reports.problems)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(mutated(EVIDENCE, JSON_BITS), st.binary(max_size=200), st.just(b"[" * 100_000 + b"]" * 100_000)))
def test_evidence_loading_names_the_file_or_reads_it(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("project")
    folder = root / "docs" / "bug_reports" / "evidence" / "bug-20251110-002"
    folder.mkdir(parents=True)
    path = folder / next((ROOT / "docs/bug_reports/evidence/bug-20251110-002").glob("*.json")).name
    path.write_bytes(data)
    try:
        load_evidence(Config(root=root), "BUG-20251110-002")
    except EvidenceError as error:
        assert str(error.path).endswith(path.name)


MARKDOWN_BITS = ["[a](b.md)", "[x](https://e.org)", "[y](#top)", '[t](c.md "title")', "![i](img.png)", "](", "[", "]",
                 "{{ x }}", "{% y %}", "TODO", "TBD", "<fill in>", "<describe\nit>", "```", "~~~", "````py", "  ```",
                 "\n", "\r\n", "\r", " ", "\t", '"', "text", "ü", "todo", "<fİll>", "<descrıbe>", "ſ", "K"]  # fmt: skip


def facts_line_by_line(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """How the facts were read before: each prose line on its own (the oracle of `markdown_facts`)."""
    from tracer.check import _LINK, _PLACEHOLDER, _SCHEME
    from tracer.reports import code_lines

    lines = [line.rstrip("\r") for line in text.split("\n")]
    code = code_lines(lines)
    prose_lines = [(index + 1, line) for index, line in enumerate(lines) if index not in code]
    placeholders, links = [], []
    for number, line in prose_lines:
        if match := _PLACEHOLDER.search(line):
            placeholders.append((number, match.group(0)))
        for link in _LINK.finditer(line):
            target = link.group(1)
            if not (_SCHEME.match(target) or target.startswith("#")):
                links.append((number, target))
    return placeholders, links


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MARKDOWN_BITS), st.text(max_size=4)), max_size=40))
def test_placeholders_and_links_are_found_in_a_whole_text_as_line_by_line(bits: list[str]) -> None:
    from tracer.check import markdown_facts

    text = "".join(bits)
    assert markdown_facts(text) == facts_line_by_line(text)
