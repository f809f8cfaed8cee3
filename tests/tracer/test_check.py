"""`tracer check`: a clean project passes, and each kind of problem is found in a test of its own."""

from __future__ import annotations

import json

from tests.conftest import make_files
from tests.tracer.project import BUG
from tracer.cli import main
from tracer.environment import Environment
from tracer.fingerprint import FINGERPRINT_SCHEME

REPORT = f"docs/bug_reports/{BUG.lower()}-overflow.md"
DOCUMENT = f"docs/bug_reports/{BUG.lower()}-overflow-code-changes.md"
ENVIRONMENT = Environment.of({"implementation": "cpython", "python": "3.11", "platform": "linux"})
EVIDENCE = f"docs/bug_reports/evidence/{BUG.lower()}/{ENVIRONMENT.file_stem}.json"


def run_check(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def codes(lines: list[str]) -> set[str]:
    return {line.split(": ", 2)[1].split()[0] for line in lines}


def test_a_clean_project_passes_with_open_items_as_warnings(clean, capsys):
    code, lines = run_check(capsys)
    assert code == 0
    assert lines == [
        f"{REPORT}:11: W501 item 'edge-cases' is verified by no test and has no manual sign-off (no linked test has run) (warning)"
    ]
    assert run_check(capsys, "--strict")[0] == 1


def test_check_never_writes(clean, capsys):
    before = {
        p: p.read_bytes()
        for p in clean.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".tracer-cache" not in p.parts
    }
    (clean / "src/demo/step.py").write_text("\n" + (clean / "src/demo/step.py").read_text())
    before[clean / "src/demo/step.py"] = (clean / "src/demo/step.py").read_bytes()
    run_check(capsys)
    after = {
        p: p.read_bytes()
        for p in clean.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".tracer-cache" not in p.parts
    }
    assert after == before


def test_a_moved_function_makes_the_document_stale(clean, capsys):
    source = clean / "src/demo/step.py"
    source.write_text("\n\n" + source.read_text())
    code, lines = run_check(capsys, "--diff")
    assert code == 1
    diffs = DOCUMENT.replace(".md", ".diffs.json")
    assert (
        f"{DOCUMENT}:42: C201 differs from what tracer render writes now; run tracer render {BUG} (and {diffs})"
        in lines
    )
    assert "-**Lines:** 7-14" in lines and "+**Lines:** 9-16" in lines


def test_schema_errors_and_file_name_mismatch(clean, capsys):
    report = clean / REPORT
    report.write_text(report.read_text().replace("severity: High", "severity: Urgent"))
    code, lines = run_check(capsys)
    assert code == 1 and f"{REPORT}:4: R003 severity: 'Urgent' is not one of Critical, High, Medium, Low" in lines
    report.write_text(
        report.read_text()
        .replace("severity: Urgent", "severity: High")
        .replace(f"bug_id: {BUG}", "bug_id: BUG-20250101-002")
    )
    assert any(
        "R003 bug_id: BUG-20250101-002 does not agree with the file name" in line for line in run_check(capsys)[1]
    )


def test_two_reports_with_one_id(clean, capsys):
    (clean / "docs/bug_reports/bug-20250101-001-again.md").write_text((clean / REPORT).read_text())
    assert "R004" in codes(run_check(capsys)[1])


def test_a_tag_without_a_report_and_a_malformed_tag(clean, capsys):
    make_files(
        clean,
        {
            "src/demo/other.py": "def f():\n    # BUG-20250202-001: no report\n    # BUG-2025-9: malformed\n    return 1\n"
        },
    )
    code, lines = run_check(capsys)
    assert code == 1
    assert (
        "src/demo/other.py:2: C101 BUG-20250202-001 is tagged here but has no bug report in docs/bug_reports/" in lines
    )
    assert (
        "src/demo/other.py:3: C103 tag does not match the ID pattern BUG-\\d{8}-\\d{3}: # BUG-2025-9: malformed"
        in lines
    )


def test_a_fixed_bug_with_no_tag_in_the_code(clean, capsys):
    source = clean / "src/demo/step.py"
    source.write_text(source.read_text().replace(BUG, "fixed"))
    assert f"{REPORT}:5: C102 {BUG} is fixed but no code is tagged with it" in run_check(capsys)[1]


def test_stale_and_failed_evidence_and_a_verified_status_with_open_items(clean, capsys):
    evidence = {
        "schema_version": 1,
        "fingerprint_scheme": FINGERPRINT_SCHEME,
        "bug_id": BUG,
        "environment": ENVIRONMENT.as_dict,
        "fingerprints": {"c1": {"src/demo/step.py::<module>": "old", "src/demo/step.py::Head.step": "old"}},
        "items": {"edge-cases": {"tests/test_x.py::test_edges": {"code": "c1", "outcome": "passed"}}},
    }
    make_files(clean, {EVIDENCE: json.dumps(evidence), "tests/test_x.py": "def test_edges(): pass\n"})
    report = clean / REPORT
    report.write_text(report.read_text().replace("status: fixed", "status: verified"))
    main(["render", "--all"])
    lines = run_check(capsys)[1]
    assert any(
        "C301 item 'edge-cases' is stale: verified on code that has since changed: `src/demo/step.py::<module>`" in l
        for l in lines
    )
    assert f"{REPORT}:5: C302 status is verified but 1 items are not verified: edge-cases" in lines

    evidence["items"]["edge-cases"]["tests/test_x.py::test_edges"]["outcome"] = "failed"
    make_files(clean, {EVIDENCE: json.dumps(evidence)})
    main(["render", "--all"])
    assert any(
        "C301 item 'edge-cases' is failed: failed: `test_edges` in `tests/test_x.py`" in l for l in run_check(capsys)[1]
    )


def test_placeholders_and_broken_links_in_reports(clean, capsys):
    report = clean / REPORT
    report.write_text(
        report.read_text()
        + "\nTODO: write this.\n\nSee [the log](logs/run.txt) and [docs](https://example.invalid).\n\n```\nTODO in code is fine\n```\n"
    )
    main(["render", "--all"])
    lines = run_check(capsys)[1]
    assert f"{REPORT}:34: C401 template placeholder left in the report: TODO" in lines
    assert f"{REPORT}:36: C402 link points nowhere: logs/run.txt" in lines
    assert sum("C401" in line for line in lines) == 1


def test_json_and_github_formats(clean, capsys):
    (clean / REPORT).write_text((clean / REPORT).read_text().replace("severity: High", "severity: Urgent"))
    assert main(["check", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert {"path": REPORT, "line": 4, "code": "R003", "severity": "error"}.items() <= findings[0].items()
    assert main(["check", "--format", "github"]) == 1
    assert f"::error file={REPORT},line=4,title=R003::severity: 'Urgent'" in capsys.readouterr().out


def test_render_all_writes_the_index_newest_first(clean):
    make_files(
        clean,
        {
            "docs/bug_reports/bug-20250301-001-newer.md": (clean / REPORT)
            .read_text()
            .replace(BUG, "BUG-20250301-001")
            .replace("created: 2025-01-01", "created: 2025-03-01")
        },
    )
    assert main(["render", "--all"]) == 0
    rows = [
        line for line in (clean / "docs/bug_reports/index.md").read_text().splitlines() if line.startswith("| [BUG")
    ]
    assert [row.split("]")[0] for row in rows] == ["| [BUG-20250301-001", "| [BUG-20250101-001"]
    assert "| High | fixed | 0/2 | 0 | [document](bug-20250101-001-overflow-code-changes.md) |" in rows[1]


def test_a_broken_template_is_a_finding_naming_the_template(clean, capsys):
    make_files(clean, {"templates/index.md.j2": "{% for row in rows %}\n{{ row.nope }}\n{% endfor %}\n"})
    code, lines = run_check(capsys)
    assert code == 1
    assert (
        "templates/index.md.j2:2: C201 cannot render the index: template error: 'dict object' has no attribute 'nope'"
        in lines
    )


def test_a_tag_in_the_wrong_case_is_a_finding_never_silently_ignored(clean, capsys):
    source = clean / "src/demo/step.py"
    lower = BUG.lower()
    source.write_text(
        source.read_text()
        + f"\n\ndef later():\n    # {lower}: written in lower case\n    # bug-fix: no ID in any case\n    return 2\n"
    )
    code, lines = run_check(capsys)
    malformed = [line for line in lines if " C103 " in line]
    assert code == 1 and len(malformed) == 1 and f"# {lower}: written in lower case" in malformed[0]
