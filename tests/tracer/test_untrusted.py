"""A pull request from a stranger: every file of the repository is hostile input. Symlinks to a
secret outside the project, newlines and escapes in every field, ghost and traversal test ids,
reserved environment names, surrogates, huge files and raising templates: the secret never
shows, nothing is written outside the project, no output line starts a workflow command, no ESC
byte is printed, no ghost test ticks an item, and no run ends in a traceback or a hang."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

import pytest

from tests.conftest import commit_all, git, make_files
from tests.tracer.conftest import BUG, report_text
from tests.tracer.project import ITEMS
from tracer.api import Project
from tracer.cli import main
from tracer.config import load_config
from tracer.environment import Environment
from tracer.evidence import EvidenceFile, Outcome, Proof, Verdict, evidence_folder
from tracer.fingerprint import code_id, fingerprints

SECRET = "SECRET-7f3a9-do-not-print"
REPORT = f"docs/bug_reports/{BUG.lower()}-overflow.md"
DOCUMENT = f"docs/bug_reports/{BUG.lower()}-overflow-code-changes.md"
TESTS = "def test_edges():\n    pass\n\n\nclass TestStep:\n    def test_middle(self):\n        pass\n"
CPU = {"implementation": "cpython", "python": "3.11", "platform": "linux", "device": "cpu"}


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A folder outside the project, holding a secret a CI runner could read."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.txt").write_text(f"{SECRET}\n")
    (folder / "evidence").mkdir()
    return folder


@pytest.fixture
def tested(clean) -> Path:
    """The clean project with the tests its evidence names."""
    make_files(clean, {"tests/test_step.py": TESTS})
    return clean


def run(capsys, *args: str) -> tuple[int, str]:
    """Exit code and everything printed, stdout then stderr."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out + captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder and its bytes, tracer's cache left out."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in files
        if not p.relative_to(folder).as_posix().startswith(".tracer-cache/")
    }


def holding(root: Path, text: str) -> list[str]:
    """The files of a project (its .git left out) whose bytes hold `text`."""
    return [path for path, data in snapshot(root).items() if not path.startswith(".git/") and text.encode() in data]


def evidence_text(
    root: Path,
    facts: dict[str, str],
    results: list[tuple[str, str, str]],
    proof: dict[str, dict[str, Verdict]] | None = None,
) -> str:
    """An evidence file of `facts` with passes on the bug's code as it is now, as a run would write it."""
    config = load_config(root)
    prints = fingerprints(config.root, Project(config).tagged(BUG))
    file = EvidenceFile(BUG, Environment.of(facts))
    for item, test_id, outcome in results:
        file.record(item, test_id, Outcome(outcome), prints)
    if proof is not None:
        file.proof = Proof("0123456789ab", 1, proof, code_id(prints))
    return file.to_json()


def plant(
    root: Path, facts: dict[str, str], results: list[tuple[str, str, str]], **proof: dict[str, dict[str, Verdict]]
) -> Path:
    """Evidence committed by the pull request itself, where tracer reads it."""
    path = evidence_folder(load_config(root), BUG) / f"{Environment.of(facts).file_stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(evidence_text(root, facts, results, proof.get("proof")), encoding="utf-8", errors="surrogatepass")
    return path


# 1. Nothing is read or written outside the project


def test_a_template_that_includes_a_link_to_a_secret_never_shows_it(clean, outside, capsys):
    make_files(
        clean,
        {
            "templates/code_changes.md.j2": '{% extends "tracer/code_changes.md.j2" %}\n'
            '{% block footer %}{% include "leak.txt" %}{% endblock %}\n'
        },
    )
    (clean / "templates" / "leak.txt").symlink_to(outside / "secret.txt")
    (clean / "templates" / "index.md.j2").symlink_to(outside / "secret.txt")
    code, shown = run(capsys, "check", "--diff")
    assert code == 1
    assert (
        "C201 cannot render: template error: templates/leak.txt: leads out of the project (through a symlink); not followed"
        in shown
    )
    assert "templates/index.md.j2: leads out of the project" in shown
    for args in (["render", "--all"], ["site"], ["check", "--format", "json", "--diff"], ["render", BUG, "-o", "-"]):
        code, shown = run(capsys, *args)
        assert code in (0, 1, 2) and SECRET not in shown, args
    assert holding(clean, SECRET) == []


