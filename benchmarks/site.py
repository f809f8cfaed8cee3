"""Time `tracer site` on this repository, cold and warm, against `python -c pass`.

    python benchmarks/site.py [--repeat 5]

The site is built in a clone of this repository's committed history (in a temporary folder), so
the run neither touches the work tree's cache nor depends on edits in progress. Each row is the
median wall time of a whole process and its ratio to `python -c pass` in the same run: cold is
`tracer site` with the cache folder removed before each run (scans, evidence checks and pages
all redone), warm is the same command again with nothing changed (every page from the cache,
nothing written)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import median_process_ms, print_table

ROOT = Path(__file__).resolve().parents[1]


def measure(tree: Path, repeat: int) -> list[tuple[str, float, float]]:
    tracer = [sys.executable, "-m", "tracer"]
    cache = tree / ".tracer-cache"
    python = median_process_ms([sys.executable, "-c", "pass"], tree, repeat)
    version = median_process_ms([*tracer, "--version"], tree, repeat)
    cold = median_process_ms([*tracer, "site"], tree, repeat, before=lambda: shutil.rmtree(cache, ignore_errors=True))
    median_process_ms([*tracer, "site"], tree, 1)  # fills the cache
    warm = median_process_ms([*tracer, "site"], tree, repeat)
    return [
        ("python -c pass", python, 1.0),
        ("tracer --version", version, version / python),
        ("tracer site, cold cache", cold, cold / python),
        ("tracer site, warm cache", warm, warm / python),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "repo"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(tree)], check=True)
        check = subprocess.run([sys.executable, "-m", "tracer", "site"], cwd=tree, capture_output=True, text=True)
        if check.returncode:
            sys.exit(f"tracer site failed in the clone:\n{check.stderr}")
        pages = sum(1 for _ in (tree / ".tracer-cache" / "site").rglob("*.html"))
        print(f"this repository at {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=tree, capture_output=True, text=True).stdout.strip()}: {pages} pages")
        rows = measure(tree, args.repeat)
    print_table(("command", "ms", "x python"), rows)


if __name__ == "__main__":
    main()
