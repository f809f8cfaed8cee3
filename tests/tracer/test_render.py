"""`tracer render`, `trace` and `list` on a small project with a pre-fix revision in git."""

from __future__ import annotations

import json

import pytest

from tests.conftest import git, make_files
from tests.tracer.project import BUG, build
from tracer.cli import main

DOCUMENT = f"docs/bug_reports/{BUG.lower()}-overflow-code-changes.md"


@pytest.fixture
def project(in_tmp):
    build(in_tmp)
    return in_tmp


def test_render_writes_the_document_beside_the_report(project, capsys):
    assert main(["render", BUG]) == 0
    assert f"wrote {DOCUMENT}" in capsys.readouterr().out
    text = (project / DOCUMENT).read_text()
    assert text.startswith('---\ntitle: "Code Changes for BUG-20250101-001"')
    assert "[docs/bug_reports/bug-20250101-001-overflow.md](bug-20250101-001-overflow.md)" in text
    assert "### 1. Module-level code - `src/demo/step.py`" in text
    assert "### 2. `Head.step()` - `src/demo/step.py`" in text
    assert "**Lines:** 7-14" in text
    assert "1. **Line 8** (docstring): Stable step." in text
    assert "2. **Lines 9-11** (comment): Clamp inputs to prevent extreme values" in text
    assert "3. **Lines 13-14** (comment): Use a stable sigmoid" in text
    assert "-        return 1 / (1 + math.exp(-self.k * (x - y)))" in text
    assert "+        return sigmoid(self.k * (x - y))" in text
    assert "_New since the pre-fix revision: `<module>`" not in text
    assert "untouched" not in text
    assert "exp overflows." in text and "1. Ship it." in text
    assert "## Alternatives Considered" not in text  # the report has none
    assert "- [ ] Edge cases (`edge-cases`): **open**" in text
    assert "- [x] Reviewed by hand (`reviewed`): **manual**: signed off by reviewer: read the diff" in text


def test_rendering_twice_gives_the_same_bytes(project):
    main(["render", BUG])
    first = (project / DOCUMENT).read_bytes()
    main(["render", BUG])
    assert (project / DOCUMENT).read_bytes() == first


def test_a_function_new_since_the_pre_fix_revision_says_so(project):
    main(["render", BUG, "-o", "out.md"])
    text = (project / "out.md").read_text()
    assert "Module-level code - `src/demo/step.py`" in text  # the module-level tag above the new helper
    make_files(project, {"src/demo/extra.py": f"def fresh():\n    # {BUG}: brand new\n    return 1\n"})
    main(["render", BUG, "-o", "out.md"])
    assert "_New since the pre-fix revision: src/demo/extra.py did not exist at" in (project / "out.md").read_text()


def test_without_git_history_the_document_says_why_and_goes_on(project, capsys):
    git(project, "checkout", "-q", "--orphan", "fresh")
    git(project, "commit", "-q", "-m", "history gone")
    git(project, "branch", "-D", "main")
    git(project, "reflog", "expire", "--expire=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert "_No diff: revision " in out and "is not in this repository's history" in out
    assert "### 2. `Head.step()`" in out


def test_outside_git_the_document_still_renders(tmp_path, monkeypatch, capsys):
    from tests.tracer.project import FIXED, PRE_FIX, report

    make_files(tmp_path, {**PRE_FIX, **FIXED, f"docs/bug_reports/{BUG.lower()}-overflow.md": report("abc123")})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["render", BUG, "-o", "-"]) == 0
    assert "_No diff: revision abc123 is not in this repository's history" in capsys.readouterr().out