def test_a_report_that_links_out_of_the_project_is_not_read(clean, outside, capsys):
    (outside / "report.md").write_text(report_text("BUG-20250101-002", title=SECRET, items=ITEMS))
    (clean / "docs/bug_reports/bug-20250101-002-leak.md").symlink_to(outside / "report.md")
    code, shown = run(capsys, "check")
    assert code == 1
    assert (
        "docs/bug_reports/bug-20250101-002-leak.md:1: R001 leads out of the project (through a symlink); not followed"
        in shown
    )
    for args in (["list"], ["list", "--format", "json"], ["render", "--all"], ["site"]):
        assert SECRET not in run(capsys, *args)[1], args
    assert holding(clean, SECRET) == []


def test_an_evidence_folder_that_links_out_is_neither_read_nor_written(tested, outside, capsys):
    (outside / "evidence" / BUG.lower()).mkdir()
    (outside / "evidence" / BUG.lower() / "cpython3.11-linux.json").write_text(json.dumps({"bug_id": SECRET}))
    evidence = tested / "docs/bug_reports/evidence"
    for path in sorted(evidence.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    evidence.rmdir()
    evidence.symlink_to(outside / "evidence", target_is_directory=True)
    before = snapshot(outside)
    code, shown = run(capsys, "check")
    assert code == 1 and "C301 the evidence folder leads out of the project (through a symlink)" in shown
    assert run(capsys, "signoff", BUG, "reviewed", "--by", "me", "--reason", "read it")[0] == 2
    merged = tested / "merged.json"
    merged.write_text(evidence_text(tested, CPU, [("edge-cases", "tests/test_step.py::test_edges", "passed")]))
    code, shown = run(capsys, "evidence", "merge", str(merged))
    assert code == 2 and "evidence folder leads out of the project" in shown
    for args in (["render", "--all"], ["site"]):
        assert SECRET not in run(capsys, *args)[1]
    assert snapshot(outside) == before


def test_the_plugin_writes_no_evidence_through_a_link_out_of_the_project(project, outside):
    (project.path / "docs/bug_reports/evidence").symlink_to(outside / "evidence", target_is_directory=True)
    before = snapshot(outside)
    result = project.runpytest()
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*tracer: *evidence folder leads out of the project*no evidence written*"])
    assert snapshot(outside) == before


def test_a_reports_folder_that_links_out_is_neither_read_nor_written(in_tmp, outside, capsys):
    (outside / f"{BUG.lower()}-x.md").write_text(report_text(BUG, title=SECRET, items=ITEMS))
    (in_tmp / "docs").mkdir()
    (in_tmp / "docs/bug_reports").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for args in (["check"], ["list"], ["render", "--all"], ["new", "A bug", "--date", "2025-01-02"]):
        code, shown = run(capsys, *args)
        assert SECRET not in shown and code in (0, 1, 2), args
    assert "R001 leads out of the project" in run(capsys, "check")[1]
    assert snapshot(outside) == before


def test_a_cache_folder_that_links_out_is_not_used(tested, outside, capsys):
    (tested / ".tracer-cache").rename(tested / "old-cache")
    (tested / ".tracer-cache").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    assert run(capsys, "check")[0] == 0
    assert run(capsys, "render", "--all")[0] == 0
    assert run(capsys, "signoff", BUG, "reviewed", "--by", "me", "--reason", "again")[0] == 0  # its lock falls back
    assert run(capsys, "new", "Another bug", "--date", "2025-01-02", "--author", "me")[0] == 0
    code, shown = run(capsys, "site")
    assert code == 2 and "give the site a folder with -o" in shown
    assert run(capsys, "site", "-o", "build/site")[0] == 0
    assert snapshot(outside) == before


def test_a_cache_that_git_tracks_is_not_trusted(tested, capsys):
    """Cache keys are digests anyone can compute: a pull request could commit an entry that says
    a broken evidence file is valid. A cache folder holding tracked files is not used."""
    from tracer.cache import digest_of
    from tracer.evidence import _schema_text

    broken = (
        '{"schema_version": 1, "fingerprint_scheme": 2, "bug_id": "' + BUG + '", "environment": {"device": "cpu"}, '
        '"fingerprints": {}, "items": {"edge-cases": ["not", "a", "mapping"]}}'
    )
    path = evidence_folder(load_config(tested), BUG) / f"{Environment.of({'device': 'cpu'}).file_stem}.json"
    path.write_text(broken)
    make_files(tested, {f".tracer-cache/evidence/valid-{digest_of(_schema_text(), broken)}": "valid"})
    git(tested, "add", "-f", ".tracer-cache")
    commit_all(tested, "a planted cache entry")
    assert load_config(tested).cache("evidence") is None
    code, shown = run(capsys, "check")
    assert code == 1 and "C301 evidence file is not valid: it breaks schema 1 at items/edge-cases" in shown


def test_output_file_goes_where_the_user_points_but_never_through_a_planted_link(clean, outside, capsys):
    (clean / "out").symlink_to(outside, target_is_directory=True)
    (clean / "report.sarif").symlink_to(outside / "secret.txt")
    before = snapshot(outside)
    code, shown = run(capsys, "check", "--format", "sarif", "--output-file", "out/tracer.sarif")
    assert code == 2 and "goes through out, a symlink inside the project" in shown
    code, shown = run(capsys, "check", "--output-file", "report.sarif", "--force")
    assert code == 2 and "goes through report.sarif, a symlink inside the project" in shown
    code, shown = run(capsys, "render", BUG, "-o", "out/doc.md")
    assert code == 2
    code, shown = run(capsys, "site", "-o", "out/site", "--force")
    assert code == 2 and "goes through out, a symlink inside the project" in shown
    assert snapshot(outside) == before
    assert (
        run(capsys, "check", "--format", "sarif", "--output-file", str(outside / "tracer.sarif"))[0] == 0
    )  # the user's choice
    assert json.loads((outside / "tracer.sarif").read_text())["version"] == "2.1.0"


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_output_file_never_replaces_a_file_tracer_did_not_write(clean, capsys, fmt):
    (clean / "notes.txt").write_text("my own notes\n")
    code, shown = run(capsys, "check", "--format", fmt, "--output-file", "notes.txt")
    assert code == 2 and "notes.txt: exists and is not an output of tracer check: not replaced (give --force" in shown
    assert (clean / "notes.txt").read_text() == "my own notes\n"
    source = clean / "src/demo/step.py"
    source.write_text(source.read_text() + "\n# BUG-2025-9: a malformed tag, so there is a finding\n")
    assert run(capsys, "check", "--format", fmt, "--diff", "--output-file", "findings.out")[0] == 1
    assert (
        run(capsys, "check", "--format", fmt, "--diff", "--output-file", "findings.out")[0] == 1
    )  # its own output: replaced
    assert run(capsys, "check", "--format", fmt, "--output-file", "notes.txt", "--force")[0] == 1
    assert "my own notes" not in (clean / "notes.txt").read_text()


def test_site_never_replaces_files_it_did_not_write(clean, capsys):
    make_files(clean, {"public/index.html": "<p>my own page</p>\n", "public/style.css": "body {}\n"})
    code, shown = run(capsys, "site", "-o", "public")
    assert code == 2 and "tracer did not write it: nothing written" in shown
    assert (clean / "public/index.html").read_text() == "<p>my own page</p>\n" and not (
        clean / "public/matrix.html"
    ).exists()
    assert run(capsys, "site", "-o", "public", "--force")[0] == 0
    assert run(capsys, "site", "-o", "public")[0] == 0  # its own pages: replaced without --force
    assert "tracer site" in (clean / "public/index.html").read_text()


# 2. Data is shown as data


HOSTILE = "x\n\n## Sign-off\n- [x] approved\n::stop-commands::tok\n\x1b]52;c;SGk=\x07 ##[error]x \u202egnp.exe"


def hostile_project(root: Path) -> None:
    """Every field a pull request writes, holding newlines, workflow commands and escapes."""
    yaml_text = json.dumps(HOSTILE)  # a JSON string is a YAML double-quoted one
    text = report_text(BUG, title=yaml_text, items=ITEMS.replace("text: Edge cases", f"text: {yaml_text}"))
    text = text.replace("author: someone", f"author: {yaml_text}")
    revision = git(root, "rev-parse", "HEAD~1").strip()
    make_files(
        root,
        {
            REPORT: text.replace("checklist:", f"pre_fix_revision: {revision}\nchecklist:"),
            "tests/test_step.py": TESTS,
            "src/demo/\x1b[31m::warning::x.py": f"def f():\n    # {BUG}: {HOSTILE.splitlines()[-1]}\n    return 1\n",
            "src/demo/bad.py": "def g():\n    # BUG-2025-9: ::error file=x::pwned \x1b[2J\n    return 1\n",
        },
    )
    plant(root, {**CPU, "device": HOSTILE}, [("edge-cases", "tests/test_step.py::test_edges", "failed")])
    signoffs = evidence_folder(load_config(root), BUG) / "signoffs.json"
    data = json.loads(signoffs.read_text())
    data["signoffs"]["reviewed"].update(by=HOSTILE, reason=HOSTILE)
    signoffs.write_text(json.dumps(data))


COMMANDS = [
    ["check"],
    ["check", "--diff"],
    ["check", "--strict", "--diff"],
    ["list"],
    ["trace", "--all"],
    ["trace", BUG],
    ["render", BUG, "-o", "-"],
    ["render", "--all"],
    ["site"],
    ["check", "--format", "json"],
    ["check", "--format", "sarif"],
]


def test_no_output_line_starts_a_workflow_command_or_holds_an_escape(clean, capsys):
    hostile_project(clean)
    for args in COMMANDS:
        code, shown = run(capsys, *args)
        assert code in (0, 1), (args, shown)
        assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, args
        assert "##[" not in shown, args
        assert not [line for line in shown.splitlines() if line.lstrip().startswith("::")], args
    assert "\\x1b]52;c;SGk=\\x07" in run(capsys, "list")[1]  # shown, escaped
    code, shown = run(capsys, "check", "--format", "github")
    lines = shown.splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert annotations and all(
        re.match(r"::(error|warning) file=[^:,]*,line=\d+,title=[A-Z]\d{3}::", line) for line in annotations
    )
    assert len(annotations) == len(json.loads(run(capsys, "check", "--format", "json")[1]))
    assert "\x1b" not in shown


def test_no_heading_or_ticked_box_is_injected_into_the_documents(clean, capsys):
    from markdown_it import MarkdownIt

    hostile_project(clean)
    assert run(capsys, "render", "--all")[0] == 0
    document = (
        (clean / DOCUMENT).read_text(encoding="utf-8", errors="surrogateescape").split("---\n", 2)[2]
    )  # as renderers, past the front matter
    tokens = MarkdownIt("commonmark").enable("table").parse(document)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not [
        h for h in headings if h.startswith(("Sign-off", "approved"))
    ]  # the title's text stays in the title's heading
    ticked = [line for line in document.splitlines() if re.match(r"\s*[-*+] \[x\]", line)]
    assert ticked == []  # no item is done: edge-cases failed, and the sign-off is of older code
    assert not [
        t
        for t in tokens
        if t.type in ("html_block", "html_inline", "link_open", "image") and "approved" in str(t.content)
    ]
    index = (clean / "docs/bug_reports/index.md").read_text()
    assert len([t for t in MarkdownIt("commonmark").enable("table").parse(index) if t.type == "tr_open"]) == 2


@pytest.mark.parametrize("key", ["issue_url", "source_url"])
@pytest.mark.parametrize("url", ["javascript:alert(1)//{id}", "data:text/html,x", "{id}", "file:///etc/passwd"])
def test_link_templates_are_http_or_https(in_tmp, capsys, key, url):
    make_files(in_tmp, {"pyproject.toml": f'[tool.tracer]\n{key} = "{url}"\n'})
    code, shown = run(capsys, "check")
    assert code == 2 and f"{key} must be an http:// or https:// address" in shown


def test_sarif_and_json_are_valid_for_any_file_name(clean, capsys):
    import jsonschema

    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    names = [b"a b%#?.py", b"caf\xe9.py", "ünï[x](y).py".encode(), b"\x1b[31m.py", b"::x.py"]
    for name in names:
        (clean / "src/demo").joinpath(os.fsdecode(name)).write_text(
            "def g():\n    # BUG-2025-9: malformed\n    return 1\n"
        )
    assert run(capsys, "check", "--format", "sarif", "--output-file", "tracer.sarif")[0] == 1
    log = json.loads((clean / "tracer.sarif").read_bytes().decode("utf-8"))  # valid UTF-8, valid JSON
    checker = jsonschema.FormatChecker()
    assert "uri-reference" in checker.checkers  # so that the URIs are checked too (rfc3986-validator)
    jsonschema.Draft4Validator(schema, format_checker=checker).validate(log)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
        if r["ruleId"] == "C103"
    }
    assert {unquote_to_bytes(uri) for uri in uris} == {b"src/demo/" + name for name in names}
    assert f"src/demo/{quote(b'caf' + bytes([0xE9]))}.py" in uris
    assert run(capsys, "check", "--format", "json", "--output-file", "findings.json")[0] == 1
    findings = json.loads((clean / "findings.json").read_bytes().decode("utf-8"))
    assert {os.fsencode(f["path"]) for f in findings if f["code"] == "C103"} == {b"src/demo/" + name for name in names}


