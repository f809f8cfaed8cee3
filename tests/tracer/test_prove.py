"""`tracer prove` a user can trust: the pre-fix run imports the pre-fix code whatever the layout
and however the project is installed, and says so when it cannot; each change of a fix is put
back alone to see which linked test catches it; only code of HEAD's history runs unless the user
names another revision; and nothing is left behind, not even by a run killed with SIGKILL.

Each test builds a small git repository in tmp_path: the buggy code, then the fix with its
report and tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import commit_all, git, make_files
from tests.tracer.conftest import BUG, SLOW_TEST, prove_in_a_process, report_text
from tracer.changes import ChangeProof, ChangeResult, ChangeStatus
from tracer.cli import main
from tracer.environment import Environment
from tracer.evidence import EvidenceFile

ITEMS = """\
  - id: edge-cases
    group: Unit tests
    text: Edge cases
  - id: scaling
    group: Unit tests
    text: Scaling
"""
REPORT = f"docs/bug_reports/{BUG.lower()}-step.md"
EVIDENCE_DIR = f"docs/bug_reports/evidence/{BUG.lower()}"

TEST_STEP = f"""
    import pytest

    from demo.step import step


    @pytest.mark.verifies("{BUG}", "edge-cases")
    def test_edges():
        assert step(2) == 1.0
    """


def commit_fix(root: Path, buggy: dict[str, str], fixed: dict[str, str], revision_line: bool = True) -> str:
    """The buggy code in one commit, then the fix with its report and tests; returns the first."""
    make_files(root, buggy)
    revision = commit_all(root, "buggy")
    make_files(root, {**fixed, REPORT: report_text(revision=revision if revision_line else None, items=ITEMS)})
    commit_all(root, "fix")
    return revision


def worktrees(root: Path) -> int:
    return git(root, "worktree", "list").count("\n")


def proof_of(root: Path) -> dict[str, dict[str, str]]:
    evidence = next((root / EVIDENCE_DIR).glob("*.json"))
    return json.loads(evidence.read_text())["proof"]["items"]


# The pre-fix run imports the pre-fix code, whatever the layout and the install

SRC_LAYOUT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "demo"
        version = "0"

        [tool.setuptools.packages.find]
        where = ["src"]

        [tool.tracer]
        source_roots = ["src"]
        """,
    "src/demo/__init__.py": "",
    "src/demo/step.py": "def step(x):\n    return x\n",
}
SRC_FIX = {
    "src/demo/step.py": f"def step(x):\n    # {BUG}: clamp\n    return min(max(x, 0.0), 1.0)\n",
    "tests/test_step.py": TEST_STEP,
}

FINDER_AT_THE_FRONT = """
    import sys
    from importlib.util import spec_from_file_location

    PACKAGE = {package!r}


    class Finder:
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if fullname == "demo":
                return spec_from_file_location("demo", PACKAGE + "/__init__.py", submodule_search_locations=[PACKAGE])
            return None


    def install():
        sys.meta_path.insert(0, Finder)  # at the front, as meson-python's editable finder goes
    """


def install_editable_by_hand(site: Path, project: Path, kind: str) -> None:
    """What an editable install leaves in site-packages: a .pth line with the project's src
    folder (setuptools for src layouts, hatchling), or a .pth that installs a meta-path finder."""
    packages = site / "packages"
    if kind == "pth":
        make_files(packages, {"demo.pth": f"{project / 'src'}\n"})
    else:
        make_files(
            packages,
            {
                "__editable__.demo-0.pth": "import __editable___demo_finder; __editable___demo_finder.install()\n",
                "__editable___demo_finder.py": FINDER_AT_THE_FRONT.format(package=str(project / "src" / "demo")),
            },
        )
    use_site_packages(site, packages)


def use_site_packages(site: Path, packages: Path) -> None:
    """Make every Python started with PYTHONPATH=site read `packages` as a site-packages folder."""
    make_files(site, {"sitecustomize.py": f"import site\nsite.addsitedir({str(packages)!r})\n"})


