"""The pytest plugin, driven by pytester: markers, outcomes, subsets, xdist and concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.tracer.conftest import BUG
from tracer.environment import Environment, python_environment

ENVIRONMENT = Environment.of(python_environment())  # what a run here records, as the test project adds no facts
EVIDENCE = f"docs/bug_reports/evidence/{BUG.lower()}/{ENVIRONMENT.file_stem}.json"


def evidence(project: pytest.Pytester) -> dict:
    return json.loads((project.path / EVIDENCE).read_text())


def outcomes(project: pytest.Pytester) -> dict[str, dict[str, str]]:
    return {
        item: {t.split("::")[-1]: r["outcome"] for t, r in tests.items()}
        for item, tests in evidence(project)["items"].items()
    }


def test_passing_tests_are_recorded_per_item(project):
    project.runpytest("--strict-markers").assert_outcomes(passed=4, skipped=1)
    assert outcomes(project) == {
        "edge-cases": {"test_edges": "passed", "test_middle": "passed"},
        "gradient": {"test_gradient": "passed"},
        "on-gpu": {"test_gpu": "skipped"},
    }
    data = evidence(project)
    (prints,) = data["fingerprints"].values()
    assert list(prints) == ["demo/step.py::step"]


def test_a_failing_test_fails_its_item_and_the_document_says_which(project, monkeypatch):
    tests = project.path / "tests" / "test_step.py"
    tests.write_text(tests.read_text().replace("step(0.5) == 0.5", "step(0.5) == 0.6"))
    project.runpytest().assert_outcomes(passed=3, failed=1, skipped=1)
    assert outcomes(project)["edge-cases"] == {"test_edges": "passed", "test_middle": "failed"}
    monkeypatch.chdir(project.path)
    from tracer.cli import main

    assert main(["render", BUG, "-o", "doc.md"]) == 0
    text = (project.path / "doc.md").read_text()
    assert "(`edge-cases`): **failed**: failed: `test_middle` in `tests/test_step.py`" in text
    assert "(`gradient`): **verified**: by `test_gradient` in `tests/test_step.py`" in text
    assert "(`on-gpu`): **open**: 1 linked test ran, none passed (skipped)" in text
    assert "fixed: 1 of 3 items verified; 1 failed; 1 open" in text


def test_errors_in_setup_fail_the_item_and_xfail_never_verifies(project):
    tests = project.path / "tests" / "test_step.py"
    tests.write_text(
        tests.read_text()
        + textwrap.dedent(
            """

            @pytest.fixture
            def broken():
                raise RuntimeError("setup breaks")


            @pytest.mark.verifies(BUG, "gradient")
            def test_with_broken_fixture(broken):
                pass


            @pytest.mark.verifies(BUG, "on-gpu")
            @pytest.mark.xfail(reason="known")
            def test_expected_failure():
                assert False
            """
        )
    )
    project.runpytest()
    assert outcomes(project)["gradient"]["test_with_broken_fixture"] == "failed"
    assert outcomes(project)["on-gpu"]["test_expected_failure"] == "skipped"


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            '"BUG-20990101-001", "edge-cases"',
            "verifies names unknown bug BUG-20990101-001 (bug reports: BUG-20250101-001)",
        ),
        (
            f'"{BUG}", "typo"',
            "verifies names unknown item 'typo' of BUG-20250101-001 (known items: edge-cases, gradient, on-gpu)",
        ),
        (f'"{BUG}"', "verifies needs a bug ID and at least one item ID"),
    ],
)
def test_unknown_bug_or_item_fails_that_test_alone_naming_it(project, marker, message):
    (project.path / "tests" / "test_bad.py").write_text(
        f"import pytest\n\n@pytest.mark.verifies({marker})\ndef test_bad():\n    pass\n\n\n"
        f"@pytest.mark.verifies({marker})\ndef test_also_bad():\n    pass\n"
    )
    result = project.runpytest()
    result.assert_outcomes(errors=2, passed=4, skipped=1)  # every other test runs
    result.stdout.fnmatch_lines(
        [f"*tests/test_bad.py::test_bad: {message}*", f"*tests/test_bad.py::test_also_bad: {message}*"]
    )
    assert "test_bad" not in (project.path / EVIDENCE).read_text()


def test_the_marker_is_registered_for_strict_markers(project):
    result = project.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.verifies(bug_id, *item_ids):*"])


def test_a_subset_run_updates_only_the_items_it_ran(project):
    project.runpytest()
    before = evidence(project)
    tests = project.path / "tests" / "test_step.py"
    tests.write_text(tests.read_text().replace("step(0.25) == 0.25", "step(0.25) == 0.3"))
    project.runpytest("-k", "gradient").assert_outcomes(failed=1)
    after = evidence(project)
    assert after["items"]["edge-cases"] == before["items"]["edge-cases"]
    assert after["items"]["gradient"] != before["items"]["gradient"]


def test_evidence_is_deterministic_and_a_rerun_changes_nothing(project):
    project.runpytest()
    first = (project.path / EVIDENCE).read_bytes()
    project.runpytest("-p", "no:randomly")
    assert (project.path / EVIDENCE).read_bytes() == first
    assert b"time" not in first.lower()


def test_the_plugin_can_be_turned_off(project):
    project.runpytest("--tracer-no-evidence").assert_outcomes(passed=4, skipped=1)
    assert not (project.path / EVIDENCE).exists()
    # the ini switch keeps the marker registered, so --strict-markers suites still collect
    project.runpytest("-o", "tracer_evidence=false", "--strict-markers").assert_outcomes(passed=4, skipped=1)
    assert not (project.path / EVIDENCE).exists()
    # installed, the plugin is `-p no:tracer`; these tests load it as tracer.plugin
    project.runpytest("-p", "no:tracer.plugin", "-p", "no:strict").assert_outcomes(passed=4, skipped=1)
    assert not (project.path / EVIDENCE).exists()


def test_a_run_says_where_it_recorded_evidence(project):
    result = project.runpytest()
    result.stdout.fnmatch_lines(["tracer: recorded 4 linked test results of 1 bug in docs/bug_reports/evidence/"])


def test_tracer_select_runs_only_the_linked_tests(project):
    project.runpytest(f"--tracer-select={BUG}").assert_outcomes(passed=3, skipped=1)


def test_xdist_results_equal_serial_results(project):
    project.runpytest("-p", "no:xdist")
    serial = (project.path / EVIDENCE).read_bytes()
    (project.path / EVIDENCE).unlink()
    result = project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=4, skipped=1)
    assert (project.path / EVIDENCE).read_bytes() == serial


def test_two_pytest_processes_finishing_at_once_lose_nothing(project):
    env_run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    first = subprocess.Popen(
        [*env_run, "-k", "edges or middle"], cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    second = subprocess.Popen(
        [*env_run, "-k", "gradient or gpu"], cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert set(outcomes(project)) == {"edge-cases", "gradient", "on-gpu"}
    assert sum(len(t) for t in outcomes(project).values()) == 4


def test_a_broken_evidence_file_is_reported_and_left_alone(project):
    path = project.path / EVIDENCE
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    result = project.runpytest()
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines([f"tracer: {EVIDENCE}:1: evidence file is not valid*; no evidence written"])
    assert path.read_text() == "{not json"


def test_a_renamed_test_no_longer_counts_for_its_item(project):
    project.runpytest()
    tests = project.path / "tests" / "test_step.py"
    tests.write_text(
        tests.read_text().replace("def test_middle", "def test_centre").replace("step(0.5) == 0.5", "step(0.5) == 0.6")
    )
    project.runpytest("-k", "centre")
    assert outcomes(project)["edge-cases"] == {"test_edges": "passed", "test_centre": "failed"}