# 3. Only tests the project has count


@pytest.mark.parametrize(
    "test_id",
    [
        "../../etc/passwd::x",
        "/etc/passwd::x",
        "tests/../src/demo/step.py::test_x",
        "tests/test_step.py::test_nope",
        "tests/test_step.py::TestStep::test_nope",
        "tests/test_gone.py::test_edges",
        "src/demo/step.py::step",
        "tests/test_step.py",
    ],
)
def test_merge_admits_only_tests_the_project_has(tested, outside, capsys, test_id):
    good = outside / "good.json"
    good.write_text(
        evidence_text(
            tested, {**CPU, "device": "gpu"}, [("edge-cases", "tests/test_step.py::test_edges[cuda]", "passed")]
        )
    )
    bad = outside / "bad.json"
    bad.write_text(evidence_text(tested, CPU, [("edge-cases", test_id, "passed")]))
    before = snapshot(tested)
    code, shown = run(capsys, "evidence", "merge", str(good), str(bad))
    assert (
        code == 2
        and f"{bad}:1: item 'edge-cases': test {test_id!r}" in shown
        and "only tests the project has count" in shown
    )
    assert snapshot(tested) == before  # the good file was not written either
    assert run(capsys, "evidence", "merge", str(good))[0] == 0


def test_committed_results_of_ghost_tests_never_verify_an_item(tested, capsys):
    ghosts = ["../../../etc/passwd::x", "tests/test_step.py::test_forged", "tests/nowhere.py::test_x"]
    path = plant(
        tested,
        CPU,
        [("edge-cases", ghost, "passed") for ghost in ghosts],
        proof={"edge-cases": {ghost: Verdict.PROVEN for ghost in ghosts}},
    )
    assert run(capsys, "render", "--all")[0] == 0
    document = (tested / DOCUMENT).read_text()
    assert "- [ ] Edge cases (`edge-cases`): **open**: no linked test has run" in document
    assert "forged" not in document and "passwd" not in document
    code, shown = run(capsys, "check")
    assert code == 1
    shown_path = path.relative_to(tested).as_posix()
    assert f"{shown_path}:1: C309 item 'edge-cases': test '../../../etc/passwd::x' names a file with '..'" in shown
    assert (
        f"{shown_path}:1: C309 item 'edge-cases': test 'tests/test_step.py::test_forged' names a test that tests/test_step.py does not define"
        in shown
    )
    assert (
        f"{shown_path}:1: C309 item 'edge-cases': test 'tests/nowhere.py::test_x' names tests/nowhere.py, which the project does not have"
        in shown
    )
    data = json.loads(run(capsys, "check", "--format", "json")[1])
    (item,) = [f["item"] for f in data if f.get("item", {}).get("id") == "edge-cases"]
    assert item["state"] == "open" and item["results"] == []
    plant(tested, CPU, [("edge-cases", "tests/test_step.py::TestStep::test_middle", "passed")])
    assert run(capsys, "render", "--all")[0] == 0
    assert (
        "- [x] Edge cases (`edge-cases`): **verified**: by `TestStep::test_middle`" in (tested / DOCUMENT).read_text()
    )