def imported_from(module: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.parametrize("kind", ["pth", "finder"])
def test_a_src_layout_installed_editable_is_proven_on_its_pre_fix_code(tmp_path, monkeypatch, capsys, kind):
    project = tmp_path / "project"
    commit_fix(project, SRC_LAYOUT, SRC_FIX)
    install_editable_by_hand(tmp_path / "site", project, kind)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    assert imported_from("demo", tmp_path) == str(project / "src" / "demo" / "__init__.py")  # the install is live

    monkeypatch.chdir(project)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in capsys.readouterr().out
    assert proof_of(project) == {"edge-cases": {"tests/test_step.py::test_edges": "proven"}}
    assert worktrees(project) == 1


@pytest.mark.parametrize("layout", ["src", "flat"])
def test_a_project_installed_with_pip_install_e_is_proven_on_its_pre_fix_code(tmp_path, monkeypatch, capsys, layout):
    project = tmp_path / "project"
    if layout == "src":
        commit_fix(project, SRC_LAYOUT, SRC_FIX)
    else:
        flat = {k.removeprefix("src/"): v for k, v in SRC_LAYOUT.items()}
        flat["pyproject.toml"] = (
            flat["pyproject.toml"].replace('where = ["src"]', 'include = ["demo*"]').replace('["src"]', '["demo"]')
        )
        commit_fix(project, flat, {k.removeprefix("src/"): v for k, v in SRC_FIX.items()})
    prefix = tmp_path / "prefix"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "-e",
            str(project),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--prefix",
            str(prefix),
        ],
        check=True,
        capture_output=True,
    )
    git(project, "clean", "-fdxq")  # the build leaves demo.egg-info behind
    packages = next(prefix.rglob("__editable__*.pth")).parent
    use_site_packages(tmp_path / "site", packages)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    source = project / ("src" if layout == "src" else "") / "demo" / "__init__.py"
    assert imported_from("demo", tmp_path) == str(source)

    monkeypatch.chdir(project)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in capsys.readouterr().out


NAMESPACE_LAYOUT = {
    "pyproject.toml": '[project]\nname = "demo"\n\n[tool.setuptools.packages.find]\nwhere = ["src"]\n',
    "src/acme/demo/__init__.py": "",  # acme is a namespace package: no __init__.py
    "src/acme/demo/step.py": "def step(x):\n    return x\n",
}


def test_a_namespace_package_is_proven_on_its_pre_fix_code(tmp_path, monkeypatch, capsys):
    fixed = {
        "src/acme/demo/step.py": SRC_FIX["src/demo/step.py"],
        "tests/test_step.py": TEST_STEP.replace("from demo.step", "from acme.demo.step"),
    }
    commit_fix(tmp_path, NAMESPACE_LAYOUT, fixed)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "src"))  # the current code first, as a stale shell would have it
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in capsys.readouterr().out


def test_a_flat_layout_is_proven_as_before(tmp_path, monkeypatch, capsys):
    flat = {
        "pyproject.toml": '[project]\nname = "demo"\n',
        "demo/__init__.py": "",
        "demo/step.py": "def step(x):\n    return x\n",
    }
    commit_fix(tmp_path, flat, {"demo/step.py": SRC_FIX["src/demo/step.py"], "tests/test_step.py": TEST_STEP})
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert "edge-cases                   proven             tests/test_step.py::test_edges" in capsys.readouterr().out


CONFTEST_ADDING_THE_CURRENT_CODE = """
    import os
    import sys

    sys.path.insert(0, os.environ["DEMO_SOURCE"])  # wherever the developer's checkout is
    """


def test_a_before_run_that_imports_the_current_code_is_refused_not_given_a_verdict(tmp_path, monkeypatch, capsys):
    fixed = {**SRC_FIX, "tests/conftest.py": CONFTEST_ADDING_THE_CURRENT_CODE}
    commit_fix(tmp_path, SRC_LAYOUT, fixed)
    monkeypatch.setenv("DEMO_SOURCE", str(tmp_path / "src"))
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--repeat", "1"]) == 2
    captured = capsys.readouterr()
    assert "the run on the pre-fix revision" in captured.err
    assert f"imported demo.step from {tmp_path / 'src' / 'demo' / 'step.py'}" in captured.err
    assert "no verdict" in captured.err
    assert "passes before too" not in captured.out + captured.err
    assert not (tmp_path / EVIDENCE_DIR).exists()
    assert worktrees(tmp_path) == 1


