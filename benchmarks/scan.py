"""Time `tracer trace` cold and warm, this tracer against a baseline revision, beside `grep -rE`.

    python benchmarks/scan.py [--baseline REV] [--repeat 5] [--cold-repeat 1]

Two trees: this repository, and a copy of the standard library of the running Python (its 799
modules outside test folders, with their real `gh-`/`bpo-` IDs) in a temporary git repository.
The baseline revision (default HEAD) is checked out into a temporary git worktree and its tracer
runs on the same trees in the same run. Each row is the median wall time of a whole process and
its ratio to `grep -rE` on the same tree: cold is `tracer trace` with an empty cache, warm the
same command again. The last column compares this tracer with the baseline."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from timing import median_process_ms

ROOT = Path(__file__).resolve().parents[1]
STDLIB_PATTERN = r"(?:gh|bpo)-\d+"


def build_stdlib_tree(target: Path) -> int:
    """Copy the standard library's modules outside test folders; return how many."""
    base = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(base).parts
        if any(part in ("site-packages", "test", "tests") for part in parts):
            continue
        destination = target.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        count += 1
    (target / "pyproject.toml").write_text(
        f'[project]\nname = "stdlib"\n\n[tool.tracer]\nid_pattern = "{STDLIB_PATTERN}"\n'.replace("\\", "\\\\")
    )
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    time.sleep(2.1)  # files as old as a checkout's: the index does not trust a file changed just now
    return count


def tracer_command(bug_id: str) -> list[str]:
    # -P: the tree is the current folder and must not shadow the standard library (as for the
    # console script, whose sys.path starts at its own folder)
    return [sys.executable, "-P", "-m", "tracer", "trace", bug_id, "--format", "json"]


def measure(
    tree: Path, label: str, bug_id: str, pattern: str, versions: dict[str, Path], repeat: int, cold_repeat: int
) -> list[tuple[str, float, float, str]]:
    cache = tree / ".tracer-cache"
    skipped = [f"--exclude-dir={d}" for d in (".git", ".venv", ".tracer-cache", "__pycache__", "build", "dist")]
    grep = median_process_ms(["grep", "-rElI", "--include=*.py", *skipped, pattern, "."], tree, repeat)
    python = median_process_ms([sys.executable, "-P", "-c", "pass"], tree, repeat)
    click = median_process_ms([sys.executable, "-P", "-c", "import click"], tree, repeat)  # the CLI's floor
    rows = [
        (f"{label}: grep -rE", grep, 1.0, ""),
        (f"{label}: python -c pass", python, python / grep, ""),
        (f"{label}: python -c 'import click'", click, click / grep, ""),
    ]
    times: dict[tuple[str, str], float] = {}
    for name, source in versions.items():
        os.environ["PYTHONPATH"] = str(source)  # each tracer imported from its own tree
        try:
            times[name, "cold"] = median_process_ms(
                tracer_command(bug_id), tree, cold_repeat, before=lambda: shutil.rmtree(cache, ignore_errors=True)
            )
            median_process_ms(tracer_command(bug_id), tree, 1)  # fill the cache
            times[name, "warm"] = median_process_ms(tracer_command(bug_id), tree, repeat)
        finally:
            del os.environ["PYTHONPATH"]
    shutil.rmtree(cache, ignore_errors=True)
    for state in ("cold", "warm"):
        for name in versions:
            value = times[name, state]
            versus = f"{value / times['baseline', state]:.2f}x baseline" if name != "baseline" else ""
            rows.append((f"{label}: tracer trace, {state}, {name}", value, value / grep, versus))
    return rows


PER_FILE = """
import re, sys, time
from pathlib import Path
from tracer.scanner import scan_source
regex = re.compile(sys.argv[1])
files = [Path(p) for p in sys.argv[2:]]
sources = [(str(p), p.read_text(encoding="utf-8", errors="replace")) for p in files]
scan_source("warm-up.py", "# x\\n", regex)  # import libcst outside the timing
start = time.perf_counter()
for path, text in sources:
    scan_source(path, text, regex)
print((time.perf_counter() - start) * 1e3 / len(sources))
"""


def per_tagged_file(tree: Path, pattern: str, versions: dict[str, Path]) -> list[tuple[str, float, float, str]]:
    """Milliseconds of `scan_source` per file that holds an ID, in one process, one core."""
    import re

    regex = re.compile(pattern)
    tagged = sorted(str(p) for p in tree.rglob("*.py") if regex.search(p.read_text(encoding="utf-8", errors="replace")))
    times = {}
    for name, source in versions.items():
        out = subprocess.run(
            [sys.executable, "-P", "-c", PER_FILE, pattern, *tagged],
            env={**os.environ, "PYTHONPATH": str(source)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        times[name] = float(out.strip().splitlines()[-1])
    return [
        (
            f"scan_source per tagged file ({len(tagged)} files), {name}",
            value,
            float("nan"),
            f"{value / times['baseline']:.2f}x baseline" if name != "baseline" else "",
        )
        for name, value in times.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="the revision to compare with (default HEAD)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per warm and grep row")
    parser.add_argument(
        "--cold-repeat", type=int, default=1, help="runs per cold row (a cold stdlib scan takes a while)"
    )
    parser.add_argument("--skip-stdlib", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        baseline = Path(folder) / "baseline"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(baseline), args.baseline], cwd=ROOT, check=True)
        try:
            versions = {"baseline": baseline, "this tree": ROOT}
            rows = measure(
                ROOT,
                "this repository",
                "BUG-20251110-002",
                r"BUG-[0-9]{8}-[0-9]{3}",
                versions,
                args.repeat,
                args.cold_repeat,
            )
            if not args.skip_stdlib:
                tree = Path(folder) / "stdlib"
                count = build_stdlib_tree(tree)
                rows += measure(
                    tree,
                    f"stdlib ({count} files)",
                    "gh-102895",
                    "(gh|bpo)-[0-9]+",
                    versions,
                    args.repeat,
                    args.cold_repeat,
                )
                rows += per_tagged_file(tree, STDLIB_PATTERN, versions)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
    print(f"baseline: {args.baseline}; this tree: {ROOT.name} as it is on disk")
    width = max(len(label) for label, *_ in rows) + 2
    print(f"{'command':<{width}} {'ms':>9} {'x grep':>9}  vs baseline")
    print("-" * (width + 34))
    for label, value, ratio, versus in rows:
        print(f"{label:<{width}} {value:>9.1f} {ratio:>9.2f}  {versus}")


if __name__ == "__main__":
    main()
