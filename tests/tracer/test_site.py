"""`tracer site`: the static HTML site of a small tagged project with git history and test
evidence from two environments. Every page is parsed strictly; what the pages show is compared
with what the project holds (the trace JSON, the evidence recorded here), never with fixed text."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest

from tests.conftest import commit_all, git, make_files
from tests.tracer.conftest import BUG, report_text
from tests.tracer.project import BODY, ITEMS, build
from tracer.cli import main

SITE = ".tracer-cache/site"
REPORT = f"docs/bug_reports/{BUG.lower()}-overflow.md"
ORPHAN = "BUG-20250202-009"
SOURCE_URL = "https://example.org/demo/blob/{commit}/{path}#L{start}-L{end}"
ISSUE_URL = "https://example.org/issues/{id}"
CPU = {"implementation": "cpython", "python": "3.11", "platform": "linux"}
GPU = {**CPU, "device": "cuda"}
GRADIENT_ITEM = """\
  - id: gradient
    group: Unit tests
    text: Gradient
"""
# (environment, item, test, outcome, ran on the current code)
RESULTS = [
    (CPU, "edge-cases", "tests/test_step.py::test_edges", "passed", True),
    (GPU, "edge-cases", "tests/test_step.py::test_edges", "passed", True),
    (CPU, "edge-cases", "tests/test_step.py::test_middle[0.5]", "passed", False),
    (GPU, "gradient", "tests/test_step.py::test_gradient", "failed", True),
]


def label(facts: dict[str, str]) -> str:
    """How the pages name an environment: "cpython 3.11 / linux / device cuda"."""
    return "cpython 3.11 / linux" + (f" / device {facts['device']}" if "device" in facts else "")


def record(root: Path, results=RESULTS) -> None:
    """Evidence files as runners on other machines write them: results on the current code, or on
    code that has since changed."""
    from tracer.api import Project
    from tracer.config import load_config
    from tracer.environment import Environment
    from tracer.evidence import EvidenceFile, Outcome, evidence_folder
    from tracer.fingerprint import fingerprints

    config = load_config(root)
    prints = fingerprints(root, Project(config).tagged(BUG))
    older = {scope: "0" * 16 for scope in prints}
    files: dict[Environment, EvidenceFile] = {}
    for facts, item, test, outcome, current in results:
        environment = Environment.of(facts)
        file = files.setdefault(environment, EvidenceFile(BUG, environment))
        file.record(item, test, Outcome(outcome), prints if current else older)
    for environment, file in files.items():
        path = evidence_folder(config, BUG) / f"{environment.file_stem}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.to_json(), encoding="utf-8")


@pytest.fixture
def project(in_tmp):
    revision = build(in_tmp)
    pyproject = in_tmp / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'source_url = "{SOURCE_URL}"\nissue_url = "{ISSUE_URL}"\n')
    make_files(
        in_tmp,
        {
            REPORT: report_text(BUG, revision=revision, items=ITEMS + GRADIENT_ITEM, body=BODY),
            "src/demo/other.py": f"def lonely():\n    # {ORPHAN}: a tag without a report\n    return 1\n",
            # the tests whose results record() writes: results of a test the project does not have count for nothing
            "tests/test_step.py": "def test_edges():\n    pass\n\n\ndef test_middle(x):\n    pass\n\n\ndef test_gradient():\n    pass\n",
        },
    )
    commit_all(in_tmp, "more")
    record(in_tmp)
    return in_tmp


def parse(path: Path):
    """A page parsed by html5lib in strict mode: any HTML parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(path.read_bytes())


def pages(folder: Path) -> dict[str, object]:
    return {p.relative_to(folder).as_posix(): parse(p) for p in sorted(folder.rglob("*.html"))}


def text_of(element) -> str:
    return " ".join("".join(element.itertext()).split())


def classes(element) -> set[str]:
    return set((element.get("class") or "").split())


