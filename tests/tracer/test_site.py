"""`tracer site`: the static HTML site of a small tagged project with git history and test
evidence from two environments. Every page is parsed strictly; what the pages show is compared
with what the project holds (the trace JSON, the evidence recorded here), never with fixed text."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
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
    make_files(in_tmp, {
        REPORT: report_text(BUG, revision=revision, items=ITEMS + GRADIENT_ITEM, body=BODY),
        "src/demo/other.py": f"def lonely():\n    # {ORPHAN}: a tag without a report\n    return 1\n",
        "tests/test_step.py": "# the tests whose results record() writes: results of a test file that is gone count for nothing\n",
    })
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


def test_every_page_parses_and_every_internal_link_resolves(project, capsys):
    folder = built(project, capsys)
    parsed = pages(folder)
    assert set(parsed) == {"index.html", "matrix.html", "tags.html", f"bugs/{BUG.lower()}.html"}
    ids = {name: {e.get("id") for e in tree.iter() if e.get("id")} for name, tree in parsed.items()}
    external = set()
    for name, tree in parsed.items():
        assert not list(tree.iter("script")), name
        assert tree.find("head/link[@rel='stylesheet']").get("href").endswith("style.css")
        assert tree.find(".//table/thead/tr/th") is not None, f"{name}: a table without header cells"
        for element in tree.iter():
            target = element.get("href") or element.get("src")
            if target is None or element.tag not in ("a", "link", "img"):
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
    assert cells["Title"] == "Overflow in the step function" and cells["Severity"] == "High" and cells["Status"] == "fixed"
    assert cells["Verified"] == f"{len(verified)}/3"  # the manual sign-off is done, not verified
    assert (cells["Stale"], cells["Failed"], cells["Proven"]) == ("0", str(len(failed)), "0")
    assert ISSUE_URL.format(id=BUG) in [a.get("href") for a in row.iter("a")]


def test_the_matrix_has_a_row_per_checklist_item_and_a_cell_per_linked_test(project, capsys):
    tree = parse(built(project, capsys) / "matrix.html")
    (table,) = tree.findall(".//table")
    rows = table.findall("tbody/tr")
    assert [r.get("id") for r in rows] == [f"{BUG}-{i}" for i in ("edge-cases", "reviewed", "gradient")]
    for row in rows:
        item = row.get("id").removeprefix(f"{BUG}-")
        linked = sorted({test for _, i, test, _, _ in RESULTS if i == item})
        cells = [c for c in row.findall("td") if "result" in classes(c)]
        assert [c.find("code").get("title") for c in cells] == linked
        for cell, test in zip(cells, linked):
            shown = [text_of(li) for li in cell.findall("ul/li")]
            expected = sorted(
                f"{outcome} on {label(env)}, {'current code' if current else 'older code'}"
                for env, i, t, outcome, current in RESULTS if i == item and t == test
            )
            assert sorted(shown) == expected
        if not linked:
            (none,) = [c for c in row.findall("td") if "none" in classes(c)]
            assert text_of(none).startswith("signed off by reviewer: read the diff")


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
            url = SOURCE_URL.format(commit=head, path=function["path"], start=change["start_line"], end=change["end_line"])
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
                expected.setdefault(function["path"], set()).add((f"{change['start_line']}-{change['end_line']}", function["qualname"], change["text"]))
    shown: dict[str, set[tuple[str, str, str]]] = {}
    for section in tree.iter("section"):
        path = text_of(section.find("h2"))
        for row in section.findall(".//tbody/tr"):
            cells = [text_of(c) for c in row]
            shown.setdefault(path, set()).add((cells[0], cells[1], cells[4]))
    assert shown == expected
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
    make_files(in_tmp, {REPORT: report_text(BUG, title=title, revision=revision, items=ITEMS, body=BODY + "\n<i>raw</i>\n")})
    folder = built(in_tmp, capsys)
    for name, tree in pages(folder).items():
        assert not list(tree.iter("script")) and not list(tree.iter("b")) and not list(tree.iter("i")), name
    page = parse(folder / f"bugs/{BUG.lower()}.html")
    assert text_of(page.find(".//h1")) == f"{BUG}: <script>alert(1)</script> & <b>bold</b>"


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
    assert "removed 1" in capsys.readouterr().out
    assert not (folder / f"bugs/{BUG.lower()}.html").exists() and own.exists()
    assert BUG in text_of(parse(folder / "tags.html").find(".//p[@class='orphans']"))


def test_a_project_template_extends_the_built_in_one(project, capsys):
    make_files(project, {"templates/site-bug.html.j2": '{% extends "tracer/site-bug.html.j2" %}{% block footer %}<p id="ours">OUR FOOTER</p>{% endblock %}'})
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


def test_report_links_point_from_the_page_to_the_same_file(project, capsys):
    make_files(project, {
        "docs/design.md": "# Design\n",
        REPORT: (project / REPORT).read_text().replace("A stable sigmoid.", "A stable sigmoid, see [the design](../design.md)."),
    })
    folder = built(project, capsys)
    page = folder / f"bugs/{BUG.lower()}.html"
    (link,) = [a for a in parse(page).iter("a") if text_of(a) == "the design"]
    assert (page.parent / link.get("href")).resolve() == (project / "docs/design.md").resolve()


def test_the_stylesheet_colours_code_in_both_schemes(project, capsys):
    css = (built(project, capsys) / "style.css").read_text()
    light = css.index("@media not all and (prefers-color-scheme: dark)")
    dark = css.rindex("@media (prefers-color-scheme: dark)")
    assert light < dark
    assert re.search(r"\.highlight \.k \{", css[light:dark]) and re.search(r"\.highlight \.k \{", css[dark:])


def test_a_warm_site_renders_nothing_in_a_new_process(project, capsys):
    """Cache keys hold nothing that changes from one process to the next (such as the order of a
    set of strings, which hash randomisation shuffles): a second run adds no page to the cache."""
    import os
    import subprocess
    import sys

    def run(seed: str) -> set[str]:
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "tracer", "site"], cwd=project, env=environment, check=True, capture_output=True)
        return {p.name for p in (project / ".tracer-cache/render").glob("site-*")}

    first = run("1")
    assert len(first) == 5  # index, matrix, tags, one bug, the stylesheet
    assert run("2") == first


# The site in a real browser: headless Chromium opens the index and a bug page from file://, with
# no network, at desktop and phone width, and takes screenshots. Set TRACER_SITE_SCREENSHOTS to a
# folder to keep the screenshots and look at them.

CHROMIUM = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """One headless run, in a fresh profile, with every network feature off."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data): a blank page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@needs_chromium
@pytest.mark.parametrize("width, height", [(1280, 900), (390, 1600)], ids=["desktop", "phone"])
def test_chromium_shows_the_index_and_a_bug_page(project, capsys, tmp_path, width, height):
    folder = built(project, capsys)
    keep = os.environ.get("TRACER_SITE_SCREENSHOTS")
    for page in ("index.html", f"bugs/{BUG.lower()}.html"):
        shot = tmp_path / f"{Path(page).stem}-{width}.png"
        url = (folder / page).resolve().as_uri()
        run = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}", url)
        assert shot.is_file(), run.stderr.decode(errors="replace")[-2000:]
        shot_width, shot_height, values = png_facts(shot)
        assert (shot_width, shot_height) == (width, height)
        assert values > 64, f"{shot} looks blank"
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)


@needs_chromium
def test_chromium_reads_the_pages_as_written(project, capsys, tmp_path):
    """The DOM Chromium builds holds what the page says: its title, every changed scope, the
    checklist, and no script."""
    folder = built(project, capsys)
    run = chromium(tmp_path, "--dump-dom", (folder / f"bugs/{BUG.lower()}.html").resolve().as_uri())
    dom = run.stdout.decode()
    assert f"<title>{BUG}: Overflow in the step function</title>" in dom, run.stderr.decode(errors="replace")[-2000:]
    assert dom.count('class="function"') == 2 and 'id="item-edge-cases"' in dom and "<script" not in dom