def test_render_to_stdout_and_with_another_base(project, capsys):
    assert main(["render", BUG, "-o", "-", "--base", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "_Unchanged since the pre-fix revision" in out
    assert not (project / DOCUMENT).exists()


def test_check_exits_1_with_a_diff_when_the_document_is_stale(project, capsys):
    main(["render", BUG])
    assert main(["render", BUG, "--check"]) == 0
    source = project / "src/demo/step.py"
    source.write_text("\n\n" + source.read_text())  # every line moves down by two
    before = (project / DOCUMENT).read_bytes()
    capsys.readouterr()
    assert main(["render", BUG, "--check"]) == 1
    captured = capsys.readouterr()
    assert "out of date" in captured.err
    assert "-**Lines:** 7-14" in captured.out and "+**Lines:** 9-16" in captured.out
    assert (project / DOCUMENT).read_bytes() == before  # --check writes nothing


def test_a_template_error_leaves_the_old_document_untouched(project, capsys):
    main(["render", BUG])
    before = (project / DOCUMENT).read_bytes()
    make_files(project, {"templates/code_changes.md.j2": "{{ report.no_such_field }}\n"})
    assert main(["render", BUG]) == 2
    assert "template error" in capsys.readouterr().err
    assert (project / DOCUMENT).read_bytes() == before
    assert not [p for p in (project / "docs/bug_reports").iterdir() if p.name.endswith(".tmp")]


def test_a_project_template_can_extend_the_built_in_one(project):
    make_files(
        project,
        {
            "templates/code_changes.md.j2": '{% extends "tracer/code_changes.md.j2" %}{% block footer %}\nOUR FOOTER\n{% endblock %}'
        },
    )
    main(["render", BUG])
    assert (project / DOCUMENT).read_text().endswith("OUR FOOTER\n")


def test_unknown_bug_and_bad_report_are_clear_errors(project, capsys):
    assert main(["render", "BUG-20990101-001"]) == 2
    assert "no bug report for BUG-20990101-001" in capsys.readouterr().err
    report = project / "docs/bug_reports/bug-20250101-001-overflow.md"
    report.write_text(report.read_text().replace("severity: High", "severity: Urgent"))
    assert main(["render", BUG]) == 2
    assert "docs/bug_reports/bug-20250101-001-overflow.md:4: R003 severity" in capsys.readouterr().err


def test_trace_json_is_the_machine_interface(project, capsys):
    assert main(["trace", BUG, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bug_id"] == BUG
    assert [(f["path"], f["qualname"], f["kind"], f["start_line"], f["end_line"]) for f in data["functions"]] == [
        ("src/demo/step.py", "<module>", "module", 1, 23),
        ("src/demo/step.py", "Head.step", "method", 7, 14),
    ]
    assert data["functions"][1]["changes"][1] == {
        "start_line": 9,
        "end_line": 11,
        "kind": "comment",
        "text": "Clamp inputs to prevent extreme values",
        "tag_lines": [9],
    }


def test_trace_works_without_a_report_and_exits_1_when_nothing_is_tagged(project, capsys):
    (project / "docs/bug_reports/bug-20250101-001-overflow.md").unlink()
    assert main(["trace", BUG]) == 0
    assert "src/demo/step.py:7-14: method Head.step" in capsys.readouterr().out
    assert main(["trace", "BUG-20990101-001"]) == 1


def test_list_filters_by_status(project, capsys):
    assert main(["list", "--format", "json"]) == 0
    assert [r["bug_id"] for r in json.loads(capsys.readouterr().out)] == [BUG]
    assert main(["list", "--status", "open"]) == 0
    assert capsys.readouterr().out == ""


def test_version_and_usage_errors(capsys):
    assert main(["--version"]) == 0
    assert "tracer, version" in capsys.readouterr().out
    assert main(["render"]) == 2
    assert main(["no-such-command"]) == 2


def test_written_documents_get_ordinary_permissions(project):
    import os

    umask = os.umask(0)
    os.umask(umask)
    main(["render", BUG])
    assert (project / DOCUMENT).stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_file_that_does_not_parse_is_reported_and_the_scan_goes_on(project, capsys):
    make_files(project, {"src/demo/broken.py": f"def f(:\n    # {BUG}: x\n    pass\n"})
    assert main(["trace", BUG]) == 0
    captured = capsys.readouterr()
    assert "src/demo/broken.py:1: T001 cannot parse" in captured.err  # where Python says the syntax breaks
    assert "src/demo/step.py:7-14: method Head.step" in captured.out


def test_an_unwritable_output_is_a_clear_error(project, capsys):
    assert main(["render", BUG, "-o", "src/demo/step.py/out.md"]) == 2  # a file where a folder should be
    error = capsys.readouterr().err
    assert error.startswith("tracer: ") and "src/demo/step.py" in error and "Traceback" not in error


def test_errors_name_files_relative_to_the_current_folder(in_tmp, capsys):
    make_files(in_tmp, {"pyproject.toml": "[tool.tracer]\nsource_roots = 1\n"})
    assert main(["check"]) == 2
    assert (
        capsys.readouterr().err
        == "tracer: pyproject.toml:1: [tool.tracer]: source_roots must be a list of strings, got int\n"
    )


def test_trace_all_lists_every_tag_of_every_id_orphans_included(project, capsys):
    make_files(
        project, {"src/demo/other.py": "def g():\n    # BUG-20250202-001: no report for this one\n    return 2\n"}
    )
    assert main(["trace", "--all"]) == 0
    out = capsys.readouterr().out
    assert f"{BUG}:\n  src/demo/step.py:1-23: module <module>" in out
    assert "BUG-20250202-001:\n  src/demo/other.py:1-3: function g\n    2-3 comment: no report for this one" in out
    assert main(["trace", "--all", "--format", "json"]) == 0
    assert [t["bug_id"] for t in json.loads(capsys.readouterr().out)] == [BUG, "BUG-20250202-001"]
    assert main(["trace"]) == 2


def test_check_computes_each_bugs_states_once(project, monkeypatch):
    import tracer.status

    calls = []
    assess = tracer.status.assess
    monkeypatch.setattr(tracer.status, "assess", lambda *args: calls.append(args[0].bug_id) or assess(*args))
    main(["render", "--all"])
    calls.clear()
    main(["check"])
    assert calls == [BUG]


def test_the_document_carries_the_reports_sections_and_each_tags_whole_text(project, capsys):
    from tests.conftest import make_files
    from tracer.render import shortened

    report = next((project / "docs" / "bug_reports").glob("bug-*-overflow.md"))
    body = "\n## Summary\nTraining stops.\n\n## Symptoms\nNaN at step 1.\n\n## Impact\nEvery float16 run.\n"
    report.write_text(report.read_text() + body)
    long_sentence = "Clamp the gap " + "and keep it small " * 14 + "so exp stays finite."
    make_files(
        project,
        {
            "src/demo/more.py": f"""
        def widen(x):
            # {BUG}: Widen the range before the step function,
            # so that a finite P and T give a finite B.
            #
            # Not part of the tag: after a blank comment line.
            y = x * 2
            # {BUG}: {long_sentence} And a second sentence follows it.
            return y
        """
        },
    )
    assert main(["render", BUG, "-o", "-"]) == 0
    text = capsys.readouterr().out
    overview = text[text.index("## Overview") : text.index("## Bug Report")]
    assert "### Summary\nTraining stops." in overview and "### Symptoms\nNaN at step 1." in overview
    assert overview.index("### Summary") < overview.index("### Symptoms")
    assert "### Impact\nEvery float16 run." in text  # a section the template does not place is copied too
    assert "(comment): Widen the range before the step function, so that a finite P and T give a finite B.\n" in text
    assert "Not part of the tag" not in text.split("#### Current Source")[-1].split("```")[0]
    assert f"(comment): {long_sentence}\n" in text  # cut at the sentence end, never mid-clause
    assert shortened("word " * 100).endswith("word …") and len(shortened("word " * 100)) <= 302