@pytest.mark.parametrize("implementation", ["signoffs", "SIGNOFFS", "Signoffs"])
def test_no_environment_can_replace_the_sign_offs(tested, outside, capsys, implementation):
    signoffs = evidence_folder(load_config(tested), BUG) / "signoffs.json"
    before = signoffs.read_bytes()
    merged = outside / "evidence.json"
    merged.write_text(
        evidence_text(
            tested, {"implementation": implementation}, [("edge-cases", "tests/test_step.py::test_edges", "passed")]
        )
    )
    code, shown = run(capsys, "evidence", "merge", str(merged))
    assert code == 0 and re.search(
        rf"wrote docs/bug_reports/evidence/{BUG.lower()}/{implementation}-[0-9a-f]{{8}}\.json", shown
    )
    assert signoffs.read_bytes() == before
    merged.write_text(evidence_text(tested, {}, []))
    code, shown = run(capsys, "evidence", "merge", str(merged))
    assert code == 2 and "a file of sign-offs" in shown
    planted = signoffs.with_name(f"{Environment.of({'implementation': 'x'}).file_stem}.json")
    planted.write_text(evidence_text(tested, {"implementation": "x"}, []))
    planted.rename(signoffs)
    code, shown = run(capsys, "check")
    assert code == 1 and "signoffs.json:1: C301 evidence file of environment 'x ?' must be named" in shown