def trace(capsys, *args: str):
    capsys.readouterr()
    assert main(["trace", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def built(project: Path, capsys, *args: str) -> Path:
    capsys.readouterr()
    assert main(["site", *args]) == 0
    return project / (args[1] if args else SITE)


PAGES = {"index.html", "matrix.html", "tags.html", f"bugs/{BUG.lower()}.html", f"reports/{BUG.lower()}.html"}


def test_every_page_parses_and_every_internal_link_resolves(project, capsys):
    folder = built(project, capsys)
    parsed = pages(folder)
    assert set(parsed) == PAGES
    ids = {name: {e.get("id") for e in tree.iter() if e.get("id")} for name, tree in parsed.items()}
    external = set()
    for name, tree in parsed.items():
        scripts = [s.get("src") for s in tree.iter("script")]
        assert scripts == [("../" if "/" in name else "") + s for s in ("search-index.js", "site.js")], (
            name
        )  # no inline script
        assert tree.find("head/link[@rel='stylesheet']").get("href").endswith("style.css")
        assert all(table.find("thead/tr/th") is not None for table in tree.iter("table")), (
            f"{name}: a table without header cells"
        )
        for element in tree.iter():
            target = element.get("href") or element.get("src")
            if target is None or element.tag not in ("a", "link", "img", "script"):
                continue
            if urlsplit(target).scheme:
                external.add(target)
                continue
            path, _, fragment = target.partition("#")
            resolved = (folder / name).parent / unquote(path) if path else folder / name
            assert resolved.exists(), f"{name}: {target} does not resolve"
            if fragment and resolved.suffix == ".html":
                assert fragment in ids[resolved.resolve().relative_to(folder.resolve()).as_posix()], f"{name}: {target}"
    assert external and all(link.startswith("https://example.org/") for link in external)


def test_the_index_has_a_row_per_bug_with_its_counts(project, capsys):
    tree = parse(built(project, capsys) / "index.html")
    headers = [text_of(th) for th in tree.findall(".//table/thead/tr/th")]
    assert headers[:8] == ["Bug", "Title", "Severity", "Status", "Verified", "Stale", "Failed", "Proven"]
    (row,) = tree.findall(".//table/tbody/tr")
    cells = dict(zip(headers, [text_of(c) for c in row]))
    items = {item for _, item, _, _, _ in RESULTS}
    failed = {item for _, item, _, outcome, current in RESULTS if outcome == "failed"}
    verified = items - failed
    assert cells["Bug"].startswith(BUG) and row.find("th/a").get("href") == f"bugs/{BUG.lower()}.html"
    assert (
        cells["Title"] == "Overflow in the step function" and cells["Severity"] == "High" and cells["Status"] == "fixed"
    )
    assert cells["Verified"] == f"{len(verified)}/3"  # the manual sign-off is done, not verified
    assert (cells["Stale"], cells["Failed"], cells["Proven"]) == ("0", str(len(failed)), "0")
    assert ISSUE_URL.format(id=BUG) in [a.get("href") for a in row.iter("a")]


def expected_cell(item: str, facts: dict[str, str]) -> tuple[str, int, set[str]] | None:
    """What the matrix should say of `item` in one environment, from RESULTS: failed where a test
    failed, passed where one passed on the current code, stale where tests passed only on older
    code; with the number of tests and their ids."""
    rows = [(test, outcome, current) for env, i, test, outcome, current in RESULTS if i == item and env == facts]
    if not rows:
        return None
    tests = {test for test, _, _ in rows}
    if any(outcome == "failed" for _, outcome, _ in rows):
        return "failed", len(tests), tests
    if any(outcome == "passed" and current for _, outcome, current in rows):
        return "passed", len(tests), tests
    return "stale", len(tests), tests


def check_matrix(table, row_id) -> None:
    """Rows are the checklist items, columns the environments (then the proofs); each cell the
    verdict and its test count, the tests themselves inside the cell's <details>."""
    environments = [
        th.get("title")
        for th in table.findall("thead/tr/th")
        if "env-col" in classes(th) and "proof-col" not in classes(th)
    ]
    assert environments == sorted(label(facts) for facts in (CPU, GPU))
    by_label = {label(facts): facts for facts in (CPU, GPU)}
    rows = [r for r in table.iter("tr") if r.get("id")]
    assert [r.get("id") for r in rows] == [row_id(i) for i in ("edge-cases", "reviewed", "gradient")]
    for row in rows:
        item = next(i for i in ("edge-cases", "reviewed", "gradient") if row.get("id") == row_id(i))
        cells = row.findall("td")
        assert len(cells) == len(environments) + 1  # and the proof column
        for environment, cell in zip(environments, cells):
            expected = expected_cell(item, by_label[environment])
            if expected is None:
                assert "verdict-none" in classes(cell) and cell.find(".//details") is None
                continue
            verdict, count, tests = expected
            assert f"verdict-{verdict}" in classes(cell)
            assert text_of(cell.find("details/summary")).endswith(f"{verdict} {count} test{'s' if count > 1 else ''}")
            assert {code.get("title") for code in cell.iter("code")} == tests
        assert "verdict-none" in classes(cells[-1])  # tracer prove has not run here


def test_the_matrix_has_items_for_rows_and_environments_for_columns(project, capsys):
    folder = built(project, capsys)
    (table,) = [t for t in parse(folder / "matrix.html").iter("table") if "matrix" in classes(t)]
    check_matrix(table, lambda item: f"{BUG}-{item}")
    (bug_row,) = [r for r in table.iter("tr") if "bug-row" in classes(r)]
    assert bug_row.find(".//a").get("href") == f"bugs/{BUG.lower()}.html"


def test_each_bug_page_has_its_own_matrix(project, capsys):
    page = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    (table,) = [t for t in page.iter("table") if "matrix" in classes(t)]
    check_matrix(table, lambda item: f"m-{item}")
    assert not [r for r in table.iter("tr") if "bug-row" in classes(r)]


def test_highlighted_lines_are_the_change_blocks(project, capsys):
    tree = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    functions = {(f["path"], f["qualname"]): f for f in trace(capsys, BUG)["functions"]}
    sections = [s for s in tree.iter("section") if "function" in classes(s)]
    assert {(s.get("data-path"), s.get("data-qualname")) for s in sections} == set(functions)
    for section in sections:
        function = functions[(section.get("data-path"), section.get("data-qualname"))]
        changed = {n for c in function["changes"] for n in range(c["start_line"], c["end_line"] + 1)}
        marked, shown = set(), set()
        for span in section.iter("span"):
            if "linenos" in classes(span):
                shown.add(int(text_of(span)))
        for span in section.iter("span"):
            if "hll" in classes(span):
                marked |= {int(text_of(n)) for n in span.iter("span") if "linenos" in classes(n)}
        assert marked == changed, function["qualname"]
        if function["kind"] != "module":  # a function's whole source, numbered as in its file
            assert shown == set(range(function["start_line"], function["end_line"] + 1))


def test_each_diff_is_coloured_and_says_what_the_fix_changed(project, capsys):
    tree = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    (section,) = [s for s in tree.iter("section") if s.get("data-qualname") == "Head.step"]
    (diff,) = [d for d in section.iter("div") if "diff" in classes(d)]
    deleted = [text_of(s) for s in diff.iter("span") if "gd" in classes(s)]
    inserted = [text_of(s) for s in diff.iter("span") if "gi" in classes(s)]
    assert "- return 1 / (1 + math.exp(-self.k * (x - y)))" in deleted
    assert "+ return sigmoid(self.k * (x - y))" in inserted


def test_links_go_to_the_code_at_the_head_commit_and_to_the_issue(project, capsys):
    head = git(project, "rev-parse", "HEAD").strip()
    tree = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    links = {a.get("href") for a in tree.iter("a")}
    assert ISSUE_URL.format(id=BUG) in links
    for function in trace(capsys, BUG)["functions"]:
        for change in function["changes"]:
            url = SOURCE_URL.format(
                commit=head, path=function["path"], start=change["start_line"], end=change["end_line"]
            )
            assert url in links
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    document = capsys.readouterr().out  # the Markdown document does not churn with every commit
    assert "/blob/HEAD/src/demo/step.py" in document and head not in document


def test_the_tags_page_shows_every_tag_by_file_orphans_included(project, capsys):
    tree = parse(built(project, capsys) / "tags.html")
    every = trace(capsys, "--all")
    expected: dict[str, set[tuple[str, str, str]]] = {}
    for data in every:
        for function in data["functions"]:
            for change in function["changes"]:
                expected.setdefault(function["path"], set()).add(
                    (f"{change['start_line']}-{change['end_line']}", function["qualname"], change["text"])
                )
    shown: dict[str, set[tuple[str, str, str]]] = {}
    for section in tree.iter("section"):
        path = text_of(section.find("h2"))
        for row in section.findall(".//tbody/tr"):
            cells = [text_of(c) for c in row]
            shown.setdefault(path, set()).add((cells[0], cells[1], cells[4]))
    assert shown == expected
    bug_page = parse(project / SITE / f"bugs/{BUG.lower()}.html")
    sections = {
        s.get("id"): (s.get("data-path"), s.get("data-qualname"))
        for s in bug_page.iter("section")
        if "function" in classes(s)
    }
    for section in tree.iter("section"):  # each scope links to its own section of the bug page
        path = text_of(section.find("h2"))
        for row in section.findall(".//tbody/tr"):
            link = row.find("td").find("a")  # the scope's cell
            if link is not None:
                page, _, anchor = link.get("href").partition("#")
                assert page == f"bugs/{BUG.lower()}.html" and sections[anchor] == (path, text_of(link))
    orphan_cells = [text_of(s) for s in tree.iter("span") if "orphan" in classes(s)]
    assert orphan_cells == [f"{ORPHAN} (no report)"]
    assert ORPHAN in text_of(tree.find(".//p[@class='orphans']"))


def test_the_same_inputs_give_the_same_bytes_and_a_warm_run_writes_nothing(project, capsys, monkeypatch):
    import shutil

    import tracer.site

    first = built(project, capsys, "-o", "first")
    shutil.rmtree(project / ".tracer-cache")
    second = built(project, capsys, "-o", "second")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)

    def no_rendering(*args, **kwargs):
        raise AssertionError("a warm site renders nothing")

    monkeypatch.setattr(tracer.site, "bug_context", no_rendering)
    monkeypatch.setattr(tracer.site, "site_environment", no_rendering)
    capsys.readouterr()
    assert main(["site", "-o", "second"]) == 0
    assert f"wrote 0 of {len(files)} files" in capsys.readouterr().out


def test_a_changed_tagged_file_changes_its_bug_page(project, capsys):
    folder = built(project, capsys)
    page = folder / f"bugs/{BUG.lower()}.html"
    before = page.read_bytes()
    source = project / "src/demo/step.py"
    source.write_text("\n" + source.read_text())  # every line moves down by one
    built(project, capsys)
    assert page.read_bytes() != before
    changes = [c for f in trace(capsys, BUG)["functions"] for c in f["changes"]]
    assert f"#L{changes[0]['start_line']}-L{changes[0]['end_line']}" in page.read_text()


def test_text_is_escaped_never_markup(in_tmp, capsys):
    revision = build(in_tmp)
    title = '"<script>alert(1)</script> & <b>bold</b>"'
    make_files(
        in_tmp, {REPORT: report_text(BUG, title=title, revision=revision, items=ITEMS, body=BODY + "\n<i>raw</i>\n")}
    )
    folder = built(in_tmp, capsys)
    for name, tree in pages(folder).items():
        assert all(s.get("src").endswith(".js") and not (s.text or "").strip() for s in tree.iter("script")), name
        assert not list(tree.iter("b")) and not list(tree.iter("i")), name
    page = parse(folder / f"bugs/{BUG.lower()}.html")
    assert text_of(page.find(".//h1")) == f"{BUG} <script>alert(1)</script> & <b>bold</b>"


def test_the_default_folder_is_ignored_by_git(project, capsys):
    built(project, capsys)
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    assert ".tracer-cache" not in status and "index.html" not in status
    assert git(project, "check-ignore", f"{SITE}/index.html").strip() == f"{SITE}/index.html"


def test_an_output_that_is_a_file_is_refused(project, capsys):
    (project / "taken").write_text("mine\n")
    assert main(["site", "-o", "taken"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tracer: taken:") and "not a folder" in error and "Traceback" not in error
    assert (project / "taken").read_text() == "mine\n"


def test_a_bug_without_a_report_loses_its_page_but_the_users_own_files_stay(project, capsys):
    folder = built(project, capsys)
    own = folder / "bugs/notes.html"
    own.write_text("<!DOCTYPE html><title>mine</title>\n")
    (project / REPORT).unlink()
    capsys.readouterr()
    assert main(["site"]) == 0
    assert "removed 2" in capsys.readouterr().out  # its page and its report's
    assert not (folder / f"bugs/{BUG.lower()}.html").exists() and not (folder / f"reports/{BUG.lower()}.html").exists()
    assert own.exists()
    assert BUG in text_of(parse(folder / "tags.html").find(".//p[@class='orphans']"))


def test_a_project_template_extends_the_built_in_one(project, capsys):
    make_files(
        project,
        {
            "templates/site-bug.html.j2": '{% extends "tracer/site-bug.html.j2" %}{% block footer %}<p id="ours">OUR FOOTER</p>{% endblock %}'
        },
    )
    folder = built(project, capsys)
    assert text_of(parse(folder / f"bugs/{BUG.lower()}.html").find(".//p[@id='ours']")) == "OUR FOOTER"
    assert parse(folder / "index.html").find(".//p[@id='ours']") is None


def test_bad_templates_and_evidence_are_clear_errors(project, capsys):
    make_files(project, {"templates/site-index.html.j2": "{{ rows.no_such_thing.deeper }}\n"})
    assert main(["site"]) == 2
    error = capsys.readouterr().err
    assert "templates/site-index.html.j2" in error and "template error" in error and "Traceback" not in error
    (project / "templates/site-index.html.j2").unlink()
    evidence = next((project / "docs/bug_reports/evidence" / BUG.lower()).glob("*.json"))
    evidence.write_text("{ not json")
    assert main(["site"]) == 2
    error = capsys.readouterr().err
    assert evidence.relative_to(project).as_posix() in error and "not valid JSON" in error


def test_a_folder_with_nothing_to_publish_gets_no_site(in_tmp, capsys):
    make_files(in_tmp, {"pyproject.toml": '[project]\nname = "empty"\n'})
    assert main(["site"]) == 0
    assert "nothing to publish" in capsys.readouterr().err
    assert not (in_tmp / ".tracer-cache").exists()


def test_a_report_is_a_page_of_the_site_and_its_links_stay_inside(project, capsys):
    """Published alone, the site links to no file outside it: a link between reports goes to the
    report's page, a link to another file of the repository becomes its text."""
    other = "BUG-20250303-003"
    make_files(
        project,
        {
            "docs/design.md": "# Design\n",
            f"docs/bug_reports/{other.lower()}-other.md": report_text(
                other,
                title="Other",
                items=ITEMS,
                body="\n## Notes\nSee [the first](" + Path(REPORT).name + "#notes).\n",
            ),
            REPORT: (project / REPORT)
            .read_text()
            .replace("A stable sigmoid.", "A stable sigmoid, see [the design](../design.md)."),
        },
    )
    folder = built(project, capsys)
    bug = parse(folder / f"bugs/{BUG.lower()}.html")
    (report_link,) = [a for a in bug.iter("a") if text_of(a) == "the report as written"]
    assert report_link.get("href") == f"../reports/{BUG.lower()}.html"
    assert not [a for a in bug.iter("a") if text_of(a) == "the design"] and "see the design" in text_of(
        bug.find(".//article")
    )
    page = parse(folder / f"reports/{other.lower()}.html")
    (link,) = [a for a in page.iter("a") if text_of(a) == "the first"]
    assert link.get("href") == f"{BUG.lower()}.html#notes"
    assert "notes" in {e.get("id") for e in parse(folder / f"reports/{BUG.lower()}.html").iter() if e.get("id")}


def test_hostile_reports_and_configuration_give_text_and_web_links_only(in_tmp, capsys):
    """A report and the link templates are data: raw HTML is shown as text, and only http(s)
    links leave the site (no `javascript:`, no `data:`, no `file:`)."""
    revision = build(in_tmp)
    pyproject = in_tmp / "pyproject.toml"
    # a link template that is not http(s) is a configuration error (test_untrusted); the report's links are data here
    pyproject.write_text(pyproject.read_text() + 'issue_url = "https://example.org/issues/{id}"\n')
    body = BODY.replace(
        "A stable sigmoid.",
        (
            "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
            "[data](data:text/html,hi) [file](file:///etc/passwd) [web](https://example.org/ok) ![pic](https://example.org/p.png)"
        ),
    )
    make_files(in_tmp, {REPORT: report_text(BUG, revision=revision, items=ITEMS, body=body)})
    folder = built(in_tmp, capsys)
    for name, tree in pages(folder).items():
        assert [s.get("src") for s in tree.iter("script") if not s.get("src")] == [], name
        assert not list(tree.iter("img")), name
        for element in tree.iter():
            assert not any(attribute.startswith("on") for attribute in element.attrib), name
            href = element.get("href")
            if href is not None and urlsplit(href).scheme:
                assert urlsplit(href).scheme in ("http", "https"), (name, href)
    report = parse(folder / f"reports/{BUG.lower()}.html")
    assert "<script>alert(1)</script>" in text_of(report.find(".//article"))
    assert [a.get("href") for a in report.iter("a") if text_of(a) in ("web", "click", "data", "file")] == [
        "https://example.org/ok"
    ]


def test_the_sidebar_lists_every_bug_under_its_status(project, capsys):
    make_files(
        project,
        {
            f"docs/bug_reports/{b.lower()}-x.md": report_text(b, title=f"Bug {b}", status=status, items=ITEMS)
            for b, status in (
                ("BUG-20250303-003", "open"),
                ("BUG-20250303-004", "closed"),
                ("BUG-20250303-005", "open"),
            )
        },
    )
    folder = built(project, capsys)
    for name, tree in pages(folder).items():
        sidebar = tree.find(".//nav[@class='sidebar']")
        groups = [
            (text_of(h).split()[0], [text_of(a.find("span")) for a in ul.iter("a")])
            for h, ul in zip(sidebar.findall("h2"), sidebar.findall("ul[@class='bugs']"))
        ]
        assert groups == [
            ("Open", ["BUG-20250303-003", "BUG-20250303-005"]),
            ("Fixed", [BUG]),
            ("Closed", ["BUG-20250303-004"]),
        ], name
        current = [a.get("href") for a in sidebar.iter("a") if a.get("aria-current") == "page"]
        assert len(current) == (0 if name.startswith("reports/") else 1), name


def test_a_bug_page_has_a_table_of_contents_of_its_sections_and_scopes(project, capsys):
    page = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    toc = [a.get("href") for a in page.find(".//details[@class='toc']").iter("a")]
    ids = {e.get("id") for e in page.iter() if e.get("id")}
    assert all(href.startswith("#") and href[1:] in ids for href in toc)
    scopes = [s.get("id") for s in page.iter("section") if "function" in classes(s)]
    assert len(scopes) == len(trace(capsys, BUG)["functions"]) and set(f"#{s}" for s in scopes) <= set(toc)
    assert {"#summary", "#functions", "#testing", "#matrix", "#next-steps", "#notes"} <= set(toc)


def test_a_bug_page_shows_every_section_of_the_report_where_the_document_does(project, capsys):
    """Summary and Symptoms under the overview, any other section after the Solution, as in the
    Markdown document."""
    body = BODY + "\n## Summary\nTraining stops.\n\n## Impact\nEvery *float16* run.\n"
    make_files(project, {REPORT: (project / REPORT).read_text().replace(BODY, body)})
    page = parse(built(project, capsys) / f"bugs/{BUG.lower()}.html")
    overview = page.find(".//section[@id='overview']")
    assert [text_of(h) for h in overview.iter("h3")] == ["Summary"] and "Training stops." in text_of(overview)
    summary = next(s for s in page.iter("section") if s.get("aria-labelledby") == "summary")
    assert [text_of(h) for h in summary.findall("h3")] == ["Root cause", "Solution", "Impact"]
    assert text_of(summary.find(".//em")) == "float16"


def search_index(folder: Path) -> dict:
    """The search index as the page's script reads it: one global, set to JSON."""
    text = (folder / "search-index.js").read_text(encoding="utf-8")
    prefix = "window.tracerSearch="
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix) : -2])


