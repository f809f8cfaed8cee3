"""Time tracer's commands as a user runs them, against `python -c pass` in the same run.

    python benchmarks/cli.py [--repeat 5]

Rows: the interpreter alone, `tracer --help`, `tracer check` with an empty cache (cold: every
tagged file parsed, every document rendered) and with a warm one (nothing changed since)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACER = [sys.executable, "-m", "tracer"]


def median_ms(command: list[str], repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cache = ROOT / ".tracer-cache"
    rows = [
        ("python -c pass", median_ms([sys.executable, "-c", "pass"], args.repeat)),
        ("tracer --help", median_ms([*TRACER, "--help"], args.repeat)),
        ("tracer check, cold cache", median_ms([*TRACER, "check"], args.repeat, lambda: shutil.rmtree(cache, ignore_errors=True))),
        ("tracer check, warm cache", median_ms([*TRACER, "check"], args.repeat)),
    ]
    base = rows[0][1]
    print(f"{'command':<28} {'ms':>8} {'x python':>9}")
    print("-" * 47)
    for label, ms in rows:
        print(f"{label:<28} {ms:>8.1f} {ms / base:>9.2f}")


if __name__ == "__main__":
    main()