def test_a_lone_surrogate_in_an_evidence_file_is_that_files_finding(tested, outside, capsys):
    path = plant(tested, {**CPU, "device": "gpu\ud800"}, [("edge-cases", "tests/test_step.py::test_edges", "passed")])
    assert "\\ud800" in path.read_text()
    code, shown = run(capsys, "check")
    assert code == 1 and "C301 evidence file is not valid: a lone surrogate" in shown and "environment/device" in shown
    for args in (["render", "--all"], ["site"]):
        code, shown = run(capsys, *args)
        assert code == 2 and "a lone surrogate" in shown, args
    path.unlink()
    good = outside / "good.json"
    good.write_text(evidence_text(tested, CPU, [("edge-cases", "tests/test_step.py::test_edges", "passed")]))
    bad = outside / "bad.json"
    bad.write_text(
        evidence_text(
            tested, {**CPU, "device": "gpu"}, [("edge-cases", "tests/test_step.py::test_edges", "passed")]
        ).replace('"gpu"', '"gpu\\ud800"')
    )
    before = snapshot(tested)
    code, shown = run(capsys, "evidence", "merge", str(good), str(bad))
    assert code == 2 and "a lone surrogate" in shown
    assert snapshot(tested) == before


def test_a_file_name_byte_that_is_not_utf8_round_trips_through_evidence(tested, capsys):
    name = os.fsdecode(b"test_caf\xe9.py")
    make_files(tested, {f"tests/{name}": "def test_x():\n    pass\n"})
    path = plant(tested, CPU, [("edge-cases", f"tests/{name}::test_x", "passed")])
    path.read_bytes().decode("utf-8")  # valid UTF-8: the byte is the JSON escape \udce9
    assert "\\udce9" in path.read_text()
    assert run(capsys, "render", "--all")[0] == 0
    assert b"by `test_x` in `tests/test_caf\xe9.py`" in (tested / DOCUMENT).read_bytes()


