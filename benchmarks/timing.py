"""What the benchmarks share: the median wall time of a whole process, and a printed table."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def median_process_ms(command: list[str], cwd: Path, repeat: int, before: Callable[[], object] | None = None) -> float:
    """Median milliseconds of `command` run `repeat` times; `before` runs ahead of each, untimed."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def print_table(header: tuple[str, str, str], rows: list[tuple[str, float, float]], value_format: str = ".1f") -> None:
    width = max(len(header[0]), *(len(label) for label, _, _ in rows)) + 2
    print(f"{header[0]:<{width}} {header[1]:>9} {header[2]:>9}")
    print("-" * (width + 20))
    for label, value, ratio in rows:
        print(f"{label:<{width}} {value:>9{value_format}} {ratio:>9.3f}")
