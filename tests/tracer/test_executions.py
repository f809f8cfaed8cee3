"""Evidence grounded in execution: each linked test records which tagged lines it ran, results go
stale only when code their test ran changes, and `tracer affected` names the tests to rerun.
Driven by pytester on a small project in a git repository, as a user would have it."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from tests.conftest import commit_all
from tests.tracer.conftest import BUG, report_text
from tracer.cli import main
from tracer.environment import Environment, python_environment

ENVIRONMENT = Environment.of(python_environment())
EVIDENCE = f"docs/bug_reports/evidence/{BUG.lower()}/{ENVIRONMENT.file_stem}.json"
REPORT = f"docs/bug_reports/{BUG.lower()}-clamp.md"

ITEMS = """\
  - id: clamps
    group: Unit tests
    text: Inputs are clamped
  - id: named
    group: Validation
    text: The fix names the bug
"""

CODE = f"""\
def clamp(x):
    # {BUG}: clamp into [0, 1]
    low = max(x, 0.0)
    return min(low, 1.0)


def scale(x, k):
    # {BUG}: scale after clamping
    if k < 0:
        raise ValueError("k must not be negative")
    return clamp(x) * k


def untouched(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""

TESTS = f"""\
from pathlib import Path

import pytest

from demo.calc import clamp

BUG = "{BUG}"


@pytest.mark.verifies(BUG, "clamps")
def test_clamps():
    assert clamp(2) == 1.0


@pytest.mark.verifies(BUG, "named")
def test_named():
    assert BUG in Path("demo/calc.py").read_text()
"""


@pytest.fixture
def calc(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Two items of one bug: `clamps`, whose test calls the tagged code, and `named`, whose test
    only reads the file; committed in git, as the current folder."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p tracer.plugin -p xdist.plugin -p no:cacheprovider")
    pytester.makefile(".toml", pyproject='[project]\nname = "demo"\n\n[tool.tracer]\nsource_roots = ["demo"]\n')
    pytester.mkpydir("demo")
    write(pytester, "demo/calc.py", CODE)
    write(pytester, REPORT, report_text(title="Clamp", tags=None, items=ITEMS, body=f"# {BUG}\n"))
    write(pytester, "tests/test_calc.py", TESTS)
    write(pytester, ".gitignore", "__pycache__/\n.tracer-cache/\n.pytest_cache/\nstdout\nstderr\nrunpytest-*\n")
    pytester.syspathinsert()
    monkeypatch.chdir(pytester.path)
    return pytester


def write(project: pytest.Pytester, path: str, text: str) -> None:
    target = project.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def edit(project: pytest.Pytester, path: str, old: str, new: str) -> None:
    target = project.path / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))


def results(project: pytest.Pytester) -> dict[str, dict]:
    data = json.loads((project.path / EVIDENCE).read_text())
    return {test.split("::")[-1]: result for tests in data["items"].values() for test, result in tests.items()}