# 4. Limits


def sparse(path: Path, head: str, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        handle.write(head)
        handle.truncate(size)  # a hole: the file is large, the disk untouched


def test_a_huge_report_or_evidence_file_is_refused_before_it_is_read(tested, capsys):
    sparse(tested / "docs/bug_reports/bug-20250101-002-huge.md", "---\n", 50_000_000)
    sparse(evidence_folder(load_config(tested), BUG) / "cpython3.11-linux.json", "{", 80_000_000)
    code, shown = run(capsys, "check")
    assert code == 1
    assert (
        "bug-20250101-002-huge.md:1: R001 the report is 50,000,000 bytes; tracer reads at most 1,000,000 "
        "(max_report_bytes in [tool.tracer])"
    ) in shown
    assert (
        "cpython3.11-linux.json:1: C301 evidence file is 80,000,000 bytes; tracer reads at most 16,000,000 (max_evidence_bytes"
        in shown
    )


def test_a_schema_error_never_repeats_a_huge_value(tested, capsys):
    path = plant(tested, CPU, [])
    data = json.loads(path.read_text())
    data["environment"] = list(range(1_500_000))  # 11 MB, under the size limit
    path.write_text(json.dumps(data))
    code, shown = run(capsys, "check")
    assert code == 1, shown
    (line,) = [line for line in shown.splitlines() if "C301 evidence file is not valid" in line]
    assert len(line) < 800 and "characters)" in line


def test_limits_are_set_in_the_configuration(clean, capsys):
    pyproject = clean / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "max_report_bytes = 200\n")
    code, shown = run(capsys, "check")
    assert (
        code == 1
        and f"{REPORT}:1: R001 the report is" in shown
        and "tracer reads at most 200 (max_report_bytes" in shown
    )
    for value in ("0", "true", '"1"', "-5"):
        pyproject.write_text(re.sub(r"max_report_bytes = .*", f"max_report_bytes = {value}", pyproject.read_text()))
        code, shown = run(capsys, "check")
        assert code == 2 and "max_report_bytes must be a whole number above 0" in shown


