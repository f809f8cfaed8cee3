"""What the benchmarks share: the median wall time of a whole process, and a printed table."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# What a tracer command may exit with and still be timed: 0, or 1 for findings. Anything else (a
# usage error, a traceback, a command that is not installed) would time a failure as a fast run.
TIMED_EXIT_CODES = (0, 1)


def run_timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Run `command` once, its output discarded; stop the benchmark if it failed."""
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if done.returncode not in TIMED_EXIT_CODES:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode} in {cwd}:\n" + "\n".join(tail))


def median_process_ms(command: list[str], cwd: Path, repeat: int, before: Callable[[], object] | None = None) -> float:
    """Median milliseconds of `command` run `repeat` times; `before` runs ahead of each, untimed."""
    times = []
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        run_timed(command, cwd)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def print_table(header: tuple[str, str, str], rows: list[tuple[str, float, float]], value_format: str = ".1f") -> None:
    width = max(len(header[0]), *(len(label) for label, _, _ in rows)) + 2
    print(f"{header[0]:<{width}} {header[1]:>9} {header[2]:>9}")
    print("-" * (width + 20))
    for label, value, ratio in rows:
        print(f"{label:<{width}} {value:>9{value_format}} {ratio:>9.3f}")


def median_process_times(
    command: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Median seconds of `command` run `repeat` times: (CPU, wall). The CPU time (user and system,
    of the process and its children) is the steadier figure on a machine others share."""
    cpu, wall = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run_timed(command, cwd, env or dict(os.environ))
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def print_times(title: str, rows: list[tuple[str, float, float]]) -> None:
    """Rows of (label, CPU s, wall s), with ratios to the first row."""
    width = max(len(title), *(len(label) for label, _, _ in rows)) + 2
    print(f"{title:<{width}} {'cpu s':>8} {'ratio':>7} {'wall s':>8} {'ratio':>7}")
    print("-" * (width + 34))
    base_cpu, base_wall = rows[0][1], rows[0][2]
    for label, cpu, wall in rows:
        print(f"{label:<{width}} {cpu:>8.2f} {cpu / base_cpu:>7.3f} {wall:>8.2f} {wall / base_wall:>7.3f}")
