"""`tracer evidence import-junit`: outcomes of tests that ran under another runner, or in a CI
that keeps only JUnit XML, tick checklist items as evidence of the environment the user names.
Every bad file is a finding naming the file and line, and one bad file means nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import commit_all, make_files
from tests.tracer.conftest import BUG, report_text
from tests.tracer.project import BODY, ITEMS, build
from tracer.cli import main

EVIDENCE = Path("docs/bug_reports/evidence") / BUG.lower()
ENVIRONMENT = ["--environment", "runner=bazel", "--environment", "python=3.12"]
ITEMS_3 = ITEMS + "  - id: gradient\n    group: Unit tests\n    text: Gradient\n"

TESTS = f'''
import pytest


def test_edges(record_property):
    record_property("verifies", "{BUG}:edge-cases")
    assert min(max(-1, 0), 1) == 0


class TestGradient:
    @pytest.mark.parametrize("x", [0.25, 2.0])
    def test_finite(self, record_property, x):
        record_property("verifies", "{BUG}:gradient")
        assert x < 1


def test_unlinked():
    assert True
'''


@pytest.fixture
def fresh(in_tmp):
    """A fresh project: a report with three items, tagged code, tests that link to items with
    record_property, and no evidence yet."""
    revision = build(in_tmp)
    make_files(
        in_tmp,
        {
            f"docs/bug_reports/{BUG.lower()}-overflow.md": report_text(
                BUG, revision=revision, items=ITEMS_3, body=BODY
            ),
            "tests/test_step.py": TESTS,
        },
    )
    commit_all(in_tmp, "tests")
    return in_tmp


@pytest.fixture(scope="module")
def pytest_junit(tmp_path_factory) -> str:
    """The JUnit XML that `pytest --junitxml` writes for TESTS, run without tracer's plugin, as
    another machine or CI would (made once: it names tests by module, not by folder)."""
    root = tmp_path_factory.mktemp("runner")
    make_files(root, {"tests/test_step.py": TESTS})
    out = root / "junit.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:tracer",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={out}",
            "tests/test_step.py",
        ],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return out.read_text(encoding="utf-8")


@pytest.fixture
def junit(fresh, pytest_junit) -> Path:
    path = fresh / "junit.xml"
    path.write_text(pytest_junit, encoding="utf-8")
    return path


def evidence_files(root: Path) -> dict[str, str]:
    folder = root / EVIDENCE
    return {p.name: p.read_text() for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def test_a_pytest_junit_file_ticks_the_items_it_verifies_in_the_given_environment(fresh, junit, capsys):
    capsys.readouterr()
    assert main(["evidence", "import-junit", str(junit), *ENVIRONMENT]) == 0
    assert "recorded 3 results of 4 test cases" in capsys.readouterr().out
    ((name, text),) = evidence_files(fresh).items()
    data = json.loads(text)
    assert data["environment"] == {"runner": "bazel", "python": "3.12"}
    assert data["items"]["edge-cases"] == {
        "tests/test_step.py::test_edges": {
            "outcome": "passed",
            "code": data["items"]["edge-cases"]["tests/test_step.py::test_edges"]["code"],
            "source": "junit",
        }
    }
    assert {t: r["outcome"] for t, r in data["items"]["gradient"].items()} == {
        "tests/test_step.py::TestGradient::test_finite[0.25]": "passed",
        "tests/test_step.py::TestGradient::test_finite[2.0]": "failed",
    }
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    document = capsys.readouterr().out
    assert (
        "[x] Edge cases (`edge-cases`): **verified**: by `test_edges` in `tests/test_step.py` on python 3.12 / runner bazel (from JUnit)"
        in document
    )
    assert "[ ] Gradient (`gradient`): **failed**" in document
    assert "    - `test_edges`: imported from JUnit, which does not say which lines a test ran" in document


def test_the_same_import_twice_writes_the_same_bytes(fresh, junit, capsys):
    assert main(["evidence", "import-junit", str(junit), *ENVIRONMENT]) == 0
    first = evidence_files(fresh)
    assert (
        main(["evidence", "import-junit", str(junit), "-e", "python=3.12", "-e", "runner=bazel"]) == 0
    )  # in any order
    assert evidence_files(fresh) == first


UNITTEST_XML = f'''<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="tests.test_step.TestGradient-20250101" tests="2" errors="1" failures="0" skipped="0">
    <testcase classname="tests.test_step.TestGradient" name="test_finite" time="0.001" timestamp="2025-01-01T00:00:00">
      <properties><property name="verifies" value="{BUG}:gradient"/></properties>
    </testcase>
    <testcase classname="tests.test_step.TestGradient" name="test_raises" time="0.001">
      <properties><property name="verifies" value="{BUG}:gradient"/></properties>
      <error type="ValueError" message="boom"/>
    </testcase>
  </testsuite>
</testsuites>
'''

BAZEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="//tests:test_step" tests="1" failures="0" errors="0">
    <testcase name="//tests:test_step" status="run" duration="3" time="3"></testcase>
  </testsuite>
</testsuites>
"""


