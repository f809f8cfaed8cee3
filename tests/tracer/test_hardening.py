"""Bad input of every kind: a clear finding naming the file and line, a clean exit code, nothing
written, no code run, and right answers for the good files beside the bad ones."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import commit_all, git, make_files
from tests.tracer.conftest import BUG, report_text
from tests.tracer.project import build
from tracer.cli import main
from tracer.config import Config
from tracer.formats import escape_data, escape_property
from tracer.reports import load_reports

REPORT = f"docs/bug_reports/{BUG.lower()}-overflow.md"
DOCUMENT = f"docs/bug_reports/{BUG.lower()}-overflow-code-changes.md"
ITEMS = "  - id: edge-cases\n    group: Unit tests\n    text: Edge cases\n"


def problems_of(tmp_path: Path, text: str | bytes, name: str = f"{BUG.lower()}-x.md") -> list[str]:
    path = tmp_path / "docs" / "bug_reports" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    reports = load_reports(Config(root=tmp_path))
    return [str(p) for p in reports.problems]


# Reports


def test_keys_that_yaml_reads_as_booleans_numbers_or_null_are_findings(tmp_path):
    text = report_text(items=ITEMS).replace("author: someone\n", "author: someone\non: yes\n1: one\nnull: none\n")
    found = problems_of(tmp_path, text)
    assert f"docs/bug_reports/{BUG.lower()}-x.md:8: R003 front matter: key 'on' must be text (quote it)" in found
    assert any(":9: R003 front matter: key '1' must be text" in p for p in found)
    assert any(":10: R003 front matter: key 'null' must be text" in p for p in found)


def test_duplicate_keys_and_impossible_dates_are_findings(tmp_path):
    text = report_text(items=ITEMS).replace("created: 2025-01-01", "created: 2025-02-30\nstatus: open")
    found = problems_of(tmp_path, text)
    assert any(":6: R003 created: '2025-02-30' cannot be read: day is out of range for month" in p for p in found)
    assert any(":7: R003 status: appears twice" in p for p in found)
    assert not any("created: required field is missing" in p for p in found)


def test_a_date_and_time_beside_a_date_in_another_report_is_a_finding_not_a_crash(tmp_path, monkeypatch, capsys):
    make_files(
        tmp_path,
        {
            "docs/bug_reports/bug-20250101-001-a.md": report_text(items=ITEMS, status="open"),
            "docs/bug_reports/bug-20250101-002-b.md": report_text(
                "BUG-20250101-002", items=ITEMS, status="open"
            ).replace("created: 2025-01-01", "created: 2025-01-01 10:00:00"),
        },
    )
    monkeypatch.chdir(tmp_path)
    assert main(["render", "--all"]) == 0
    assert main(["check"]) == 1
    assert (
        "bug-20250101-002-b.md:6: R003 created: must be a date (YYYY-MM-DD), got a date and time"
        in capsys.readouterr().out
    )


def test_bytes_that_are_not_utf8_name_the_line(tmp_path):
    text = report_text(items=ITEMS).encode().replace(b"author: someone", b"author: J\xf6rg")
    assert problems_of(tmp_path, text) == [
        f"docs/bug_reports/{BUG.lower()}-x.md:7: R001 not valid UTF-8: save the report as UTF-8"
    ]


def test_aliases_are_refused_before_they_expand(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
    (found,) = problems_of(tmp_path, "---\n" + "\n".join(lines) + "\n---\n")
    assert (
        found
        == f"docs/bug_reports/{BUG.lower()}-x.md:3: R002 front matter is not valid YAML: aliases (*name) are not allowed in a bug report"
    )


def test_python_tags_and_deep_nesting_are_refused(tmp_path):
    found = problems_of(
        tmp_path, report_text(items=ITEMS).replace("author: someone", "author: !!python/name:os.system")
    )
    assert found == [
        f"docs/bug_reports/{BUG.lower()}-x.md:7: R002 front matter is not valid YAML: the tag "
        "tag:yaml.org,2002:python/name:os.system is not allowed in a bug report"
    ]
    (deep,) = problems_of(tmp_path, "---\nbug_id: " + "[" * 20000 + "]" * 20000 + "\n---\n")
    assert "R002" in deep


def test_a_typo_in_one_report_costs_only_its_own_tests(project):
    report = project.path / "docs" / "bug_reports" / f"{BUG.lower()}-overflow.md"
    report.write_text(report.read_text().replace("severity: High", "severity: Urgent"))
    other = "BUG-20250101-002"
    make_files(
        project.path,
        {
            f"docs/bug_reports/{other.lower()}-other.md": report_text(
                other, items="  - id: works\n    group: Unit tests\n    text: Works\n"
            ),
            "tests/test_other.py": f"import pytest\n\n@pytest.mark.verifies('{other}', 'works')\ndef test_works():\n    pass\n",
        },
    )
    result = project.runpytest()
    result.assert_outcomes(passed=2, errors=4)  # test_works and the unlinked test run; the broken bug's 4 fail
    result.stdout.fnmatch_lines(
        [
            f"*test_edges: the report of {BUG} cannot be read: *R003 severity: 'Urgent' is not one of*",
            "*PytestConfigWarning: tracer: *R003 severity: 'Urgent'*its linked tests fail, the others run*",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str()
    evidence = project.path / "docs" / "bug_reports" / "evidence"
    assert [path.name for path in evidence.iterdir()] == [other.lower()]


def test_an_unknown_id_gets_the_nearest_known_ones_and_ids_match_in_any_case(in_tmp, capsys):
    build(in_tmp)
    assert main(["render", "BUG-20250101-002"]) == 2
    assert f"no bug report for BUG-20250101-002 in docs/bug_reports/; did you mean {BUG}?" in capsys.readouterr().err
    assert main(["render", BUG.lower(), "-o", "-"]) == 0
    assert f"# Code Changes for {BUG}" in capsys.readouterr().out
    assert main(["trace", BUG.lower()]) == 0


def test_tracer_select_with_an_unknown_id_is_a_usage_error(project):
    result = project.runpytest("--tracer-select=BUG-20250101-009")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--tracer-select: no bug report for BUG-20250101-009*did you mean {BUG}?*"])


# Configuration


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('source_roots = ["nowhere"]', "source_roots: 'nowhere' is not a folder of the project"),
        ('source_roots = ["../outside"]', "source_roots must name a folder inside the project"),
        ('reports_dir = "missing"', "reports_dir: 'missing' is not a folder of the project"),
        ('source_url = "https://example.org/{sha}/{path}"', "source_url names {sha}"),
        ('id_pattern = "(?P<x>"', "id_pattern is not a valid regular expression"),
    ],
)
def test_config_errors_are_exit_2_naming_the_key(in_tmp, capsys, table, message):
    make_files(in_tmp, {"pyproject.toml": f"[tool.tracer]\n{table}\n"})
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "pyproject.toml:1: [tool.tracer]" in err and message in err and "Traceback" not in err


def test_a_source_root_that_links_out_of_the_project_is_refused(in_tmp, tmp_path_factory, capsys):
    outside = tmp_path_factory.mktemp("outside")
    (in_tmp / "src").symlink_to(outside, target_is_directory=True)
    make_files(in_tmp, {"pyproject.toml": '[tool.tracer]\nsource_roots = ["src"]\n'})
    assert main(["trace", "--all"]) == 2
    assert "source_roots must name a folder inside the project" in capsys.readouterr().err


def test_an_id_pattern_with_groups_and_flags_is_one_group_of_its_own(in_tmp, capsys):
    make_files(
        in_tmp,
        {
            "pyproject.toml": '[tool.tracer]\nid_pattern = "(?i)(?P<kind>bug|gh)-(\\\\d+)"\n',
            "pkg/a.py": "def f():\n    # GH-12: fixed the thing\n    return 1\n",
        },
    )
    assert main(["trace", "gh-12"]) == 0
    assert "pkg/a.py:1-3: function f" in capsys.readouterr().out


# Outputs


def test_json_with_diff_is_one_valid_document(clean, capsys):
    source = clean / "src/demo/step.py"
    source.write_text("\n" + source.read_text())
    assert main(["check", "--format", "json", "--diff"]) == 1
    findings = json.loads(capsys.readouterr().out)
    (stale,) = [f for f in findings if f["code"] == "C201" and f["path"] == DOCUMENT]
    assert stale["diff"].startswith(f"--- {DOCUMENT} (on disk)")


def test_github_annotations_cannot_inject_workflow_commands(clean, capsys):
    make_files(clean, {"src/demo/evil.py": "def f():\n    # BUG-2025-9: 100% done, ::add-mask::secret\n    return 1\n"})
    main(["check", "--format", "github"])
    (line,) = [l for l in capsys.readouterr().out.splitlines() if "C103" in l]
    assert line.startswith("::error file=src/demo/evil.py,line=2,title=C103::")
    assert (
        "100%25 done" in line and line.count("::") == 4
    )  # the message's "::" cannot start a command: it follows "::" of ours
    assert escape_data("a\nb\r%") == "a%0Ab%0D%25" and escape_property("a:b,c") == "a%3Ab%2Cc"


def test_sarif_is_a_sarif_2_1_0_log_that_code_scanning_reads(clean, capsys):
    import jsonschema

    (clean / REPORT).write_text((clean / REPORT).read_text().replace("severity: High", "severity: Urgent"))
    assert main(["check", "--format", "sarif", "--output-file", "tracer.sarif"]) == 1
    log = json.loads((clean / "tracer.sarif").read_text())
    jsonschema.Draft7Validator(SARIF_SUBSET).validate(log)
    (result,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "R003"]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": REPORT, "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 4},
    }
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[result["ruleIndex"]]["id"] == "R003"


# The SARIF 2.1.0 schema's requirements for what tracer emits (the official schema cannot be
# fetched in CI, which reaches only package registries): required properties, enums and types.
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": {"type": "object", "required": ["text"]},
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {"enum": ["none", "note", "warning", "error"]}
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "required": ["text"],
                                    "properties": {"text": {"type": "string"}},
                                },
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {
                                                            "uri": {"type": "string"},
                                                            "uriBaseId": {"type": "string"},
                                                        },
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {"startLine": {"type": "integer", "minimum": 1}},
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_paths_are_relative_to_the_repository_root(tmp_path, monkeypatch, capsys):
    git(tmp_path, "init", "-q", "-b", "main")  # the repository holds the project in a subfolder
    build(tmp_path / "sub")
    shutil.rmtree(tmp_path / "sub" / ".git")
    commit_all(tmp_path, "project in a subfolder")
    monkeypatch.chdir(tmp_path / "sub")
    (tmp_path / "sub" / REPORT).write_text(
        (tmp_path / "sub" / REPORT).read_text().replace("severity: High", "severity: Urgent")
    )
    main(["check", "--format", "github"])
    assert f"::error file=sub/{REPORT},line=4,title=R003::" in capsys.readouterr().out


def test_output_refuses_anything_but_a_regular_file(clean, capsys):
    os.mkfifo(clean / "pipe.md")
    assert main(["render", BUG, "-o", "pipe.md"]) == 2
    assert "pipe.md: not a regular file" in capsys.readouterr().err
    assert (clean / "pipe.md").is_fifo()
    assert main(["render", BUG, "-o", "/dev/null"]) == 2
    assert Path("/dev/null").is_char_device()


def test_a_project_template_cannot_run_python(clean, capsys):
    make_files(clean, {"templates/code_changes.md.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}\n"})
    assert main(["check"]) == 1
    assert (
        "C201 cannot render: template error: access to attribute '__class__' of 'str' object is unsafe"
        in capsys.readouterr().out
    )


# Generated Markdown


def test_generated_markdown_reads_alike_in_every_renderer(clean):
    from markdown_it import MarkdownIt

    report = clean / REPORT
    text = report.read_text().replace(
        "title: Overflow in the step function", """title: "It's \\"quoted\\": a title" """
    )
    text = text.replace("author: someone", "author: O'Brien, Jr.").replace("tags: [nan]", "tags: ['it''s', \"a: b\"]")
    report.write_text(text)
    source = clean / "src/demo/step.py"
    source.write_text(
        source.read_text().replace("        return sigmoid(", '        fence = "```"\n        return sigmoid(')
    )
    assert main(["render", "--all"]) == 0
    document = (clean / DOCUMENT).read_text()
    front = yaml.safe_load(document.split("---\n")[1])
    assert (
        front["title"] == f"Code Changes for {BUG}"
        and front["author"] == "O'Brien, Jr."
        and front["tags"] == ["it's", "a: b"]
    )
    tokens = MarkdownIt("commonmark").enable("table").parse(document)
    fences = [t for t in tokens if t.type == "fence"]
    assert any("```" in f.content for f in fences), "content with a fence stays inside a longer fence"
    assert all(f.info in ("python", "diff") for f in fences)
    fields = [
        t.content
        for t in tokens
        if t.type == "inline" and t.content.startswith(("**Bug ID:**", "**Method:**", "**Lines:**"))
    ]
    assert fields and all(field.count("**") == 2 for field in fields), "each field is a paragraph of its own"
    nested = [t for t in tokens if t.type == "bullet_list_open" and t.level > 1]
    index = (clean / "docs/bug_reports/index.md").read_text()
    rows = [t for t in MarkdownIt("commonmark").enable("table").parse(index) if t.type == "tr_open"]
    assert len(rows) == 2  # the header and one bug
    assert re.search(r"^    - Proof", document, re.MULTILINE) is None or nested


# First use


def test_an_empty_folder_is_said_to_be_one_and_nothing_is_written(in_tmp, capsys):
    assert main(["check"]) == 0
    assert (
        "nothing to check here: no bug reports in docs/bug_reports/ and no tags in the code" in capsys.readouterr().err
    )
    assert main(["render", "--all"]) == 0
    assert list(in_tmp.iterdir()) == []


def test_new_then_render_keeps_the_index_current(in_tmp, capsys):
    make_files(in_tmp, {"pyproject.toml": "[project]\nname = 'x'\n"})
    assert main(["new", 'Loss spikes 📈 after "warmup"', "--date", "2025-11-10", "--author", "Zoë"]) == 0
    assert main(["render", "BUG-20251110-001"]) == 0
    codes = {
        line.split(": ")[1].split()[0]
        for line in (capsys.readouterr(), main(["check"]), capsys.readouterr())[2].out.splitlines()
    }
    assert "C201" not in codes
    reports = load_reports(Config(root=in_tmp)).reports
    assert reports[0].title == 'Loss spikes 📈 after "warmup"' and reports[0].author == "Zoë"


def test_new_refuses_an_empty_title(in_tmp, capsys):
    make_files(in_tmp, {"pyproject.toml": "[project]\nname = 'x'\n"})
    assert main(["new", "   "]) == 2
    assert "the title is empty" in capsys.readouterr().err


def test_two_tracer_new_at_once_hand_out_different_ids(in_tmp):
    import subprocess
    import sys

    make_files(in_tmp, {"pyproject.toml": "[project]\nname = 'x'\n"})
    command = [
        sys.executable,
        "-c",
        "import sys; from tracer.cli import main; sys.exit(main(sys.argv[1:]))",
        "new",
        "--date",
        "2025-11-10",
    ]
    runs = [subprocess.Popen([*command, f"Report {n}"], cwd=in_tmp) for n in range(4)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0, 0, 0]
    ids = sorted(
        p.name[:16] for p in (in_tmp / "docs/bug_reports").glob("bug-*.md") if not p.name.endswith("-code-changes.md")
    )
    assert ids == [f"bug-20251110-00{n}" for n in range(1, 5)]


def test_on_a_shallow_clone_the_committed_diffs_are_kept(clean, tmp_path_factory, capsys):
    commit_all(clean, "documents")
    clone = tmp_path_factory.mktemp("ci") / "clone"
    git(clean.parent, "clone", "-q", "--depth", "1", f"file://{clean}", str(clone))
    os.chdir(clone)
    capsys.readouterr()
    code = main(["check"])
    out = capsys.readouterr().out
    assert "C201" not in out and "W502" in out and code == 0
    assert main(["render", "--all"]) == 0
    assert git(clone, "status", "--porcelain") == ""


def test_a_shallow_clone_keeps_the_diffs_whatever_the_template_says(clean, tmp_path_factory, capsys):
    """The diffs travel as data beside the document, so a template of the project's own, which
    words them any way it likes, still renders the same document in a clone that lacks the
    pre-fix revision."""
    make_files(
        clean,
        {
            "templates/code_changes.md.j2": (
                "{% for f in functions %}## {{ f.qualname }}\n{% if f.diff.status == 'changed' %}{{ f.diff.diff }}"
                "{% else %}Status: {{ f.diff.status }} {{ f.diff.note }}{% endif %}\n{% endfor %}"
            )
        },
    )
    assert main(["render", "--all"]) == 0
    document = next(clean.glob("docs/bug_reports/*-code-changes.md")).read_text()
    assert "@@" in document and "Status: module" in document
    commit_all(clean, "documents")
    clone = tmp_path_factory.mktemp("ci") / "clone"
    git(clean.parent, "clone", "-q", "--depth", "1", f"file://{clean}", str(clone))
    os.chdir(clone)
    capsys.readouterr()
    assert main(["check"]) == 0
    assert "C201" not in capsys.readouterr().out
    assert main(["render", "--all"]) == 0
    assert git(clone, "status", "--porcelain") == ""
    kept = next(clone.glob("docs/bug_reports/*.diffs.json"))
    kept.write_text("{not json")
    assert main(["check"]) == 1
    assert "kept diffs cannot be read" in capsys.readouterr().out


FENCE_LINES = [
    "```",
    "````",
    "~~~",
    "~~~~",
    "```python",
    "~~~ `x`",
    "``` `x`",
    "text",
    "",
    "  ```",
    "   ~~~",
    "## heading",
    "```  ",
]


@settings(max_examples=int(os.environ.get("TRACER_HYPOTHESIS_EXAMPLES", "200")), deadline=None)
@given(st.lists(st.sampled_from(FENCE_LINES), max_size=30))
def test_the_fence_reader_agrees_with_markdown_it(lines):
    from markdown_it import MarkdownIt

    from tracer.reports import code_lines

    while lines and not lines[-1]:
        lines.pop()  # blank lines closing the text hold no prose; markdown-it leaves them out of a fence
    expected: set[int] = set()
    for token in MarkdownIt("commonmark").parse("\n".join(lines)):
        if token.type == "fence" and token.map:
            expected.update(range(*token.map))
    assert code_lines(lines) == expected


def test_a_file_name_that_is_not_utf8_is_scanned_rendered_and_checked(clean, capsys):
    name = os.fsdecode(b"caf\xe9.py")
    (clean / "src" / "demo" / name).write_text(f"def f():\n    # {BUG}: in a latin-1 name\n    return 1\n")
    assert main(["render", "--all"]) == 0
    assert main(["site"]) == 0
    document = (clean / DOCUMENT).read_bytes()
    assert b"src/demo/caf\xe9.py" in document  # the name's own bytes
    capsys.readouterr()
    main(["check"])
    codes = {line.split(": ")[1].split()[0] for line in capsys.readouterr().out.splitlines()}
    assert codes == {"C301", "W501"}  # the sign-off pinned before the new tag is stale; the document is current


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling link", "link out of the project"])
def test_only_regular_files_of_the_evidence_folder_are_read(clean, tmp_path_factory, kind):
    import subprocess
    import sys

    folder = clean / "docs" / "bug_reports" / "evidence" / BUG.lower()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "odd.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "dangling link":
        target.symlink_to(clean / "nowhere.json")
    else:
        outside = tmp_path_factory.mktemp("outside") / "secret.json"
        outside.write_text("{}")
        target.symlink_to(outside)
    command = [sys.executable, "-c", "import sys; from tracer.cli import main; sys.exit(main(sys.argv[1:]))"]
    for args in (["check"], ["render", "--all"], ["site"]):
        done = subprocess.run([*command, *args], cwd=clean, capture_output=True, text=True, timeout=120)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, (args, done.stderr)


def test_a_pre_fix_revision_that_is_not_a_commit_is_an_error_in_a_full_clone(clean, capsys):
    report = clean / REPORT
    text = report.read_text()
    revision = re.search(r"pre_fix_revision: (\S+)", text)[1]
    report.write_text(text.replace(revision, "deadbeef1234"))
    main(["render", "--all"])
    capsys.readouterr()
    assert main(["check"]) == 1
    assert (
        f"{REPORT}:9: C202 pre_fix_revision deadbeef1234 is not a commit of this repository" in capsys.readouterr().out
    )
    assert main(["render", BUG, "--base", "nonexistent"]) == 2
    assert "nonexistent is not a commit of this repository" in capsys.readouterr().err


def test_prove_runs_a_project_in_a_subfolder_of_its_repository(tmp_path, monkeypatch, capsys):
    git(tmp_path, "init", "-q", "-b", "main")
    project = tmp_path / "sub"
    make_files(
        project,
        {
            "pyproject.toml": '[tool.tracer]\nsource_roots = ["demo"]\n',
            "demo/__init__.py": "",
            "demo/step.py": "def step(x):\n    return x\n",
        },
    )
    revision = commit_all(tmp_path, "buggy")
    make_files(
        project,
        {
            "demo/step.py": f"def step(x):\n    # {BUG}: clamp\n    return min(max(x, 0.0), 1.0)\n",
            f"docs/bug_reports/{BUG.lower()}-x.md": report_text(revision=revision, items=ITEMS),
            "tests/test_step.py": f"import pytest\n\nfrom demo.step import step\n\n\n@pytest.mark.verifies('{BUG}', 'edge-cases')\n"
            "def test_edges():\n    assert step(2) == 1.0\n",
        },
    )
    commit_all(tmp_path, "fix")
    monkeypatch.chdir(project)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in capsys.readouterr().out


def test_a_cache_folder_that_came_with_the_repository_is_never_read(clean, capsys):
    """A pull request that commits `.tracer-cache/` with results forged for its files (a document
    said to be current, a report said to parse) gets them ignored: only a cache this machine wrote
    is read."""
    assert main(["check"]) == 0
    cache = clean / ".tracer-cache"
    for entry in (cache / "render").glob("document-*"):  # forge the cached document check compares against
        text, diffs = json.loads(entry.read_text())
        entry.write_text(json.dumps([text.replace("Head.step", "Forged"), diffs]))
    (cache / ".gitignore").unlink()
    commit_all(clean, "a cache that came with the pull request")
    document = next(clean.glob("docs/bug_reports/*-code-changes.md"))
    document.write_text(document.read_text().replace("Head.step", "Forged"))
    capsys.readouterr()
    assert main(["check"]) == 1  # the forged cache would have said the forged document is current
    assert "C201" in capsys.readouterr().out
