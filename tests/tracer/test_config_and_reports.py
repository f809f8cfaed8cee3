"""Configuration and bug reports: defaults, walking up, and errors that name file, line and field."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.tracer.conftest import report_text
from tracer.config import Config, load_config
from tracer.problems import TracerError
from tracer.reports import load_reports, split_sections

REPORT = report_text(
    revision="abc123",
    items="""\
  - id: edge-cases
    group: Unit tests
    text: Edge cases
  - id: by-hand
    group: Validation
    text: Reviewed by hand
    manual: {by: reviewer, reason: read the diff}
""",
    body="""
# Title

## Root Cause
It overflows.

```python
## not a heading inside code
```

## Next Steps
1. Ship it.
""",
)


def test_config_is_found_by_walking_up_and_read_from_tool_tracer(files, tmp_path):
    files(
        {"pyproject.toml": '[tool.tracer]\nsource_roots = ["src"]\nid_pattern = "ISSUE-\\\\d+"\n', "src/pkg/x.py": ""}
    )
    config = load_config(tmp_path / "src" / "pkg")
    assert config.root == tmp_path
    assert config.source_roots == ("src",)
    assert config.id_regex.fullmatch("ISSUE-12")


def test_without_a_tool_tracer_table_the_whole_project_is_scanned(files, tmp_path):
    files({"pyproject.toml": "[project]\nname = 'x'\n"})
    assert load_config(tmp_path) == Config(root=tmp_path)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('colour = "red"', "unknown key 'colour'"),
        ("source_roots = 3", "source_roots must be a list of strings, got int"),
        ('reports_dir = ["a"]', "reports_dir must be a string, got list"),
        ('id_pattern = "("', "id_pattern is not a valid regular expression"),
    ],
)
def test_config_errors_name_the_key_and_the_line(files, tmp_path, table, message):
    files({"pyproject.toml": f"[project]\nname = 'x'\n\n[tool.tracer]\n{table}\n"})
    with pytest.raises(TracerError) as raised:
        load_config(tmp_path)
    assert message in str(raised.value)
    assert raised.value.line == 4 and raised.value.path == tmp_path / "pyproject.toml"


def test_a_report_is_parsed_into_fields_checklist_and_sections(files, tmp_path):
    files({"docs/bug_reports/bug-20250101-001-overflow.md": REPORT})
    (report,) = load_reports(Config(root=tmp_path)).reports
    assert report.bug_id == "BUG-20250101-001" and report.severity == "High"
    assert report.created == dt.date(2025, 1, 1)
    assert [i.id for i in report.checklist] == ["edge-cases", "by-hand"]
    assert report.checklist[1].manual.by == "reviewer"
    assert report.section("root cause").startswith("It overflows.")
    assert "## not a heading" in report.section("Root Cause")
    assert report.section("Next Steps") == "1. Ship it."


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("severity: High", "severity: Urgent", 4, "severity: 'Urgent' is not one of Critical, High, Medium, Low"),
        ("status: fixed", "status: done", 5, "status: 'done' is not one of"),
        ("created: 2025-01-01", "created: soon", 6, "created: must be a date"),
        ("tags: [nan]", "tags: [nan]\ncolour: red", 9, "colour: unknown field"),
        ("    text: Edge cases\n", "", 11, "checklist[0].text: required text is missing"),
        ("id: by-hand", "id: edge-cases", 14, "'edge-cases' is used by another item"),
        ("bug_id: BUG-20250101-001", "bug_id: BUG-20250101-009", 2, "does not agree with the file name"),
        ("bug_id: BUG-20250101-001", "bug_id: BUG-1", 2, "does not match the ID pattern"),
    ],
)
def test_schema_errors_name_file_line_and_field(files, tmp_path, old, new, line, message):
    files({"docs/bug_reports/bug-20250101-001-overflow.md": REPORT.replace(old, new, 1)})
    reports = load_reports(Config(root=tmp_path))
    assert reports.reports == ()
    problems = [p for p in reports.problems if message in p.message]
    assert problems, reports.problems
    assert problems[0].path == "docs/bug_reports/bug-20250101-001-overflow.md"
    assert problems[0].line == line


def test_invalid_yaml_and_missing_front_matter_are_problems_not_crashes(files, tmp_path):
    files(
        {
            "docs/bug_reports/bug-20250101-001-a.md": "---\ntitle: [unclosed\n---\n",
            "docs/bug_reports/bug-20250101-002-b.md": "# no front matter\n",
        }
    )
    problems = load_reports(Config(root=tmp_path)).problems
    assert [(p.path.rsplit("/", 1)[1], p.code) for p in problems] == [
        ("bug-20250101-001-a.md", "R002"),
        ("bug-20250101-002-b.md", "R001"),
    ]


def test_two_reports_with_one_id_is_an_error(files, tmp_path):
    files(
        {
            "docs/bug_reports/bug-20250101-001-overflow.md": REPORT,
            "docs/bug_reports/bug-20250101-001-again.md": REPORT,
        }
    )
    reports = load_reports(Config(root=tmp_path))
    assert len(reports.reports) == 1
    (problem,) = reports.problems
    assert problem.code == "R004" and "is also the ID of" in problem.message


def test_yaml_is_loaded_safely(files, tmp_path):
    files(
        {
            "docs/bug_reports/bug-20250101-001-x.md": REPORT.replace(
                "author: someone", "author: !!python/object/apply:os.system ['true']"
            )
        }
    )
    (problem,) = load_reports(Config(root=tmp_path)).problems
    assert problem.code == "R002"


def test_sections_ignore_deeper_headings():
    assert split_sections("## A\ntext\n### A.1\nmore\n## B\n") == {"A": "text\n### A.1\nmore", "B": ""}
