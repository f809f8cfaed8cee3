"""The pytest plugin's cost on this project's tests: collection and a run, with and without it.

    python benchmarks/plugin_overhead.py [--repeat 3]

Each row is the median wall time of a whole pytest process; "with" records evidence as usual,
"without" is `-p no:tracer`. Both drop the project's --strict-markers, which needs the plugin's
marker. The run excludes the training tests, whose minutes of training would hide the plugin. The
evidence folder is restored afterwards."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from timing import median_process_ms, print_table

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs/bug_reports/evidence"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
RUN = ["tests/ocr", "tests/tracer/test_scanner.py", "-k",
       "not steps and not finite_loss and not grad_norm and not validation_metrics and not training and not command"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    saved = Path(tempfile.mkdtemp(prefix="tracer-evidence-")) / "evidence"
    shutil.copytree(EVIDENCE, saved)
    try:
        rows = []
        for label, extra in (("collect", ["--collect-only", "tests"]), ("run", RUN)):
            without = median_process_ms([*PYTEST, "-p", "no:tracer", *extra], ROOT, args.repeat) / 1e3
            with_plugin = median_process_ms([*PYTEST, *extra], ROOT, args.repeat) / 1e3
            rows += [(f"{label}, without plugin", without, 1.0), (f"{label}, with plugin", with_plugin, with_plugin / without)]
    finally:
        shutil.rmtree(EVIDENCE)
        shutil.copytree(saved, EVIDENCE)
        shutil.rmtree(saved.parent)
    print_table(("pytest", "s", "ratio"), rows, ".2f")


if __name__ == "__main__":
    main()