def document(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    return capsys.readouterr().out


def check_json(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    main(["check", "--format", "json"])
    findings: list[dict] = json.loads(capsys.readouterr().out)
    return findings


def item_line(text: str, item: str) -> str:
    return next(line for line in text.splitlines() if f"(`{item}`)" in line)


def test_done_when_each_tick_says_what_its_test_ran_and_goes_stale_only_with_that_code(calc, capsys):
    calc.runpytest().assert_outcomes(passed=2)
    assert results(calc)["test_clamps"]["executed"] == {"demo/calc.py::clamp": "2-3"}
    assert results(calc)["test_named"]["executed"] == {}

    text = document(capsys)
    assert "    - `test_clamps` ran 2 of 5 changed lines (in `clamp`)" in text
    assert "    - `test_named` ran none of the bug's tagged code (not observed" in text
    findings = check_json(capsys)
    (w505,) = [f for f in findings if f["code"] == "W505"]
    assert "item 'named': test_named ran none of BUG-20250101-001's tagged code" in w505["message"]
    assert w505["item"]["id"] == "named"
    assert w505["item"]["runs"] == [
        {"test": "test_named", "cases": 1, "changed_lines_run": 0, "changed_lines": 5, "scopes": []}
    ]
    assert not [f for f in findings if f.get("item", {}).get("id") == "clamps"]  # verified: no finding

    assert main(["render", "--all"]) == 0
    commit_all(calc.path, "fix, tests, evidence")
    edit(calc, "demo/calc.py", "low = max(x, 0.0)", "low = max(x, 0.0) + 0.0")
    commit_all(calc.path, "edit only what test_clamps ran")

    text = document(capsys)
    assert "**stale**: verified on code that has since changed: `demo/calc.py::clamp`" in item_line(text, "clamps")
    assert "**verified**" in item_line(text, "named")

    capsys.readouterr()
    assert main(["affected", "--base", "HEAD~1"]) == 0
    assert capsys.readouterr().out == "tests/test_calc.py::test_clamps\n"
    assert main(["affected", "--base", "HEAD~1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "base": "HEAD~1",
        "tests": [
            {
                "test": "tests/test_calc.py::test_clamps",
                "bug_id": BUG,
                "reason": "ran `demo/calc.py::clamp`, which changed",
            }
        ],
    }
    assert main(["affected"]) == 0  # against HEAD: nothing changed since the last commit
    assert capsys.readouterr().out == ""

    run = calc.runpytest("--tracer-affected", "HEAD~1", "-v")
    run.assert_outcomes(passed=1, deselected=1)
    run.stdout.fnmatch_lines(["*test_clamps PASSED*"])
    assert "**verified**" in item_line(document(capsys), "clamps")


def test_an_edit_to_code_no_test_ran_makes_nothing_stale(calc, capsys):
    calc.runpytest().assert_outcomes(passed=2)
    commit_all(calc.path, "evidence")
    edit(calc, "demo/calc.py", "return clamp(x) * k", "return k * clamp(x)")
    text = document(capsys)
    assert "**verified**" in item_line(text, "clamps") and "**verified**" in item_line(text, "named")
    capsys.readouterr()
    assert main(["affected"]) == 0
    assert capsys.readouterr().out == ""


def test_a_static_item_is_no_finding_and_its_test_reads_the_code_so_an_edit_affects_it(calc, capsys):
    edit(calc, REPORT, "    text: The fix names the bug\n", "    text: The fix names the bug\n    kind: static\n")
    calc.runpytest().assert_outcomes(passed=2)
    text = document(capsys)
    assert "    - checked without running the code (`kind: static`)" in text
    assert not [f for f in check_json(capsys) if f["code"] == "W505"]
    commit_all(calc.path, "evidence")
    edit(calc, "demo/calc.py", "return clamp(x) * k", "return k * clamp(x)")
    assert "**verified**" in item_line(document(capsys), "named")  # it ran none of the code: not stale
    capsys.readouterr()
    assert main(["affected", "--format", "json"]) == 0
    (affected,) = json.loads(capsys.readouterr().out)["tests"]
    assert affected["test"] == "tests/test_calc.py::test_named"
    assert (
        affected["reason"]
        == "checks an item `kind: static`, and the tagged code it reads changed: `demo/calc.py::scale`"
    )


def test_a_kind_that_is_not_known_is_a_schema_error_naming_the_line(calc, capsys):
    edit(calc, REPORT, "    text: The fix names the bug\n", "    text: The fix names the bug\n    kind: statc\n")
    assert main(["check"]) == 1
    assert f"{REPORT}:15: R003 checklist[1].kind: 'statc' is not one of runtime, static" in capsys.readouterr().out


def test_tests_with_no_recorded_execution_count_as_affected(calc, capsys):
    calc.runpytest("-p", "no:tracer.plugin", "-p", "no:strict")
    commit_all(calc.path, "no evidence yet")
    run = calc.runpytest("--tracer-affected", "HEAD")  # nothing recorded: everything linked runs
    run.assert_outcomes(passed=2)
    data = json.loads((calc.path / EVIDENCE).read_text())
    for tests in data["items"].values():  # evidence of schema 1 has no "executed": its results read the same
        for result in tests.values():
            del result["executed"]
    data["schema_version"] = 1
    (calc.path / EVIDENCE).write_text(json.dumps(data))
    assert "`test_clamps`: which lines it ran is not recorded; rerun the tests" in document(capsys)
    capsys.readouterr()
    assert main(["affected"]) == 0
    assert capsys.readouterr().out.split() == ["tests/test_calc.py::test_clamps", "tests/test_calc.py::test_named"]
    assert main(["affected", "--base", "no-such-rev"]) == 2
    assert "no-such-rev is not a commit of this repository" in capsys.readouterr().err
    calc.runpytest("--tracer-affected", "no-such-rev").stderr.fnmatch_lines(
        ["*--tracer-affected: no-such-rev is not a commit*"]
    )


FIXTURES = f"""\
import os
from pathlib import Path

import pytest

from demo.calc import clamp, scale

BUG = "{BUG}"


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    # as tests/ocr/conftest.py does: the first process to ask does the work, the others read it
    folder = tmp_path_factory.getbasetemp()
    folder = folder.parent if os.environ.get("PYTEST_XDIST_WORKER") else folder
    done = folder / "scaled.txt"
    if not done.exists():
        done.write_text(str(scale(0.5, 2)))
    return float(done.read_text())


@pytest.mark.verifies(BUG, "clamps")
def test_first(shared):
    assert shared == 1.0


@pytest.mark.verifies(BUG, "clamps")
def test_second(shared):
    assert shared == 1.0


@pytest.mark.verifies(BUG, "clamps")
@pytest.mark.parametrize("name", ["shared"])
def test_asks_by_name(request, name):
    assert request.getfixturevalue(name) == 1.0


@pytest.mark.verifies(BUG, "named")
def test_own_call_too(shared):
    assert clamp(-1) == 0.0
"""


def test_a_wider_fixture_counts_for_every_test_that_uses_it_serial_or_under_xdist(calc):
    write(calc, "tests/test_calc.py", FIXTURES)
    calc.runpytest("-p", "no:xdist.plugin").assert_outcomes(passed=4)
    scaled = {"demo/calc.py::clamp": "2-3", "demo/calc.py::scale": "2,4"}
    found = results(calc)
    assert found["test_first"]["executed"] == found["test_second"]["executed"] == scaled
    assert found["test_asks_by_name[shared]"]["executed"] == scaled
    assert found["test_own_call_too"]["executed"] == scaled
    serial = (calc.path / EVIDENCE).read_bytes()
    (calc.path / EVIDENCE).unlink()
    calc.runpytest_subprocess("-n", "2").assert_outcomes(passed=4)
    assert (calc.path / EVIDENCE).read_bytes() == serial


BAD_INPUT_TESTS = f"""\
import importlib
import subprocess
import sys
import threading

import pytest

import demo.calc

BUG = "{BUG}"


@pytest.mark.verifies(BUG, "clamps")
def test_in_a_thread():
    found = []
    worker = threading.Thread(target=lambda: found.append(demo.calc.clamp(5)))
    worker.start()
    worker.join()
    assert found == [1.0]


@pytest.mark.verifies(BUG, "clamps")
def test_after_a_reload():
    importlib.reload(demo.calc)
    assert demo.calc.scale(3, 1) == 1.0


@pytest.mark.verifies(BUG, "clamps")
def test_a_generator_and_recursion():
    assert list(demo.calc.clamped([-1, 0.5])) == [0.0, 0.5]
    assert demo.calc.depth(3) == 0


@pytest.mark.verifies(BUG, "named")
def test_in_a_subprocess():
    code = "import demo.calc; assert demo.calc.clamp(2) == 1.0"
    subprocess.run([sys.executable, "-c", code], check=True)
"""

MORE_CODE = f"""

def clamped(values):
    # {BUG}: a generator
    for value in values:
        yield clamp(value)


def depth(n):
    # {BUG}: recursion
    return 0 if n == 0 else depth(n - 1)
"""


def assert_the_bad_input_tests_ran_their_lines(found):
    """BAD_INPUT_TESTS' lines, as every recording mechanism must see them."""
    assert found["test_in_a_thread"]["executed"] == {"demo/calc.py::clamp": "2-3"}
    assert found["test_after_a_reload"]["executed"] == {"demo/calc.py::clamp": "2-3", "demo/calc.py::scale": "2,4"}
    assert found["test_a_generator_and_recursion"]["executed"] == {
        "demo/calc.py::clamp": "2-3",
        "demo/calc.py::clamped": "2-3",
        "demo/calc.py::depth": "2",
    }


def test_threads_reloads_generators_and_recursion_are_seen_and_subprocesses_said_not_observed(calc, capsys):
    edit(calc, "demo/calc.py", "def untouched", MORE_CODE.lstrip("\n") + "\n\ndef untouched")
    write(calc, "tests/test_calc.py", BAD_INPUT_TESTS)
    run = calc.runpytest_subprocess()
    run.assert_outcomes(passed=4)
    found = results(calc)
    assert_the_bad_input_tests_ran_their_lines(found)
    assert found["test_in_a_subprocess"]["executed"] == {}
    run.stdout.fnmatch_lines(
        ["tracer: tests/test_calc.py::test_in_a_subprocess ran none of BUG-20250101-001's tagged code*subprocess*"]
    )
    assert (
        "`test_in_a_subprocess` ran none of the bug's tagged code (not observed: code run in a subprocess is not seen)"
        in document(capsys)
    )


def test_module_level_blocks_are_seen_as_they_run_at_import(calc, capsys):
    edit(
        calc,
        "demo/calc.py",
        "def clamp(x):",
        f"# {BUG}: the bounds, at import\nLOW, HIGH = 0.0, 1.0\n\n\ndef clamp(x):",
    )
    calc.runpytest_subprocess().assert_outcomes(passed=2)
    assert json.loads((calc.path / EVIDENCE).read_text())["imported"] == {"demo/calc.py::<module>": "1"}
    assert (
        f"Runs at import, before any test, and counts for every linked test: `<module>` in `demo/calc.py`: 1 changed line, "
        f"1 seen to run at import (on {ENVIRONMENT.label})"
    ) in document(capsys)
    commit_all(calc.path, "evidence")
    edit(calc, "demo/calc.py", "LOW, HIGH = 0.0, 1.0", "LOW, HIGH = 0.0, 2.0")
    assert "**stale**" in item_line(document(capsys), "clamps")  # every test runs what runs at import
    capsys.readouterr()
    assert main(["affected"]) == 0
    assert "tests/test_calc.py::test_clamps" in capsys.readouterr().out


TAKEN = """\
import sys

if sys.version_info >= (3, 12):
    for tool in range(6):
        if sys.monitoring.get_tool(tool) is None:
            sys.monitoring.use_tool_id(tool, "another tool")


def another_tool(frame, event, arg):
    return None


sys.settrace(another_tool)
"""

STILL_THERE = """

def test_the_other_tool_still_traces():
    import another_tool

    assert sys.gettrace() is another_tool.another_tool
"""


def test_another_tool_tracing_already_is_left_alone_and_tracer_records_all_the_same(calc, capsys):
    write(calc, "another_tool.py", TAKEN)  # a plugin: it starts before tracer does
    write(calc, "tests/test_calc.py", "import sys\n" + TESTS + STILL_THERE)
    run = calc.runpytest_subprocess("-p", "another_tool")
    run.assert_outcomes(passed=3)
    if sys.version_info >= (3, 12):
        run.stdout.fnmatch_lines(["tracer: sys.monitoring has no free tool id*recorded with line probes instead"])
    assert "Traceback" not in run.stdout.str() + run.stderr.str()
    assert results(calc)["test_clamps"]["executed"] == {"demo/calc.py::clamp": "2-3"}


def test_a_trace_function_in_use_stops_the_settrace_recorder_and_says_so(calc, capsys, monkeypatch):
    write(calc, "another_tool.py", TAKEN)
    monkeypatch.setenv("TRACER_RECORDING", "settrace")
    run = calc.runpytest_subprocess("-p", "another_tool")
    run.assert_outcomes(passed=2)
    run.stdout.fnmatch_lines(
        [
            "tracer: sys.settrace was in use by another tool (another_tool.another_tool): "
            "the executions of 2 linked tests were not recorded"
        ]
    )
    assert "executed" not in results(calc)["test_clamps"]
    assert "`test_clamps`: which lines it ran is not recorded; rerun the tests" in document(capsys)


@pytest.mark.parametrize("early", [False, True], ids=["imported by the tests", "imported before tracer starts"])
@pytest.mark.parametrize("mechanism", ["settrace", "probes"] + (["monitoring"] if sys.version_info >= (3, 12) else []))
def test_every_recording_mechanism_records_the_same_lines(calc, mechanism, early, monkeypatch):
    monkeypatch.setenv("TRACER_RECORDING", mechanism)
    edit(calc, "demo/calc.py", "def untouched", MORE_CODE.lstrip("\n") + "\n\ndef untouched")
    write(calc, "tests/test_calc.py", BAD_INPUT_TESTS)
    calc.runpytest_subprocess(*(["-p", "demo.calc"] if early else [])).assert_outcomes(passed=4)
    found = results(calc)
    assert_the_bad_input_tests_ran_their_lines(found)


def test_a_tagged_file_that_changes_while_the_tests_run_records_no_lines(calc):
    write(
        calc,
        "tests/test_calc.py",
        TESTS
        + textwrap.dedent("""

        @pytest.mark.verifies(BUG, "clamps")
        def test_edits_the_code():
            path = Path("demo/calc.py")
            path.write_text("# a new first line\\n" + path.read_text())
        """),
    )
    run = calc.runpytest()
    run.assert_outcomes(passed=3)
    run.stdout.fnmatch_lines(["tracer: demo/calc.py changed while the tests ran*rerun them*"])
    assert all("executed" not in result for result in results(calc).values())


def test_the_site_and_the_index_say_what_the_tests_ran(calc, capsys):
    calc.runpytest().assert_outcomes(passed=2)
    assert main(["render", "--all"]) == 0
    index = (calc.path / "docs/bug_reports/index.md").read_text()
    assert "| Lines run |" in index and "| 2/5 |" in index
    assert main(["site", "-o", "site"]) == 0
    page = next((calc.path / "site").rglob("bug-*.html")).read_text()
    assert "<code>test_clamps</code> ran 2 of 5 changed lines (in <code>clamp</code>)" in page


def test_a_sign_off_is_pinned_to_the_scopes_its_items_tests_ran_or_to_the_whole_bug(calc, capsys):
    edit(
        calc, REPORT, "  - id: named\n", "  - id: reviewed\n    group: Validation\n    text: Reviewed\n  - id: named\n"
    )
    calc.runpytest().assert_outcomes(passed=2)
    edit(calc, "demo/calc.py", "low = max(x, 0.0)", "low = max(x, 0.0) + 0.0")  # test_clamps ran it: stale
    assert "**stale**" in item_line(document(capsys), "clamps")
    assert main(["signoff", BUG, "clamps", "--by", "Ada", "--reason", "read the new clamp"]) == 0
    assert main(["signoff", BUG, "reviewed", "--by", "Ada", "--reason", "read the fix"]) == 0
    edit(calc, "demo/calc.py", "return clamp(x) * k", "return k * clamp(x)")  # no linked test ran scale
    text = document(capsys)
    assert "**manual**: signed off by Ada: read the new clamp" in item_line(text, "clamps")  # pinned to clamp
    assert "**stale**: signed off by Ada on code that has since changed: `demo/calc.py::scale`" in item_line(
        text, "reviewed"
    )
    edit(calc, "demo/calc.py", "return min(low, 1.0)", "return min(low, 1.0) + 0.0")
    assert "**stale**" in item_line(document(capsys), "clamps")