# Each change of the fix, put back alone

TWO_CHANGES_BUGGY = {
    "pyproject.toml": '[project]\nname = "demo"\n',
    "demo/__init__.py": "",
    "demo/step.py": """
        def step(x):
            return x


        def scale(x):
            return x
        """,
}
TWO_CHANGES_FIXED = {
    "demo/step.py": f"""
        def step(x):
            # {BUG}: clamp
            return min(max(x, 0.0), 1.0)


        def scale(x):
            # {BUG}: double the input
            return 2 * x
        """,
    "tests/test_step.py": f"""
        import pytest

        from demo.step import scale, step


        @pytest.mark.verifies("{BUG}", "edge-cases")
        def test_edges():
            assert step(2) == 1.0


        @pytest.mark.verifies("{BUG}", "scaling")
        def test_scale_of_zero():
            assert scale(0) == 0  # true with the fix and without it
        """,
}


def test_prove_changes_names_the_test_that_catches_each_block_and_the_block_none_catches(tmp_path, monkeypatch, capsys):
    commit_fix(tmp_path, TWO_CHANGES_BUGGY, TWO_CHANGES_FIXED)
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--changes", "--format", "json"]) == 1  # a block no test catches is a finding
    blocks = json.loads(capsys.readouterr().out)
    assert [(b["path"], b["start_line"], b["end_line"], b["status"], b["caught_by"]) for b in blocks] == [
        ("demo/step.py", 2, 3, "caught", ["tests/test_step.py::test_edges"]),
        ("demo/step.py", 7, 8, "not caught", []),
    ]
    assert [b["qualname"] for b in blocks] == ["step", "scale"]

    evidence = json.loads(next((tmp_path / EVIDENCE_DIR).glob("*.json")).read_text())
    assert [b["status"] for b in evidence["changes"]["blocks"]] == ["caught", "not caught"]
    assert (
        git(tmp_path, "status", "--porcelain") == "?? docs/bug_reports/evidence/\n"
    )  # only the evidence: the code is as it was
    assert (tmp_path / "demo" / "step.py").read_text() == textwrap.dedent(TWO_CHANGES_FIXED["demo/step.py"]).lstrip(
        "\n"
    )

    assert main(["render", BUG, "-o", "-"]) == 0
    document = capsys.readouterr().out
    assert "- Lines 2-3: caught by `test_edges` in `tests/test_step.py` (on cpython" in document
    assert "- Lines 7-8: **caught by no linked test** (on cpython" in document


BAD_BLOCKS_BUGGY = {
    "pyproject.toml": '[project]\nname = "demo"\n',
    "demo/__init__.py": "",
    "demo/consts.py": "HIGH = 1.0\n",
    "demo/step.py": """
        from demo.consts import HIGH


        def step(x):
            return x


        def typo(x):
            return x +


        def wait():
            while True:
                pass
        """,
}
BAD_BLOCKS_FIXED = {
    "demo/consts.py": f"HIGH = 1.0\n\n# {BUG}: the lower bound, imported by demo.step\nLOW = 0.0\n",
    "demo/step.py": f"""
        from demo.consts import HIGH, LOW


        def step(x):
            # {BUG}: clamp
            return min(max(x, LOW), HIGH)


        def typo(x):
            # {BUG}: the line was cut short
            return x + 1


        def wait():
            # {BUG}: never spin
            return 1


        # {BUG}: a helper the fix added, that no test calls
        def spare(x):
            return x
        """,
    "tests/test_step.py": f"""
        import pytest

        from demo.step import step, typo, wait


        @pytest.mark.verifies("{BUG}", "edge-cases")
        def test_edges():
            assert step(2) == 1.0


        @pytest.mark.verifies("{BUG}", "scaling")
        def test_typo():
            assert typo(1) == 2


        @pytest.mark.verifies("{BUG}", "scaling")
        def test_wait():
            assert wait() == 1
        """,
}