RAISING = {
    "{{ 1/0 }}": "ZeroDivisionError: division by zero",
    "{{ 'a' * 3000000000 }}": "makes a value of 3,000,000,000 characters or items; at most 10,000,000 (max_output_chars)",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}": "ran more than 5,000,000 steps (max_template_steps)",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}": "include, extend or call each other without end",
    "{{ 10.0 ** 400 }}": "OverflowError",
    "{{ 10 ** 100000000 }}": "(max_output_chars)",
    "{{ 'x' | center(10**12) }}": "(max_output_chars)",
    "{{ '{:>99999999999}'.format(1) }}": "(max_output_chars)",
    "{{ '%99999999999d' % 1 }}": "(max_output_chars)",
    "{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}": "(max_output_chars)",
    "{{ (['x' * 1000000] * 100) | join }}": "(max_output_chars)",
    "{{ range(10**9) | list }}": "OverflowError: Range too big",
    "{{ report.nope.deeper }}": "has no attribute 'nope'",
    "{{ ''.__class__ }}": "unsafe",
    "{% for x in report %}{% endfor %}": "TypeError",
}


@pytest.mark.parametrize("code", RAISING)
def test_every_error_a_template_raises_is_a_finding_naming_its_line(clean, capsys, code):
    make_files(clean, {"templates/code_changes.md.j2": f"line one\n{code}\n"})
    status, shown = run(capsys, "check")
    assert status == 1
    (line,) = [line for line in shown.splitlines() if "C201 cannot render: template error" in line]
    assert line.startswith("templates/code_changes.md.j2:2: C201") and RAISING[code] in line, line
    status, shown = run(capsys, "render", "--all")
    assert status == 2 and "templates/code_changes.md.j2:2: template error" in shown


# 5. Configuration, links and locks


@pytest.mark.parametrize("suffix", ["/x.md", ".md", "", "../x.md", "-x"])
def test_an_output_suffix_that_is_no_file_names_end_is_a_config_error(clean, capsys, suffix):
    pyproject = clean / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'output_suffix = "{suffix}"\n')
    code, shown = run(capsys, "check")
    assert code == 2 and "output_suffix must be the end of a file name with an extension" in shown


def test_a_link_to_a_path_too_long_for_the_system_is_a_finding(clean, outside, capsys):
    report = clean / REPORT
    secret = os.path.relpath(outside / "secret.txt", report.parent)
    report.write_text(report.read_text() + f"\nSee [this]({'x' * 300}.md) and [that]({secret}).\n")
    code, shown = run(capsys, "check")
    assert code == 1
    assert f"{REPORT}:" in shown and "C402 link points nowhere (File name too long): xxx" in shown
    assert f"C402 link points out of the project: {secret}" in shown


@pytest.mark.parametrize("how", ["read-only", "a file"])
def test_a_lock_folder_that_cannot_be_written_falls_back(clean, capsys, monkeypatch, how):
    locks = clean / ".tracer-cache" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    if how == "a file":
        shutil.rmtree(locks)
        locks.write_text("not a folder")
    elif os.geteuid() == 0:  # root writes anywhere: its lock file cannot be made, as in a read-only folder
        from filelock import FileLock

        acquire = FileLock.acquire

        def read_only(self, *args, **kwargs):
            if str(self.lock_file).startswith(str(locks)):
                raise PermissionError(13, "Permission denied", self.lock_file)
            return acquire(self, *args, **kwargs)

        monkeypatch.setattr(FileLock, "acquire", read_only)
    else:
        locks.chmod(0o555)
    assert run(capsys, "new", "Locked out", "--date", "2025-01-02", "--author", "me")[0] == 0
    assert run(capsys, "signoff", BUG, "reviewed", "--by", "me", "--reason", "checked")[0] == 0
    assert (clean / "docs/bug_reports/bug-20250102-001-locked-out.md").is_file()