def test_the_search_index_holds_ids_titles_items_scopes_and_tag_texts(project, capsys):
    index = search_index(built(project, capsys))
    words = index["words"]

    def text(places: list[int]) -> str:
        return " ".join(words[place] for place in places)

    (bug,) = index["bugs"]
    assert [bug[0], text(bug[1]), text(bug[2]), bug[3], text(bug[4])] == [
        BUG,
        "Overflow in the step function",
        "fixed",
        None,
        "nan",
    ]
    assert [[item, text(places)] for item, places in bug[5]] == [
        ["edge-cases", "Edge cases"],
        ["reviewed", "Reviewed by hand"],
        ["gradient", "Gradient"],
    ]
    functions = trace(capsys, BUG)["functions"]
    assert [(scope, index["paths"][path]) for scope, path, _ in bug[6]] == [
        (f["qualname"], f["path"]) for f in functions
    ]
    assert [[text(t) for t in texts] for _, _, texts in bug[6]] == [
        [c["text"] for c in f["changes"] if c["text"]] for f in functions
    ]
    assert len(words) == len(set(words))


# The site in a real browser: headless Chromium (Debian's `chromium`) opens every page from
# file://, with no network, at desktop and phone width. A probe script, added to a copy of each
# page, measures what overflows the screen, lists the links and ids, and types into the search;
# each page runs in an iframe of the width under test, so one Chromium run measures them all.
# Set TRACER_SITE_SCREENSHOTS to a folder to keep the screenshots (docs/screenshots for the README).

