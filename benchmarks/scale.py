"""Time tracer on large trees, cold and warm, against baselines measured in the same run.

    python benchmarks/scale.py [--files 100000] [--baseline REV] [--repeat 3] [--only synthetic,stdlib,torch]

Three trees, each a temporary git repository:
- synthetic: `--files` generated modules (1% tagged: a comment above a statement, one inside a
  long list, a docstring), with one bug report;
- stdlib: the running Python's standard library (without site-packages), IDs `gh-N`/`bpo-N`;
- torch: the installed `torch` package's Python sources, IDs as PyTorch writes them (issue URLs).

Baselines, per tree: `ast.parse` of the tagged files (those the ID pattern is found in) in one
process, `python -c "import click"` (the floor of any click CLI) and `git status`. Rows: the scan
of the same tagged files in one process (`scan_file`, against ast.parse), `tracer trace --all`
and `tracer check` cold (no cache; peak memory of the largest process) and warm (against
`import click` and `git status`). With `--baseline REV`, the tracer of revision REV (checked out
into a temporary worktree) is timed on the same trees in the same run. Ratios are taken on CPU
time (user and system, of a command and the worker processes it waited for), which other work on
a shared machine does not inflate; wall times are printed beside them."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_PATTERN = r"https://github\.com/pytorch/pytorch/issues/\d+"
STDLIB_PATTERN = r"(?:gh|bpo)-\d+"

MODULE = '''\
"""Module {index}: generated for the scale benchmark."""

import math


def area(radius, scale=1.0):
    """The area of a circle."""
    return math.pi * radius * radius * scale


class Shape{index}:
    sides = {sides}

    def perimeter(self, length):
        total = 0
        for _ in range(self.sides):
            total += length
        return total


TABLE = [
{entries}
]
'''
TAGGED_MODULE = '''\
"""Module {index}: generated for the scale benchmark (BUG-20250101-{bug:03d} in its docstring)."""

import math


def area(radius, scale=1.0):
    """The area of a circle."""
    # BUG-20250101-{bug:03d}: a negative radius has no area
    radius = max(radius, 0.0)
    return math.pi * radius * radius * scale


class Shape{index}:
    sides = {sides}

    def perimeter(self, length):
        total = 0
        for _ in range(self.sides):
            total += length  # BUG-20250101-{other:03d}: each side once
        return total


TABLE = [
{entries}
]
'''


def build_synthetic(tree: Path, files: int, tagged_share: float) -> None:
    """`files` modules in folders of 100, one in 1/tagged_share of them tagged; one report."""
    rng = random.Random(24)
    tagged = set(rng.sample(range(files), max(1, round(files * tagged_share))))
    for index in range(files):
        entries = [f"    Entry({k}, name='e{k}', weight={k * 0.5})," for k in range(12)]
        if index in tagged:
            entries.insert(6, f"    # BUG-20250101-{index % 100:03d}: the seventh entry")
        template = TAGGED_MODULE if index in tagged else MODULE
        text = template.format(
            index=index, sides=3 + index % 5, bug=index % 100, other=(index + 1) % 100, entries="\n".join(entries)
        )
        path = tree / f"pkg{index // 100:04d}" / f"module_{index:06d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    report = tree / "docs/bug_reports/bug-20250101-001-scale.md"
    report.parent.mkdir(parents=True)
    report.write_text(
        textwrap.dedent("""\
        ---
        bug_id: BUG-20250101-001
        title: Scale
        severity: Low
        status: open
        created: 2025-01-01
        author: benchmark
        checklist:
          - id: fixed
            group: Unit tests
            text: Fixed
        ---

        ## Root Cause

        Generated.
        """)
    )
    (tree / "pyproject.toml").write_text('[project]\nname = "synthetic"\n')


def build_copy(tree: Path, source: Path, pattern: str, skip: tuple[str, ...] = ()) -> None:
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source).parts
        if any(part in skip for part in parts):
            continue
        destination = tree.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    toml_pattern = pattern.replace("\\", "\\\\")
    (tree / "pyproject.toml").write_text(
        f'[project]\nname = "copy"\n\n[tool.tracer]\nid_pattern = "{toml_pattern}"\ntest_roots = []\n'
    )


def commit(tree: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            # no automatic gc: one started after the commit would pack objects under the timings
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "-c", "gc.auto=0", *args],
            cwd=tree,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "tree")
    time.sleep(2.1)  # files as old as a checkout's: the index does not trust a file changed just now


PARSE = """
import ast, sys, time
from pathlib import Path
files = Path(sys.argv[1]).read_text().splitlines()
data = [Path(p).read_bytes() for p in files]
start, wall = time.process_time(), time.perf_counter()
for d in data:
    ast.parse(d)
