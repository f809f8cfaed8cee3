"""Time tracer's commands as a user runs them, against `python -c pass` in the same run.

    python benchmarks/cli.py [--repeat 5]

Rows: the interpreter alone, `tracer --help`, `tracer check` with an empty cache (cold: every
tagged file parsed, every document rendered) and with a warm one (nothing changed since)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from timing import median_process_ms, print_table

ROOT = Path(__file__).resolve().parents[1]
TRACER = [sys.executable, "-m", "tracer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cache = ROOT / ".tracer-cache"
    clear = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    measured = [
        ("python -c pass", median_process_ms([sys.executable, "-c", "pass"], ROOT, args.repeat)),
        ("tracer --help", median_process_ms([*TRACER, "--help"], ROOT, args.repeat)),
        ("tracer check, cold cache", median_process_ms([*TRACER, "check"], ROOT, args.repeat, clear)),
        ("tracer check, warm cache", median_process_ms([*TRACER, "check"], ROOT, args.repeat)),
    ]
    base = measured[0][1]
    print_table(("command", "ms", "x python"), [(label, ms, ms / base) for label, ms in measured])


if __name__ == "__main__":
    main()