CHROMIUM = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)
ROOT = Path(__file__).resolve().parents[2]
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)"
)

PROBE = r"""
window.addEventListener("load", function () {
  var width = document.documentElement.clientWidth;
  var out = {page: location.pathname, query: location.search, width: width, scrollWidth: document.documentElement.scrollWidth,
             overflow: [], scrollers: [], links: [], ids: [], search: null};
  function describe(el) {
    var name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
    return typeof el.className === "string" && el.className.trim() ? name + "." + el.className.trim().split(/\s+/).join(".") : name;
  }
  function box(el) {  // the nearest ancestor that clips el sideways, where it fits the screen itself
    for (var parent = el.parentElement; parent; parent = parent.parentElement) {
      if (getComputedStyle(parent).overflowX !== "visible") {
        var r = parent.getBoundingClientRect();
        return r.left >= -1 && r.right <= width + 1 ? parent : null;
      }
    }
    return null;
  }
  var query = new URLSearchParams(location.search).get("q");
  if (query !== null) {
    var input = document.getElementById("search");
    input.value = query;
    input.dispatchEvent(new Event("input"));
    out.search = Array.prototype.map.call(document.querySelectorAll("#search-results a"), function (a) {
      return {href: a.href, text: a.textContent};
    });
  }
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || (r.right <= width + 1 && r.left >= -1)) { return; }
    var clip = box(el), name = describe(clip || el), list = clip ? out.scrollers : out.overflow;
    if (list.indexOf(name) === -1) { list.push(name); }
  });
  document.querySelectorAll("a[href]").forEach(function (a) { out.links.push(a.href); });
  document.querySelectorAll("[id]").forEach(function (el) { out.ids.push(el.id); });
  window.parent.postMessage(JSON.stringify(out), "*");
});
"""

HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>probe</title></head><body>
<pre id="results"></pre>
<script>
var got = [];
window.addEventListener("message", function (event) { got.push(JSON.parse(event.data)); document.getElementById("results").textContent = JSON.stringify(got); });
</script>
{frames}
</body></html>
"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """One headless run, in a fresh profile, with every network feature off."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=180, check=False)


def probe(folder: Path, tmp_path: Path, searches: list[str]) -> tuple[Path, list[dict]]:
    """Every page of the site at each width (and the index with each search typed in), as the
    probe saw it in Chromium; and the copy of the site it ran on."""
    copy = tmp_path / "probed"
    shutil.copytree(folder, copy)
    (copy / "probe.js").write_text(PROBE, encoding="utf-8")
    names = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*.html"))
    for name in names:
        page = copy / name
        script = "../" * name.count("/") + "probe.js"
        page.write_text(
            page.read_text(encoding="utf-8").replace("</body>", f'<script src="{script}"></script></body>'),
            encoding="utf-8",
        )
    frames = [(name, width, height) for name in names for width, height in WIDTHS.values()]
    frames += [(f"index.html?q={query}", 390, 844) for query in searches]
    (copy / "harness.html").write_text(
        HARNESS.replace(
            "{frames}", "\n".join(f'<iframe src="{src}" width="{w}" height="{h}"></iframe>' for src, w, h in frames)
        ),
        encoding="utf-8",
    )
    run = chromium(
        tmp_path,
        "--virtual-time-budget=20000",
        "--window-size=1400,900",
        "--dump-dom",
        (copy / "harness.html").as_uri(),
    )
    dumped = html5lib.parse(run.stdout.decode(), namespaceHTMLElements=False).find(".//pre[@id='results']")
    results = json.loads(dumped.text or "[]") if dumped is not None else []
    assert len(results) == len(frames), run.stderr.decode(errors="replace")[-3000:]
    return copy, results