print((time.process_time() - start) * 1e3, (time.perf_counter() - wall) * 1e3)
"""

SCAN = """
import re, sys, time
from pathlib import Path
from tracer.scanner import scan_file
regex = re.compile(sys.argv[2])
files = Path(sys.argv[1]).read_text().splitlines()
data = [(p, Path(p).read_bytes()) for p in files]
scan_file("warm-up.py", b"# x\\n", regex)
start, wall = time.process_time(), time.perf_counter()
for path, d in data:
    scan_file(path, d, regex)
print((time.process_time() - start) * 1e3, (time.perf_counter() - wall) * 1e3)
"""

RUN = """
import resource, subprocess, sys, time
wall = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
if done.returncode not in (0, 1):  # 1: findings; anything else would time a failure as a fast run
    sys.exit(f"{' '.join(sys.argv[1:])} exited with {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
wall = time.perf_counter() - wall
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print((used.ru_utime + used.ru_stime) * 1e3, wall * 1e3, used.ru_maxrss / 1024)
"""


def tagged_files(tree: Path, pattern: str) -> list[str]:
    import re

    regex = re.compile(pattern)
    found = []
    for path in sorted(tree.rglob("*.py")):
        if ".tracer-cache" in path.parts:
            continue
        try:
            if regex.search(path.read_text(encoding="utf-8")):
                found.append(str(path))
        except (UnicodeDecodeError, SyntaxError):
            continue
    return found


def python(code: str, args: list[str], cwd: Path, pythonpath: Path | None = None) -> list[float]:
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    out = subprocess.run(
        [sys.executable, "-P", "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout
    return [float(v) for v in out.split()]


def run(
    command: list[str],
    cwd: Path,
    repeat: int,
    before: Callable[[], object] | None = None,
    pythonpath: Path | None = None,
) -> tuple[float, float, float]:
    """Median CPU milliseconds (user and system, of the command and every process it waited
    for: on a busy machine, what the command itself cost), median wall milliseconds, and the
    peak memory in MB of its largest process."""
    results = []
    for _ in range(repeat):
        if before:
            before()
        results.append(python(RUN, command, cwd, pythonpath))
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        max(r[2] for r in results),
    )


Row = tuple[str, float, float, str, str]  # label, CPU ms (or MB), wall ms, ratio, against the baseline revision


def measure(name: str, tree: Path, pattern: str, versions: dict[str, Path], repeat: int) -> list[Row]:
    files = tagged_files(tree, pattern)
    listing = tree.parent / f"{name}-tagged.txt"
    listing.write_text("\n".join(files))
    parse, parse_wall = python(PARSE, [str(listing)], tree)
    click = run([sys.executable, "-P", "-c", "import click"], tree, repeat)
    status = run(["git", "status", "--porcelain"], tree, repeat)
    count = sum(1 for path in tree.rglob("*.py") if ".git" not in path.parts)
    rows: list[Row] = [
        (
            f"{name} ({count} files, {len(files)} tagged): ast.parse of the tagged files, one process",
            parse,
            parse_wall,
            "",
            "",
        ),
        (f"{name}: python -c 'import click'", click[0], click[1], "", ""),
        (f"{name}: git status", status[0], status[1], "", ""),
    ]
    cache = tree / ".tracer-cache"
    clear = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for version, source in versions.items():
        results[version, "scan"] = tuple(python(SCAN, [str(listing), pattern], tree, source))  # type: ignore[assignment]
        tracer = [sys.executable, "-P", "-m", "tracer"]
        trace = [*tracer, "trace", "--all"]
        cpu, wall, peak = run(trace, tree, 1, clear, source)
        results[version, "trace cold"], results[version, "peak MB"] = (cpu, wall), (peak, 0.0)
        results[version, "trace warm"] = run(trace, tree, repeat, None, source)[:2]
        results[version, "check cold"] = run([*tracer, "check"], tree, 1, clear, source)[:2]
        results[version, "check warm"] = run([*tracer, "check"], tree, repeat, None, source)[:2]
        clear()
    against = {
        "scan": (parse, "ast.parse"),
        "trace cold": (parse, "ast.parse"),
        "peak MB": (0.0, ""),
        "trace warm": (click[0], "import click"),
        "check cold": (parse, "ast.parse"),
        "check warm": (status[0], "git status"),
    }
    labels = {
        "scan": "scan_file of the tagged files, one process",
        "trace cold": "tracer trace --all, cold",
        "peak MB": "tracer trace --all, cold: peak MB of its largest process",
        "trace warm": "tracer trace --all, warm",
        "check cold": "tracer check, cold",
        "check warm": "tracer check, warm",
    }
    for key, (base, base_name) in against.items():
        for version in versions:
            value, wall = results[version, key]
            ratio = f"{value / base:.2f}x {base_name}" if base else ""
            versus = (
                f"{value / results['baseline', key][0]:.2f}x baseline"
                if version != "baseline" and "baseline" in versions
                else ""
            )
            rows.append((f"{name}: {labels[key]}, {version}", value, wall, ratio, versus))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="modules in the synthetic tree")
    parser.add_argument("--tagged", type=float, default=0.01, help="share of them tagged")
    parser.add_argument("--baseline", metavar="REV", help="also time the tracer of this revision")
    parser.add_argument("--repeat", type=int, default=3, help="runs per warm row (cold rows run once)")
    parser.add_argument("--only", default="synthetic,stdlib,torch", help="the trees to time, comma-separated")
    args = parser.parse_args()
    trees = args.only.split(",")
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tracer-scale-") as folder:
        base = Path(folder)
        versions = {"this tree": ROOT}
        if args.baseline:
            worktree = base / "baseline"
            subprocess.run(
                ["git", "worktree", "add", "-q", "--detach", str(worktree), args.baseline], cwd=ROOT, check=True
            )
            versions = {"baseline": worktree, "this tree": ROOT}
        for (
            source
        ) in versions.values():  # as installed: compiled once (PYTHONDONTWRITEBYTECODE would leave it to every run)
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(source / "tracer")],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        try:
            if "synthetic" in trees:
                tree = base / "synthetic"
                build_synthetic(tree, args.files, args.tagged)
                commit(tree)
                rows += measure("synthetic", tree, r"BUG-\d{8}-\d{3}", versions, args.repeat)
            if "stdlib" in trees:
                tree = base / "stdlib"
                build_copy(tree, Path(sysconfig.get_paths()["stdlib"]), STDLIB_PATTERN, skip=("site-packages",))
                commit(tree)
                rows += measure("stdlib", tree, STDLIB_PATTERN, versions, args.repeat)
            if "torch" in trees:
                import importlib.util

                spec = importlib.util.find_spec("torch")
                if spec is None or spec.origin is None:
                    print("torch is not installed: its tree is skipped", file=sys.stderr)
                else:
                    tree = base / "torch"
                    build_copy(tree, Path(spec.origin).parent, TORCH_PATTERN)
                    commit(tree)
                    rows += measure("torch", tree, TORCH_PATTERN, versions, args.repeat)
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(base / "baseline")], cwd=ROOT, check=False)
    print(f"baseline: {args.baseline or '(none)'}; this tree: {ROOT.name} as it is on disk")
    print("CPU ms: user and system time of the processes (MB for the peak-memory rows); ratios on CPU time")
    width = max(len(label) for label, *_ in rows) + 2
    print(f"{'measure':<{width}} {'CPU ms':>10} {'wall ms':>10} {'ratio':>22}  vs baseline")
    print("-" * (width + 60))
    for label, value, wall, ratio, versus in rows:
        wall_text = f"{wall:.1f}" if wall else ""
        print(f"{label:<{width}} {value:>10.1f} {wall_text:>10} {ratio:>22}  {versus}")


if __name__ == "__main__":
    main()