def test_each_bad_block_is_that_blocks_finding_never_a_traceback_or_a_leftover(tmp_path, monkeypatch, capsys):
    commit_fix(tmp_path, BAD_BLOCKS_BUGGY, BAD_BLOCKS_FIXED)
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--changes", "--format", "json", "--timeout", "15"]) == 1
    blocks = {(b["path"], b["qualname"]): b for b in json.loads(capsys.readouterr().out)}
    assert blocks[("demo/step.py", "step")]["status"] == "caught"
    assert blocks[("demo/step.py", "typo")]["status"] == "does not parse"
    assert "does not parse: invalid syntax" in blocks[("demo/step.py", "typo")]["message"]
    assert blocks[("demo/step.py", "wait")]["status"] == "timed out"
    assert blocks[("demo/step.py", "<module>")]["status"] == "not caught"
    assert blocks[("demo/step.py", "<module>")]["message"] == "new in the fix: its body taken out"
    lower_bound = blocks[("demo/consts.py", "<module>")]
    assert lower_bound["status"] == "does not import"
    assert "ImportError: cannot import name 'LOW' from 'demo.consts'" in lower_bound["message"]
    assert str(tmp_path) not in json.dumps(list(blocks.values()))
    assert worktrees(tmp_path) == 1
    assert not list(Path(tempfile.gettempdir()).glob(f"tracer-prove-{os.getpid()}-*"))


