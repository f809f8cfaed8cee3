"""tracer inside a team's MkDocs site: `plugins: [tracer]` in mkdocs.yml, and `mkdocs build
--strict` adds a page per bug, the matrix and the tags, in the site's theme and navigation,
with every link resolving (strict mode fails a build on a link MkDocs cannot resolve)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest

from tests.conftest import commit_all, make_files
from tests.tracer.conftest import BUG, report_text
from tests.tracer.project import BODY, ITEMS, build

pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install bugfix-tracer[mkdocs])")

REPORT = f"docs/bug_reports/{BUG.lower()}-overflow.md"


def mkdocs_build(root: Path, config: str) -> subprocess.CompletedProcess[str]:
    (root / "mkdocs.yml").write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", "site"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def team_site(in_tmp):
    """A project with a bug report and tagged code, and the team's own MkDocs docs beside them."""
    build(in_tmp)
    make_files(
        in_tmp, {"handbook/index.md": "# Handbook\n\nHow we work.\n", "handbook/setup.md": "# Setup\n\nInstall it.\n"}
    )
    commit_all(in_tmp, "docs")
    return in_tmp


def html_pages(site: Path) -> dict[str, object]:
    """The built pages but 404.html (whose links are absolute, for any folder the server is asked)."""
    return {
        p.relative_to(site).as_posix(): html5lib.parse(p.read_bytes(), namespaceHTMLElements=False)
        for p in site.rglob("*.html")
        if p.name != "404.html"
    }


def test_mkdocs_build_strict_adds_the_bugs_matrix_and_tags_with_links_that_resolve(team_site):
    run = mkdocs_build(team_site, "site_name: Team\ndocs_dir: handbook\nplugins:\n  - tracer\n")
    assert run.returncode == 0, run.stderr
    site = team_site / "site"
    stem = BUG.lower()
    for page in (
        "bugs/index.html",
        "bugs/matrix/index.html",
        "bugs/tags/index.html",
        f"bugs/{stem}/index.html",
        f"bugs/reports/{stem}/index.html",
    ):
        assert (site / page).is_file(), page
    pages = html_pages(site)
    for name, tree in pages.items():
        for anchor in tree.iter("a"):
            href = anchor.get("href")
            if not href or urlsplit(href).scheme or href.startswith("#"):
                continue
            target = (site / name).parent / unquote(urlsplit(href).path)
            assert target.exists() or (target / "index.html").exists(), f"{name}: {href}"
    bug = pages[f"bugs/{stem}/index.html"]
    text = " ".join("".join(bug.itertext()).split())
    assert "Overflow in the step function" in text and "Head.step" in text and "Traceability matrix" in text
    # the theme's own navigation lists the new section next to the team's pages
    home = " ".join("".join(pages["index.html"].itertext()).split())
    assert "Handbook" in home and BUG in home and "Traceability matrix" in home
    assert (site / "bugs/tracer.css").is_file()


def test_an_explicit_nav_gets_a_bugs_section(team_site):
    config = "site_name: Team\ndocs_dir: handbook\nnav:\n  - Home: index.md\n  - Setup: setup.md\nplugins:\n  - tracer:\n      nav_title: Defects\n"
    run = mkdocs_build(team_site, config)
    assert run.returncode == 0, run.stderr
    home = html5lib.parse((team_site / "site/index.html").read_bytes(), namespaceHTMLElements=False)
    links = {" ".join("".join(a.itertext()).split()): a.get("href") for a in home.iter("a")}
    assert "Defects" in " ".join("".join(home.itertext()).split())
    assert links.get("Traceability matrix", "").rstrip("/").endswith("bugs/matrix") and BUG in links


def test_hostile_report_text_stays_text_in_the_mkdocs_pages(in_tmp):
    revision = build(in_tmp)
    title = "<script>alert(1)</script> [x](javascript:alert(2)) *bold*"
    body = BODY.replace("A stable sigmoid.", "<img src=x onerror=alert(3)> [y](javascript:alert(4))")
    make_files(
        in_tmp,
        {
            REPORT: report_text(BUG, title=title, revision=revision, items=ITEMS, body=body),
            "handbook/index.md": "# Home\n",
        },
    )
    run = mkdocs_build(in_tmp, "site_name: Team\ndocs_dir: handbook\nplugins:\n  - tracer\n")
    assert run.returncode == 0, run.stderr
    for name, tree in html_pages(in_tmp / "site").items():
        assert not [s for s in tree.iter("script") if "alert" in (s.text or "") + (s.get("src") or "")], name
        for element in tree.iter():
            assert not any(a.startswith("on") for a in element.attrib), name
            assert not (element.get("href") or "").lower().startswith("javascript:"), name
        assert not [e for e in tree.iter("img") if e.get("src") == "x"], name
    bug = html5lib.parse((in_tmp / f"site/bugs/{BUG.lower()}/index.html").read_bytes(), namespaceHTMLElements=False)
    assert title in " ".join("".join(bug.find(".//h1").itertext()).split())


def test_a_broken_evidence_file_stops_the_build_naming_it(team_site):
    evidence = team_site / "docs/bug_reports/evidence" / BUG.lower() / "cpython3.11-linux.json"
    evidence.parent.mkdir(parents=True)
    evidence.write_text("{ not json")
    run = mkdocs_build(team_site, "site_name: Team\ndocs_dir: handbook\nplugins:\n  - tracer\n")
    assert run.returncode != 0
    assert (
        "tracer:" in run.stderr
        and evidence.relative_to(team_site).as_posix() in run.stderr
        and "Traceback" not in run.stderr
    )


def test_a_folder_the_docs_already_use_is_refused(team_site):
    make_files(team_site, {"handbook/bugs/index.md": "# Our bugs page\n"})
    run = mkdocs_build(team_site, "site_name: Team\ndocs_dir: handbook\nplugins:\n  - tracer\n")
    assert run.returncode != 0 and "set the plugin's folder" in run.stderr and "Traceback" not in run.stderr
