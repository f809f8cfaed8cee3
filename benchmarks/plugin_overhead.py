"""The pytest plugin's cost on this project's tests: collection and a run, with and without it.

    python benchmarks/plugin_overhead.py [--repeat 3]

Each row is the median wall time of a whole pytest process; "with" records evidence as usual,
"without" is `-p no:tracer`. Both drop the project's --strict-markers, which needs the plugin's
marker. The run excludes the 200-step training tests, whose minute of training would hide the
plugin. The evidence file is restored afterwards."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs/bug_reports/evidence/bug-20251110-002.json"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
RUN = ["tests/ocr", "tests/tracer/test_scanner.py", "-k", "not 200_steps and not finite_loss and not grad_norm and not validation_metrics"]


def median_s(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    saved = EVIDENCE.read_bytes() if EVIDENCE.exists() else None
    try:
        rows = []
        for label, extra in (("collect", ["--collect-only", "tests"]), ("run", RUN)):
            without = median_s([*PYTEST, "-p", "no:tracer", *extra], args.repeat)
            with_plugin = median_s([*PYTEST, *extra], args.repeat)
            rows += [(f"{label}, without plugin", without, 1.0), (f"{label}, with plugin", with_plugin, with_plugin / without)]
    finally:
        if saved is not None:
            EVIDENCE.write_bytes(saved)
    print(f"{'pytest':<26} {'s':>7} {'ratio':>7}")
    print("-" * 42)
    for label, seconds, ratio in rows:
        print(f"{label:<26} {seconds:>7.2f} {ratio:>7.3f}")


if __name__ == "__main__":
    main()
