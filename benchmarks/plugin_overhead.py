"""The pytest plugin's cost: on this project's tests, and on a synthetic project of linked tests
where its recording of executed lines is compared with coverage.py's per-test contexts.

    python benchmarks/plugin_overhead.py [--repeat 3] [--synthetic-only]

Each row is the median time of a whole pytest process, its CPU time (the steadier figure on a
machine others share) and its wall time, with their ratios to the first row of its table,
measured in the same run: each round runs every variant of a table once, so that a busy moment
of the machine slows all of them alike. This project's tests: "recording" records evidence and
the lines each linked test ran, as usual; "no recording" writes the evidence without the lines
(`TRACER_RECORDING=off`); "without" is `-p no:tracer`; all drop the project's --strict-markers,
which needs the plugin's marker; the training tests are left out, their
minutes of training would hide the plugin; the evidence folder is restored afterwards. It needs
torch (`--synthetic-only` skips it).

The synthetic project needs no torch, so it runs under every Python: a package of tagged
functions that call untagged helpers, and linked tests that call them. Its rows: no plugin;
the plugin with `--tracer-no-evidence` (the marker only); the plugin writing evidence without
recording what the tests ran (`TRACER_RECORDING=off`); the plugin recording executions;
the same with the other recording mechanisms (line probes on 3.12, `sys.settrace`: see
tracer/recording.py); coverage.py without contexts; and coverage.py with a context per test
(pytest-cov's `--cov-context=test`), each without tracer. Last, an untagged loop of 3 million
calls, called from a linked test and timed inside it (the fastest of its runs): untagged code
should run at full speed."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from timing import median_process_times, print_table, print_times

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs/bug_reports/evidence"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
RUN = [
    "tests/ocr",
    "tests/tracer/test_scanner.py",
    "-k",
    "not steps and not finite_loss and not grad_norm and not validation_metrics and not training and not command",
]
BUG = "BUG-20250101-001"

SYNTHETIC = {
    "pyproject.toml": '[project]\nname = "synth"\n\n[tool.tracer]\nsource_roots = ["synth"]\n',
    f"docs/bug_reports/{BUG.lower()}-synthetic.md": f"""\
        ---
        bug_id: {BUG}
        title: Synthetic
        severity: Low
        status: fixed
        created: 2025-01-01
        author: benchmark
        checklist:
          - id: words
            group: Unit tests
            text: Words are counted
          - id: stats
            group: Unit tests
            text: Statistics are right
          - id: loop
            group: Unit tests
            text: The hot loop
        ---
        # {BUG}
        """,
    "synth/__init__.py": "",
    "synth/text.py": f"""\
        import re


        def words(text):
            return [w.lower() for w in re.findall(r"[A-Za-z']+", text)]


        def stem(word):
            for suffix in ("ing", "ed", "es", "s"):
                if word.endswith(suffix) and len(word) > len(suffix) + 2:
                    return word[: -len(suffix)]
            return word


        def counts(text):
            # {BUG}: count stems, not words
            found = {{}}
            for word in words(text):
                key = stem(word)
                found[key] = found.get(key, 0) + 1
            return found


        class Index:
            def __init__(self):
                self.documents = []

            def add(self, text):
                # {BUG}: keep the counts with the text
                self.documents.append((text, counts(text)))

            def search(self, word):
                key = stem(word.lower())
                return [text for text, found in self.documents if key in found]
        """,
    "synth/stats.py": f"""\
        import math


        def mean(values):
            return sum(values) / len(values)


        def spread(values):
            centre = mean(values)
            return math.sqrt(sum((v - centre) ** 2 for v in values) / len(values))


        def normalise(values):
            # {BUG}: a constant series has no spread: leave it at zero
            deviation = spread(values)
            if deviation == 0:
                return [0.0 for _ in values]
            centre = mean(values)
            return [(v - centre) / deviation for v in values]


        def helper(x):
            return x * 3 + 1


        def hot(n):
            total = 0
            for i in range(n):
                total += helper(i) % 7
            return total


        def run_hot(n):
            # {BUG}: the tagged caller of untagged hot code
            return hot(n)
        """,
    "tests/test_synth.py": f"""\
        import json
        import os
        import random
        import time

        import pytest

        from synth.stats import normalise, run_hot
        from synth.text import Index, counts

        BUG = "{BUG}"
        TEXT = "Testing tested tests: the tester tests what testing needs, and the needs are tested. " * 40


        @pytest.mark.verifies(BUG, "words")
        @pytest.mark.parametrize("seed", range(150))
        def test_counts(seed):
            words = TEXT.split()
            random.Random(seed).shuffle(words)
            found = counts(" ".join(words))
            assert found["test"] >= 200


        @pytest.mark.verifies(BUG, "words")
        @pytest.mark.parametrize("seed", range(100))
        def test_index(seed):
            index = Index()
            for n in range(20):
                index.add(TEXT[seed % 50 + n:])
            assert len(index.search("Testing")) == 20


        @pytest.mark.verifies(BUG, "stats")
        @pytest.mark.parametrize("seed", range(150))
        def test_normalise(seed):
            values = [random.Random(seed + i).random() for i in range(3000)]
            out = normalise(values)
            assert abs(sum(out)) < 1e-6
            assert normalise([2.0] * 10) == [0.0] * 10


        @pytest.mark.verifies(BUG, "loop")
        def test_hot_loop():
            times = []
            for _ in range(3):  # the fastest of three: the machine's noise only ever adds
                start = time.perf_counter()
                run_hot(int(os.environ.get("HOT_N", "0")))
                times.append(time.perf_counter() - start)
            elapsed = min(times)
            if os.environ.get("HOT_OUT"):
                with open(os.environ["HOT_OUT"], "a") as out:
                    out.write(json.dumps(elapsed) + "\\n")
        """,
}


def make_project(folder: Path) -> None:
    for relative, text in SYNTHETIC.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def synthetic_rows(repeat: int) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """The synthetic suite under each variant, then its hot loop (timed inside the test)."""
    folder = Path(tempfile.mkdtemp(prefix="tracer-synthetic-"))
    try:
        make_project(folder)
        env = {**os.environ, "PYTHONPATH": str(folder), "HOT_N": "0"}
        env.pop("TRACER_RECORDING", None)
        suite = [*PYTEST, "tests", "-k", "not hot_loop"]
        default = "sys.monitoring" if sys.version_info >= (3, 12) else "line probes"
        other = "line probes" if sys.version_info >= (3, 12) else ""
        variants: list[tuple[str, list[str], dict[str, str]]] = [
            ("linked tests, no plugin", ["-p", "no:tracer"], {}),
            ("plugin, --tracer-no-evidence", ["--tracer-no-evidence"], {}),
            ("plugin, evidence without recording", [], {"TRACER_RECORDING": "off"}),
            (f"plugin recording ({default})", [], {}),
            *([(f"plugin recording ({other})", [], {"TRACER_RECORDING": "probes"})] if other else []),
            ("plugin recording (sys.settrace)", [], {"TRACER_RECORDING": "settrace"}),
            ("coverage.py, no contexts", ["-p", "no:tracer", "--cov=synth", "--cov-report="], {}),
            (
                "coverage.py, a context per test",
                ["-p", "no:tracer", "--cov=synth", "--cov-context=test", "--cov-report="],
                {},
            ),
        ]
        subprocess.run(suite, cwd=folder, env=env, capture_output=True, check=False)  # warm the caches: scan, bytecode
        measured = interleaved([(suite + extra, {**env, **more}) for _, extra, more in variants], folder, repeat)
        rows = [(label, *times) for (label, _, _), times in zip(variants, measured)]
        out = folder / "hot.json"
        hot_env = {**env, "HOT_N": "3000000", "HOT_OUT": str(out)}
        hot = []
        for label, extra, more in (
            ("no plugin", ["-p", "no:tracer"], {}),
            (f"plugin recording ({default})", [], {}),
            ("plugin recording (sys.settrace)", [], {"TRACER_RECORDING": "settrace"}),
        ):
            out.write_text("")
            median_process_times([*PYTEST, "tests", "-k", "hot_loop", *extra], folder, repeat, {**hot_env, **more})
            hot.append((label, min(json.loads(line) for line in out.read_text().split())))
        return rows, [(label, seconds, seconds / hot[0][1]) for label, seconds in hot]
    finally:
        shutil.rmtree(folder)


def interleaved(commands: list[tuple[list[str], dict[str, str]]], cwd: Path, repeat: int) -> list[tuple[float, float]]:
    """Median (CPU, wall) seconds of each command, run in turn `repeat` times: a machine that
    others share slows whichever runs at that moment, so each round runs every variant once."""
    times: list[list[tuple[float, float]]] = [[] for _ in commands]
    for _ in range(repeat):
        for index, (command, env) in enumerate(commands):
            times[index].append(median_process_times(command, cwd, 1, env))
    return [(statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs)) for runs in times]


def repository_rows(repeat: int) -> list[tuple[str, float, float]]:
    saved = Path(tempfile.mkdtemp(prefix="tracer-evidence-")) / "evidence"
    shutil.copytree(EVIDENCE, saved)
    try:
        rows = []
        env = {k: v for k, v in os.environ.items() if k != "TRACER_RECORDING"}
        for label, extra in (("collect", ["--collect-only", "tests"]), ("run", RUN)):
            measured = interleaved(
                [
                    ([*PYTEST, "-p", "no:tracer", *extra], env),
                    ([*PYTEST, *extra], {**env, "TRACER_RECORDING": "off"}),
                    ([*PYTEST, *extra], env),
                ],
                ROOT,
                repeat,
            )
            rows += [
                (f"{label}, without plugin", *measured[0]),
                (f"{label}, plugin, no recording", *measured[1]),
                (f"{label}, plugin recording", *measured[2]),
            ]
    finally:
        shutil.rmtree(EVIDENCE)
        shutil.copytree(saved, EVIDENCE)
        shutil.rmtree(saved.parent)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--synthetic-only", action="store_true", help="Skip this project's tests (they need torch).")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}")
    if not args.synthetic_only:
        rows = repository_rows(args.repeat)
        print_times("this project's tests: collect", rows[:3])
        print()
        print_times("this project's tests: run (no training)", rows[3:])
        print()
    rows, hot = synthetic_rows(args.repeat)
    print_times("synthetic project: 400 linked tests", rows)
    print()
    print_table(("a linked test's untagged loop, 3M calls (timed in the test)", "s", "ratio"), hot, ".3f")


if __name__ == "__main__":
    main()