def test_unittest_xml_reporting_and_bazel_files_and_a_mapping_in_the_config(fresh, capsys):
    pyproject = fresh / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + f'\n[tool.tracer.verifies]\n"tests/test_step.py" = ["{BUG}:edge-cases"]\n'
    )
    make_files(fresh, {"unittest.xml": UNITTEST_XML, "bazel.xml": BAZEL_XML})
    assert main(["evidence", "import-junit", "unittest.xml", "bazel.xml", "-e", "runner=bazel"]) == 0
    data = json.loads(next(iter(evidence_files(fresh).values())))
    assert {t: r["outcome"] for t, r in data["items"]["gradient"].items()} == {
        "tests/test_step.py::TestGradient::test_finite": "passed",
        "tests/test_step.py::TestGradient::test_raises": "failed",  # an error is a failure
    }
    assert {t: r["outcome"] for t, r in data["items"]["edge-cases"].items()} == {"tests/test_step.py": "passed"}


def bad_file(root: Path, xml: str, name: str = "bad.xml") -> Path:
    make_files(root, {name: xml})
    return root / name


CASE = '<testcase classname="tests.test_step" name="test_edges"><properties><property name="verifies" value="{value}"/></properties></testcase>'
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite><testcase classname="tests.test_step" name="&lol3;"/></testsuite>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase classname="tests.test_step" name="x"><properties><property name="verifies" value="&secret;"/></properties></testcase></testsuite>
"""


@pytest.mark.parametrize(
    "xml, line, code, words",
    [
        ("<testsuite>\n<testcase name='a'>\n</testsuite>\n", 3, "J001", "not well-formed"),
        ("<html><body/></html>", 1, "J001", "not JUnit XML"),
        (BILLION_LAUGHS, 2, "J002", "DTD"),
        (EXTERNAL, 2, "J002", "DTD"),
        (f"<testsuite>\n\n{CASE.format(value='BUG-20990101-001:edge-cases')}</testsuite>", 3, "J003", "no bug report"),
        (f"<testsuite>\n{CASE.format(value=BUG + ':no-such-item')}</testsuite>", 2, "J004", "the report does not have"),
        (f"<testsuite>\n{CASE.format(value=BUG)}</testsuite>", 2, "J006", "BUG-ID:item"),
        (
            f'<testsuite>\n<testcase file="../../../etc/passwd" name="t"><properties><property name="verifies" value="{BUG}:edge-cases"/></properties></testcase></testsuite>',
            2,
            "J005",
            "not a file inside the project",
        ),
        (
            f'<testsuite>\n<testcase file="/etc/passwd" name="t"><properties><property name="verifies" value="{BUG}:edge-cases"/></properties></testcase></testsuite>',
            2,
            "J005",
            "not a file inside the project",
        ),
        (
            f'<testsuite>\n<testcase classname="elsewhere.test_x" name="t"><properties><property name="verifies" value="{BUG}:edge-cases"/></properties></testcase></testsuite>',
            2,
            "J005",
            "no file of the project holds",
        ),
    ],
    ids=[
        "malformed",
        "not-junit",
        "billion-laughs",
        "external-entity",
        "unknown-bug",
        "unknown-item",
        "no-item",
        "dotdot",
        "absolute",
        "no-file",
    ],
)
def test_one_bad_file_is_a_finding_with_file_and_line_and_nothing_is_written(
    fresh, junit, capsys, xml, line, code, words
):
    good = junit
    bad = bad_file(fresh, xml)
    capsys.readouterr()
    assert main(["evidence", "import-junit", str(good), str(bad), *ENVIRONMENT]) == 2
    error = capsys.readouterr().err
    assert f"bad.xml:{line}: {code} " in error and words in error, error
    assert "Traceback" not in error and "nothing imported" in error
    assert evidence_files(fresh) == {}  # the good file's results are not written either


def test_a_broken_evidence_file_is_a_finding_before_anything_is_written(fresh, junit, capsys):
    broken = fresh / EVIDENCE / "cpython3.11-linux.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ not json")
    capsys.readouterr()
    assert main(["evidence", "import-junit", str(junit), *ENVIRONMENT]) == 2
    assert "cpython3.11-linux.json" in capsys.readouterr().err
    assert evidence_files(fresh) == {"cpython3.11-linux.json": "{ not json"}


@pytest.mark.parametrize("fact", ["python", "=3.12", "python="])
def test_an_environment_is_key_value(fresh, junit, capsys, fact):
    assert main(["evidence", "import-junit", str(junit), "--environment", fact]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_a_file_without_links_says_so(fresh, capsys):
    junit = bad_file(fresh, '<testsuite><testcase classname="tests.test_step" name="test_unlinked"/></testsuite>')
    capsys.readouterr()
    assert main(["evidence", "import-junit", str(junit), *ENVIRONMENT]) == 1
    assert "none of 1 test cases links to a checklist item" in capsys.readouterr().err and evidence_files(fresh) == {}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda t: f"<testsuite>{t}</testsuite>".encode()))
)
def test_any_bytes_are_read_or_are_findings_never_an_exception(fresh, data):
    from tracer.config import load_config
    from tracer.junit import read_junit
    from tracer.reports import load_reports

    path = fresh / "any.xml"
    path.write_bytes(data)
    config = load_config(fresh)
    read = read_junit(config, [(path, "any.xml")], load_reports(config).reports)
    assert all(p.path == "any.xml" and p.line >= 1 and p.code.startswith("J") for p in read.problems)