def check_pages_in_chromium(folder: Path, tmp_path: Path, searches: dict[str, str]) -> dict[str, list[dict]]:
    """No element wider than the screen but inside a box of its own that scrolls (the matrix,
    code); every link resolves to a page of the site (and its anchor) or is an http(s) URL.
    Returns each search's results."""
    copy, results = probe(folder, tmp_path, list(searches))
    ids: dict[Path, set[str]] = {}
    for result in results:
        ids.setdefault(Path(unquote(result["page"])).resolve(), set()).update(result["ids"])
    found = {}
    for result in results:
        where = f"{result['page']}{result['query']} at {result['width']} px"
        assert result["width"] in (w for w, _ in WIDTHS.values()), where
        assert result["overflow"] == [] and result["scrollWidth"] <= result["width"], where
        assert set(result["scrollers"]) <= {"div.matrix-scroll", "pre"}, (
            where
        )  # the matrix and code scroll in their own box
        for link in result["links"] + [r["href"] for r in result["search"] or []]:
            parts = urlsplit(link)
            if parts.scheme != "file":
                assert parts.scheme in ("http", "https"), (where, link)
                continue
            target = Path(unquote(parts.path)).resolve()
            assert target.is_file() and target.is_relative_to(copy.resolve()), (where, link)
            if parts.fragment:
                assert unquote(parts.fragment) in ids[target], (where, link)
        if result["search"] is not None:
            found[unquote(result["query"]).removeprefix("?q=")] = result["search"]
    return found


