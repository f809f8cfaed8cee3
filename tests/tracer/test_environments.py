"""Evidence that travels: results from several environments side by side, merged from other
machines, checked against the schema, quiet in git, and sign-offs that go stale."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import commit_all, git
from tests.tracer.conftest import BUG
from tracer.cli import main
from tracer.environment import Environment, python_environment

CONFTEST = """\
import os


def pytest_tracer_environment(config):
    return {"device": os.environ.get("DEVICE", "cpu")}
"""

GPU_TEST = """

@pytest.mark.verifies(BUG, "on-gpu")
def test_on_the_device():
    if os.environ.get("DEVICE") != "gpu":
        pytest.skip("needs the GPU")
"""


def evidence_file(project: pytest.Pytester, device: str) -> str:
    stem = Environment.of({**python_environment(), "device": device}).file_stem
    return f"docs/bug_reports/evidence/{BUG.lower()}/{stem}.json"


@pytest.fixture
def machines(project, monkeypatch):
    """The plugin project with a conftest that names the device, and a test that needs the GPU."""
    (project.path / "conftest.py").write_text(CONFTEST)
    tests = project.path / "tests" / "test_step.py"
    tests.write_text("import os\n" + tests.read_text() + GPU_TEST)
    monkeypatch.chdir(project.path)
    return project


def run_on(project, monkeypatch, device: str, *args: str) -> pytest.RunResult:
    monkeypatch.setenv("DEVICE", device)
    return project.runpytest_subprocess(*args)


def document(capsys) -> str:
    capsys.readouterr()
    assert main(["render", BUG, "-o", "-"]) == 0
    return capsys.readouterr().out


def test_a_pass_on_one_machine_survives_a_skip_on_the_next(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "gpu").assert_outcomes(passed=5, skipped=1)
    run_on(machines, monkeypatch, "cpu").assert_outcomes(passed=4, skipped=2)
    assert (machines.path / evidence_file(machines, "gpu")).is_file() and (
        machines.path / evidence_file(machines, "cpu")
    ).is_file()
    text = document(capsys)
    python = python_environment()["python"]
    assert (
        f"(`on-gpu`): **verified**: by `test_on_the_device` in `tests/test_step.py` on cpython {python} / linux / device gpu"
        in text
    )
    assert "fixed: 3 of 3 items verified" in text


def test_a_failure_anywhere_fails_the_item_and_a_rerun_there_clears_it(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "gpu")
    tests = machines.path / "tests" / "test_step.py"
    good = tests.read_text()
    tests.write_text(good.replace("step(0.5) == 0.5", "step(0.5) == 0.6"))
    run_on(machines, monkeypatch, "cpu").assert_outcomes(passed=3, failed=1, skipped=2)
    assert "(`edge-cases`): **failed**: failed: `test_middle` in `tests/test_step.py` on " in document(capsys)
    tests.write_text(good)
    run_on(machines, monkeypatch, "cpu")
    assert "(`edge-cases`): **verified**" in document(capsys)


def test_results_from_another_machine_merge_with_one_command(machines, monkeypatch, capsys, tmp_path_factory):
    run_on(machines, monkeypatch, "gpu")
    gpu = machines.path / evidence_file(machines, "gpu")
    carried = tmp_path_factory.mktemp("artifact") / "from-the-gpu-runner.json"
    shutil.move(gpu, carried)
    run_on(machines, monkeypatch, "cpu")
    assert "(`on-gpu`): **open**" in document(capsys)

    broken = carried.with_name("broken.json")
    broken.write_text(json.dumps({"bug_id": BUG}))
    assert main(["evidence", "merge", str(carried), str(broken)]) == 2
    assert "broken.json:1: evidence file is not valid: it breaks schema 2" in capsys.readouterr().err
    assert not gpu.exists()  # nothing is written when any file is bad

    assert main(["evidence", "merge", str(carried)]) == 0
    assert gpu.read_bytes() == carried.read_bytes()
    assert "(`on-gpu`): **verified**" in document(capsys)


def test_an_evidence_file_of_the_wrong_shape_is_named_never_a_traceback(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    path = machines.path / evidence_file(machines, "cpu")
    data = json.loads(path.read_text())
    data["items"]["edge-cases"] = ["not", "a", "mapping"]
    path.write_text(json.dumps(data))
    before = path.read_bytes()

    assert main(["render", BUG]) == 2
    err = capsys.readouterr().err
    assert (
        f"{evidence_file(machines, 'cpu')}:1: evidence file is not valid: it breaks schema 2 at items/edge-cases" in err
    )

    assert main(["check"]) == 1
    assert "C301 evidence file is not valid" in capsys.readouterr().out

    result = run_on(machines, monkeypatch, "cpu")
    result.assert_outcomes(passed=4, skipped=2)
    result.stdout.fnmatch_lines(["*tracer: *evidence file is not valid*; no evidence written*"])
    assert path.read_bytes() == before


def test_evidence_of_another_fingerprint_scheme_asks_for_a_rerun(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    path = machines.path / evidence_file(machines, "cpu")
    path.write_text(path.read_text().replace('"fingerprint_scheme": 2', '"fingerprint_scheme": 1'))
    assert "(`edge-cases`): **stale**: recorded with fingerprint scheme 1, rerun the tests" in document(capsys)


def test_a_sign_off_is_pinned_to_the_code_and_goes_stale_when_it_changes(machines, monkeypatch, capsys):
    assert main(["signoff", BUG, "on-gpu", "--by", "Ada", "--reason", "ran it on the lab's GPU"]) == 0
    assert "(`on-gpu`): **manual**: signed off by Ada: ran it on the lab's GPU" in document(capsys)
    source = machines.path / "demo" / "step.py"
    source.write_text(source.read_text().replace("0.0), 1.0)", "0.0), 2.0)"))
    assert "(`on-gpu`): **stale**: signed off by Ada on code that has since changed: `demo/step.py::step`" in document(
        capsys
    )
    assert main(["signoff", BUG, "no-such-item", "--by", "Ada", "--reason", "x"]) == 2


def test_after_a_commit_reruns_change_no_tracked_file_and_leave_no_untracked_one(machines, monkeypatch):
    run_on(machines, monkeypatch, "cpu")
    assert main(["render", "--all"]) == 0
    (machines.path / ".gitignore").write_text("stdout\nstderr\nrunpytest-*\n.pytest_cache/\n")  # pytester's own files
    commit_all(machines.path, "evidence and documents")
    run_on(machines, monkeypatch, "cpu")
    run_on(machines, monkeypatch, "cpu", "-k", "edges")
    run_on(machines, monkeypatch, "cpu", "tests/test_step.py::test_gradient")
    assert main(["render", "--all"]) == 0
    assert git(machines.path, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_partial_run_keeps_the_results_of_tests_it_did_not_collect(machines, monkeypatch):
    (machines.path / "tests" / "test_more.py").write_text(
        f"import pytest\n\n\n@pytest.mark.verifies('{BUG}', 'gradient')\ndef test_more():\n    pass\n"
    )
    run_on(machines, monkeypatch, "cpu")
    path = machines.path / evidence_file(machines, "cpu")
    everything = json.loads(path.read_text())["items"]
    run_on(machines, monkeypatch, "cpu", "tests/test_more.py")
    run_on(machines, monkeypatch, "cpu", "tests/test_step.py::test_edges")
    assert json.loads(path.read_text())["items"] == everything
    (machines.path / "tests" / "test_more.py").unlink()  # a test that is really gone
    run_on(machines, monkeypatch, "cpu", "-k", "edges")
    assert "tests/test_more.py::test_more" not in json.loads(path.read_text())["items"]["gradient"]


def test_check_json_carries_each_items_environments(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    capsys.readouterr()
    main(["check", "--format", "json"])
    findings = json.loads(capsys.readouterr().out)
    (open_item,) = [f for f in findings if f["code"] == "W501"]
    assert open_item["item"]["id"] == "on-gpu"
    assert {r["environment"] for r in open_item["item"]["results"]} == {
        Environment.of({**python_environment(), "device": "cpu"}).label
    }


def test_tests_see_no_lock_file_in_the_work_tree(machines, monkeypatch):
    run_on(machines, monkeypatch, "cpu")
    leftovers = subprocess.run(
        ["find", ".", "-name", "*.lock", "-not", "-path", "./.tracer-cache/*"],
        cwd=machines.path,
        capture_output=True,
        text=True,
    ).stdout
    assert leftovers == ""


def test_merge_takes_only_evidence_of_a_known_bug_its_items_and_an_environment(
    machines, monkeypatch, capsys, tmp_path_factory
):
    run_on(machines, monkeypatch, "gpu")
    good = json.loads((machines.path / evidence_file(machines, "gpu")).read_text())
    folder = tmp_path_factory.mktemp("artifact")
    cases = {
        "escape.json": ({**good, "bug_id": "../../../../escaped"}, "which has no bug report here"),
        "unknown.json": ({**good, "bug_id": "BUG-20991231-999"}, "which has no bug report here"),
        "signoffs.json": ({**good, "environment": {}}, "a file of sign-offs"),
        "items.json": ({**good, "items": {**good["items"], "no-such-item": {}}}, "does not have: no-such-item"),
    }
    before = sorted(p.relative_to(machines.path) for p in machines.path.rglob("*") if ".tracer-cache" not in p.parts)
    for name, (data, message) in cases.items():
        (folder / name).write_text(json.dumps(data))
        assert main(["evidence", "merge", str(folder / name)]) == 2
        assert message in capsys.readouterr().err
    assert (
        sorted(p.relative_to(machines.path) for p in machines.path.rglob("*") if ".tracer-cache" not in p.parts)
        == before
    )
    assert not list(machines.path.parent.rglob("escaped*"))


def test_a_rerun_replaces_evidence_of_an_old_fingerprint_scheme(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    path = machines.path / evidence_file(machines, "cpu")
    path.write_text(path.read_text().replace('"fingerprint_scheme": 2', '"fingerprint_scheme": 1'))
    run_on(machines, monkeypatch, "cpu")
    assert '"fingerprint_scheme": 2' in path.read_text()
    assert "(`edge-cases`): **verified**" in document(capsys)


def test_a_result_goes_when_its_test_no_longer_links_to_the_item_or_its_file_is_gone(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    tests = machines.path / "tests" / "test_step.py"
    tests.write_text(
        tests.read_text().replace('@pytest.mark.verifies(BUG, "gradient")', '@pytest.mark.verifies(BUG, "edge-cases")')
    )
    run_on(machines, monkeypatch, "cpu")
    assert "(`gradient`): **open**: no linked test has run" in document(capsys)
    tests.unlink()
    assert "(`edge-cases`): **open**: no linked test has run" in document(capsys)


def test_last_failed_reruns_keep_the_results_of_the_tests_they_skip(machines, monkeypatch):
    tests = machines.path / "tests" / "test_step.py"
    tests.write_text(
        tests.read_text().replace("step(0.5) == 0.5", "step(0.5) == float(os.environ.get('MIDDLE', '0.6'))")
    )
    run_on(machines, monkeypatch, "cpu", "-p", "cacheprovider").assert_outcomes(passed=3, failed=1, skipped=2)
    monkeypatch.setenv("MIDDLE", "0.5")
    run_on(machines, monkeypatch, "cpu", "-p", "cacheprovider", "--lf").assert_outcomes(passed=1)
    items = json.loads((machines.path / evidence_file(machines, "cpu")).read_text())["items"]
    assert {test.split("::")[1] for test in items["edge-cases"]} == {"test_edges", "test_middle"}
    assert "tests/test_step.py::test_gradient" in items["gradient"]


def test_a_failure_on_older_code_yields_to_a_pass_of_the_same_test_on_the_current_code(machines, monkeypatch, capsys):
    tests = machines.path / "tests" / "test_step.py"
    tests.write_text(
        tests.read_text().replace(
            "step(0.5) == 0.5", "step(0.5) == (0.6 if os.environ.get('DEVICE') == 'old' else 0.5)"
        )
    )
    run_on(machines, monkeypatch, "old")  # a runner that is gone now
    source = machines.path / "demo" / "step.py"
    source.write_text(source.read_text().replace("return min(", "return 1.0 * min("))
    assert "(`edge-cases`): **failed**" in document(capsys)  # no result on the current code yet: the failure stands
    run_on(machines, monkeypatch, "cpu")
    assert "(`edge-cases`): **verified**" in document(capsys)


def test_a_sign_off_on_the_current_code_covers_an_item_whose_tests_are_stale(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    source = machines.path / "demo" / "step.py"
    source.write_text(source.read_text().replace("return min(", "return 1.0 * min("))
    assert "(`gradient`): **stale**" in document(capsys)
    assert main(["signoff", BUG, "gradient", "--by", "Ada", "--reason", "read the new code"]) == 0
    assert "(`gradient`): **manual**: signed off by Ada: read the new code" in document(capsys)


def test_environments_with_dashes_in_their_facts_get_files_of_their_own():
    assert Environment.of({"a": "b-c"}).file_stem != Environment.of({"a-b": "c"}).file_stem
    assert Environment.of(python_environment()).file_stem == "{implementation}{python}-{platform}".format(
        **python_environment()
    )


def test_a_reports_sign_off_is_pinned_by_the_next_test_run_never_by_rendering(machines, monkeypatch, capsys):
    report = machines.path / "docs" / "bug_reports" / f"{BUG.lower()}-overflow.md"
    manual = "    manual: {by: reviewer, reason: read the diff}\n"
    report.write_text(report.read_text().replace("    text: On a GPU\n", "    text: On a GPU\n" + manual))
    signoffs = machines.path / "docs" / "bug_reports" / "evidence" / BUG.lower() / "signoffs.json"
    assert main(["render", "--all"]) == 0
    assert not signoffs.exists()  # rendering reads the evidence, never writes it
    assert "(`on-gpu`): **manual**: signed off by reviewer: read the diff (not pinned to the code yet" in document(
        capsys
    )
    run_on(machines, monkeypatch, "cpu")
    assert json.loads(signoffs.read_text())["signoffs"]["on-gpu"]["from_report"] is True
    assert "(`on-gpu`): **manual**: signed off by reviewer: read the diff\n" in document(capsys)
    report.write_text(report.read_text().replace(manual, ""))
    run_on(machines, monkeypatch, "cpu")  # the entry is gone from the report: so is its pinned sign-off
    assert "(`on-gpu`): **open**" in document(capsys)
    assert main(["signoff", BUG, "on-gpu", "--by", "Ada", "--reason", "looked"]) == 0
    run_on(machines, monkeypatch, "cpu")  # a sign-off given with tracer signoff stays
    assert "(`on-gpu`): **manual**: signed off by Ada: looked" in document(capsys)


def test_a_tagged_file_that_does_not_parse_is_one_finding_and_its_items_are_unknown(machines, monkeypatch, capsys):
    run_on(machines, monkeypatch, "cpu")
    assert main(["render", "--all"]) == 0
    source = machines.path / "demo" / "step.py"
    source.write_text(source.read_text() + "def broken(:\n")
    capsys.readouterr()
    assert main(["check"]) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if not line.endswith("(warning)")]
    assert len(errors) == 1 and ": T001 " in errors[0] and errors[0].startswith("demo/step.py:")
    assert "(`edge-cases`): **unknown**: unknown: `demo/step.py` does not parse (T001)" in document(capsys)
