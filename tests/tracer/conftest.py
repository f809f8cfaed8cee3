"""Fixtures of tracer's tests: one report builder, and a pytester project with linked tests.

The pytester runs load the plugin with `-p tracer.plugin` and with entry-point autoloading off,
so they test this checkout's plugin whether or not tracer is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BUG = "BUG-20250101-001"


def report_text(
    bug_id: str = BUG,
    *,
    title: str = "Overflow in the step function",
    status: str = "fixed",
    tags: str | None = "[nan]",
    revision: str | None = None,
    items: str = "",
    body: str = "",
) -> str:
    """A bug report: the front matter in the order `tracer new` writes it, then `body`.
    `items` is the checklist's YAML, each item indented by two spaces."""
    lines = [
        "---",
        f"bug_id: {bug_id}",
        f"title: {title}",
        "severity: High",
        f"status: {status}",
        "created: 2025-01-01",
        "author: someone",
        *([f"tags: {tags}"] if tags is not None else []),
        *([f"pre_fix_revision: {revision}"] if revision else []),
        "checklist:",
        items.rstrip("\n"),
        "---",
        "",
    ]
    return "\n".join(lines) + body


PLUGIN_ITEMS = """\
  - id: edge-cases
    group: Unit tests
    text: Edge cases
  - id: gradient
    group: Unit tests
    text: Gradient
  - id: on-gpu
    group: Integration tests
    text: On a GPU
"""

CODE = f"""\
def step(x):
    # {BUG}: clamp
    return min(max(x, 0.0), 1.0)
"""

TESTS = f"""\
import pytest

from demo.step import step

BUG = "{BUG}"


@pytest.mark.verifies(BUG, "edge-cases")
def test_edges():
    assert step(-1) == 0.0 and step(2) == 1.0


@pytest.mark.verifies(BUG, "edge-cases")
def test_middle():
    assert step(0.5) == 0.5


@pytest.mark.verifies(BUG, "gradient")
def test_gradient():
    assert step(0.25) == 0.25


@pytest.mark.verifies(BUG, "on-gpu")
def test_gpu():
    pytest.skip("no GPU here")


def test_unlinked():
    assert True
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with a tagged function, a report of three items and tests linked to them."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p tracer.plugin -p xdist.plugin")
    pytester.makefile(".toml", pyproject='[project]\nname = "demo"\n\n[tool.tracer]\nsource_roots = ["demo"]\n')
    pytester.mkpydir("demo")
    (pytester.path / "demo" / "step.py").write_text(CODE)
    (pytester.path / "docs" / "bug_reports").mkdir(parents=True)
    report = report_text(title="Overflow", tags=None, items=PLUGIN_ITEMS, body=f"# {BUG}\n")
    (pytester.path / "docs" / "bug_reports" / f"{BUG.lower()}-overflow.md").write_text(report)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_step.py").write_text(TESTS)
    pytester.syspathinsert()
    return pytester


@pytest.fixture
def clean(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The small project of tests/tracer/project.py with its report's sign-off pinned and its
    documents rendered, as the current folder: check finds only the one warning."""
    from tests.tracer.project import BUG, build
    from tracer.cli import main

    build(in_tmp)
    assert main(["signoff", BUG, "reviewed", "--by", "reviewer", "--reason", "read the diff"]) == 0
    assert main(["render", "--all"]) == 0
    capsys.readouterr()
    return in_tmp


# A linked test that outlasts any wait: `tracer prove` is killed while it runs.
SLOW_TEST = f"""\
import time

import pytest


@pytest.mark.verifies("{BUG}", "edge-cases")
def test_slow():
    time.sleep(120)
"""


def prove_in_a_process(project: Path) -> subprocess.Popen[bytes]:
    """`tracer prove BUG` started in a process of its own (a test sends it signals)."""
    command = [
        sys.executable,
        "-c",
        "import sys; from tracer.cli import main; sys.exit(main(sys.argv[1:]))",
        "prove",
        BUG,
    ]
    return subprocess.Popen(command, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