def test_prove_changes_works_from_the_committed_diffs_in_a_shallow_clone(tmp_path, monkeypatch, capsys):
    origin = tmp_path / "origin"
    commit_fix(origin, TWO_CHANGES_BUGGY, TWO_CHANGES_FIXED)
    monkeypatch.chdir(origin)
    assert main(["render", BUG]) == 0
    commit_all(origin, "the document, with its diffs")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(clone))
    monkeypatch.chdir(clone)
    capsys.readouterr()
    assert main(["prove", BUG, "--changes", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert "is not a commit of this clone: the pre-fix forms come from the diffs committed in" in captured.err
    blocks = json.loads(captured.out)
    assert [(b["start_line"], b["end_line"], b["status"], b["caught_by"]) for b in blocks] == [
        (2, 3, "caught", ["tests/test_step.py::test_edges"]),
        (7, 8, "not caught", []),
    ]

    assert (
        main(["prove", BUG, "--changes", "--base", "0123456789ab"]) == 2
    )  # the kept diffs are against another revision
    assert "--base 0123456789ab is not a commit of this clone" in capsys.readouterr().err


def test_a_change_proof_planted_in_the_evidence_neither_catches_with_a_ghost_test_nor_injects(
    tmp_path, monkeypatch, capsys
):
    """Evidence is data a pull request can change: a block "caught" by a test the project does not
    have is caught by none, and a message cannot add a heading, a ticked box or a link."""
    commit_fix(tmp_path, TWO_CHANGES_BUGGY, TWO_CHANGES_FIXED)
    environment = Environment.of({"implementation": "cpython", "python": "3.11", "platform": "linux"})
    planted = EvidenceFile(BUG, environment)
    planted.changes = ChangeProof(
        "abc",
        "",
        "git",
        (
            ChangeResult("demo/step.py", 2, 3, "step", ChangeStatus.CAUGHT, ("tests/test_step.py::test_forged",)),
            ChangeResult(
                "demo/step.py",
                7,
                8,
                "scale",
                ChangeStatus.TIMED_OUT,
                (),
                "x\n\n## Sign-off\n- [x] approved, see [this](javascript:alert(1))",
            ),
        ),
    )
    path = tmp_path / EVIDENCE_DIR / f"{environment.file_stem}.json"
    make_files(tmp_path, {path.relative_to(tmp_path).as_posix(): planted.to_json()})
    monkeypatch.chdir(tmp_path)

    assert main(["render", BUG, "-o", "-"]) == 0
    document = capsys.readouterr().out
    assert (
        "- Lines 2-3: **caught by no linked test** (on cpython 3.11 / linux, on code that has since changed)"
        in document
    )
    assert "test_forged" not in document
    (line,) = [line for line in document.splitlines() if "Sign-off" in line]  # one line: no heading, no box
    assert line == (
        "- Lines 7-8: **timed out**: x\\n\\n## Sign-off\\n- [x] approved, see [this\\](javascript:alert(1)) "
        "(on cpython 3.11 / linux, on code that has since changed)"
    )  # `]` escaped: no link
    assert main(["check"]) == 1
    assert "C309 item '(prove --changes)': test 'tests/test_step.py::test_forged'" in capsys.readouterr().out


def test_prove_changes_without_a_pre_fix_revision_is_a_clear_error(tmp_path, monkeypatch, capsys):
    commit_fix(tmp_path, TWO_CHANGES_BUGGY, TWO_CHANGES_FIXED, revision_line=False)
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--changes"]) == 2
    assert "names no pre_fix_revision; give --base REV" in capsys.readouterr().err


# Only code of HEAD's history runs, unless the user names another revision

PLANTED = """
    from pathlib import Path

    Path({marker!r}).write_text("ran")  # the code of a revision nobody asked to run


    def step(x):
        return x
    """


def test_a_pre_fix_revision_outside_heads_history_is_refused_without_running_it(tmp_path, monkeypatch, capsys):
    marker = tmp_path / "ran"
    project = tmp_path / "project"
    flat = {
        "pyproject.toml": '[project]\nname = "demo"\n',
        "demo/__init__.py": "",
        "demo/step.py": "def step(x):\n    return x\n",
    }
    make_files(project, flat)
    commit_all(project, "buggy")
    git(project, "checkout", "-q", "-b", "elsewhere")
    make_files(project, {"demo/step.py": PLANTED.format(marker=str(marker))})
    planted = commit_all(project, "a commit on another branch")
    git(project, "checkout", "-q", "main")
    make_files(
        project,
        {
            "demo/step.py": SRC_FIX["src/demo/step.py"],
            "tests/test_step.py": TEST_STEP,
            REPORT: report_text(revision=planted, items=ITEMS),
        },
    )
    commit_all(project, "fix")
    monkeypatch.chdir(project)

    for command in (["prove", BUG], ["prove", BUG, "--changes"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{REPORT}:9: pre_fix_revision {planted} is not an ancestor of HEAD" in err
        assert "nothing was run" in err
        assert not marker.exists()
        assert worktrees(project) == 1

    assert main(["prove", BUG, "--base", planted, "--repeat", "1"]) == 0
    assert (
        f"running the linked tests on the code of commit {planted} (a commit on another branch)"
        in capsys.readouterr().err
    )
    assert marker.exists()  # named explicitly, it ran


# Nothing left behind


def _stopped(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # reaped, or a zombie waiting for it


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the orphaned test process through /proc")
def test_a_prove_killed_with_sigkill_leaves_nothing_registered_after_the_next_run(tmp_path, monkeypatch, capsys):
    flat = {
        "pyproject.toml": '[project]\nname = "demo"\n',
        "demo/__init__.py": "",
        "demo/step.py": "def step(x):\n    return x\n",
    }
    commit_fix(tmp_path, flat, {"demo/step.py": SRC_FIX["src/demo/step.py"], "tests/test_step.py": TEST_STEP})
    make_files(tmp_path, {"tests/test_slow.py": SLOW_TEST})
    prove = prove_in_a_process(tmp_path)
    deadline = time.monotonic() + 60
    children: list[Path] = []
    while not children and time.monotonic() < deadline:
        children = [p for p in Path(tempfile.gettempdir()).glob(f"tracer-prove-{prove.pid}-*/children/*")]
        time.sleep(0.1)
    assert children, "prove never started its tests"
    prove.kill()
    prove.wait()
    assert worktrees(tmp_path) == 2  # SIGKILL: nothing could clean up
    left = children[0].parents[1]

    (tmp_path / "tests" / "test_slow.py").unlink()
    monkeypatch.chdir(tmp_path)
    assert main(["prove", BUG, "--repeat", "1"]) == 0
    assert worktrees(tmp_path) == 1
    assert not left.exists()
    assert _stopped(int(children[0].name)), "the killed run's test process is still running"
