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