@needs_chromium
def test_chromium_every_page_fits_the_screen_links_resolve_and_search_finds(project, capsys, tmp_path):
    folder = built(project, capsys)
    searches = {"hand": "#item-reviewed", "sigmoid": "#scope-", "stable": "#scope-", BUG.lower(): ""}
    found = check_pages_in_chromium(folder, tmp_path, searches)
    for query, anchor in searches.items():  # an item by a word of its text, a scope, a tag's text, the ID
        hrefs = [r["href"] for r in found[query]]
        assert hrefs and any(f"bugs/{BUG.lower()}.html{anchor}" in href for href in hrefs), (query, hrefs)
    assert "Reviewed by hand" in found["hand"][0]["text"]


@pytest.fixture(scope="module")
def repository_site(tmp_path_factory) -> Path:
    """This repository's own site: its one real bug, with long code lines and 17 items."""
    out = tmp_path_factory.mktemp("repository-site")
    run = subprocess.run(
        [sys.executable, "-m", "tracer", "site", "-o", str(out)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return out


@needs_chromium
def test_chromium_this_repositorys_pages_fit_the_screen(repository_site, tmp_path):
    found = check_pages_in_chromium(repository_site, tmp_path, {"degenerate": ""})
    assert any("#item-dice-degenerate" in r["href"] for r in found["degenerate"])


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data): a blank page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


def keep_screenshot(shot: Path, folder: Path) -> None:
    """Into the README's folder: as a 256-colour PNG where Pillow is installed (a third of the
    bytes, the same to the eye), else as Chromium wrote it."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        shutil.copy(shot, folder / shot.name)
        return
    with Image.open(shot) as image:
        image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(folder / shot.name, optimize=True)


@needs_chromium
@pytest.mark.parametrize("size", list(WIDTHS), ids=list(WIDTHS))
def test_chromium_screenshots_of_the_index_a_bug_the_matrix_and_the_tags(repository_site, tmp_path, size):
    width, height = WIDTHS[size]
    keep = os.environ.get("TRACER_SITE_SCREENSHOTS")
    bug = next((repository_site / "bugs").glob("*.html")).relative_to(repository_site).as_posix()
    for name, page in (("index", "index.html"), ("bug", bug), ("matrix", "matrix.html"), ("tags", "tags.html")):
        shot = tmp_path / f"{name}-{width}.png"
        run = chromium(
            tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}", (repository_site / page).as_uri()
        )
        assert shot.is_file(), run.stderr.decode(errors="replace")[-2000:]
        shot_width, shot_height, values = png_facts(shot)
        assert (shot_width, shot_height) == (width, height)
        assert values > 64, f"{shot} looks blank"
        if keep:
            keep_screenshot(shot, Path(keep))


def test_a_team_of_many_bugs_gets_listings_in_pages_and_a_sidebar_of_counts(project, capsys, monkeypatch):
    """Thousands of reports: the index, the matrix and the tags page split into pages that link to
    each other, and a sidebar that counts each status (every page listing every bug would be
    megabytes each). Pages a shorter listing no longer has are removed."""
    monkeypatch.setattr("tracer.site.PER_PAGE", {"index": 2, "matrix": 2, "tags": 1})
    monkeypatch.setattr("tracer.site.NAV_BUGS", 3)
    more = [f"BUG-20250303-00{n}" for n in range(3, 7)]
    make_files(
        project,
        {
            f"docs/bug_reports/{b.lower()}-x.md": report_text(b, title=f"Bug {b}", status="open", items=ITEMS)
            for b in more
        },
    )
    folder = built(project, capsys)
    everything = pages(folder)
    # five bugs, two a page; five tags (four in step.py, the orphan's in other.py), one a page
    for name, count in (("index", 3), ("matrix", 3), ("tags", 5)):
        names = [name + ".html", *(f"{name}-{n}.html" for n in range(2, count + 1))]
        assert f"{name}-{count + 1}.html" not in everything
        for number, page in enumerate(names, start=1):
            pagers = everything[page].findall(".//nav[@class='pager']")
            assert len(pagers) == 2, page  # above and below the listing
            links = [(a.get("href"), a.get("aria-current"), a.get("rel")) for a in pagers[0].iter("a")]
            assert [href for href, current, _ in links if current == "page"] == [page]
            assert ("Previous" in text_of(pagers[0])) == (number > 1)
            assert ("Next" in text_of(pagers[0])) == (number < count)
    index_rows = [
        text_of(row.find("th"))
        for page in ("index.html", "index-2.html", "index-3.html")
        for row in everything[page].findall(".//table[@class='bugs cards']/tbody/tr")
    ]
    assert sorted(id.split()[0] for id in index_rows) == sorted([BUG, *more])  # each bug on one page, once
    assert "5 bugs" in text_of(everything["index-2.html"].find(".//ul[@class='totals']"))
    matrix_bugs = [
        text_of(row).split()[0]
        for page in ("matrix.html", "matrix-2.html", "matrix-3.html")
        for row in everything[page].findall(".//tr[@class='bug-row']")
    ]
    assert sorted(matrix_bugs) == sorted([BUG, *more])
    tag_rows = [
        text_of(row.find("th"))
        for page in ("tags.html", *(f"tags-{n}.html" for n in range(2, 6)))
        for row in everything[page].findall(".//table[@class='tags cards']/tbody/tr")
    ]
    assert len(set(tag_rows)) == len(tag_rows) == 5
    assert "(continued)" in text_of(everything["tags-3.html"].find(".//section/h2"))  # step.py, after other.py
    for name, tree in everything.items():
        sidebar = tree.find(".//nav[@class='sidebar']")
        counts = {text_of(h).split()[0]: int(text_of(h).split()[1]) for h in sidebar.findall("h2")}
        assert counts == {"Open": 4, "Fixed": 1}, name
        listed = [a.get("href") for ul in sidebar.findall("ul[@class='bugs']") for a in ul.iter("a")]
        assert listed == (["../" + name] if name.startswith("bugs/") else []), name
        assert "search" in text_of(sidebar.find("p[@class='nav-more']"))
    for bug in more[1:]:
        (project / f"docs/bug_reports/{bug.lower()}-x.md").unlink()
    folder = built(project, capsys)
    assert sorted(p.name for p in folder.glob("index*.html")) == ["index.html"]
    assert not list(folder.glob("matrix-*.html"))
