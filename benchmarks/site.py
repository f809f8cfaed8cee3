"""Time `tracer site` on this repository, cold and warm, against `python -c pass`; and weigh the
search index of a generated project of 100 bug reports against its budget of 50 kB.

    python benchmarks/site.py [--repeat 5] [--bugs 100]

The site is built in a clone of this repository's committed history (in a temporary folder), so
the run neither touches the work tree's cache nor depends on edits in progress. Each row is the
median wall time of a whole process and its ratio to `python -c pass` in the same run: cold is
`tracer site` with the cache folder removed before each run (scans, evidence checks and pages
all redone), warm is the same command again with nothing changed (every page from the cache,
nothing written). The generated project has `--bugs` reports of five checklist items each, with
titles, item texts and tag texts of the lengths this repository's report has, and three tagged
functions a bug; its index is weighed in bytes, with the ratio to the budget (50 kB a hundred
bugs) in the last column."""

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


BUDGET = 50_000  # bytes of search index a hundred bugs
ITEM_TEXTS = [
    "Test step function with edge cases (x=0, x=1, y=0, y=1, x=y) in float32 and float16",
    "Check loss values remain finite (the float32, bfloat16 and float16 runs)",
    "Verify mathematical equivalence (sigmoid vs reciprocal+exp), values and gradients",
    "Error messages carry shape, device and value range",
    "Reviewed by a second person",
]


def generated_project(folder: Path, bugs: int) -> Path:
    """A project of `bugs` reports, each with five items and three tagged functions."""
    (folder / "src" / "demo").mkdir(parents=True)
    (folder / "docs" / "bug_reports").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.tracer]\nsource_roots = ["src"]\n')
    for n in range(1, bugs + 1):
        bug = f"BUG-20250{1 + n // 28 % 9}{1 + n % 28:02d}-{n:03d}"
        code = "".join(
            f"def handler_{n}_{k}(value, limit):\n    # {bug}: Clamp the value into range before the exponent, so "
            f"it cannot overflow\n"
            f"    value = min(max(value, -limit), limit)\n    return value * 2\n\n\n"
            for k in range(3)
        )
        (folder / "src" / "demo" / f"module_{n:03d}.py").write_text(code)
        items = "".join(
            f"  - id: item-{k}\n    group: Unit tests\n    text: {text}\n" for k, text in enumerate(ITEM_TEXTS)
        )
        (folder / "docs" / "bug_reports" / f"{bug.lower()}-overflow.md").write_text(
            f"---\nbug_id: {bug}\ntitle: NaN gradients from step function overflow in module {n}\nseverity: "
            f"High\nstatus: fixed\n"
            f"created: 2025-01-01\nauthor: someone\ntags: [nan-gradients, "
            f"numerical-stability]\nchecklist:\n{items}---\n\n# {bug}\n"
        )
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    return folder


def index_rows(folder: Path, bugs: int) -> list[tuple[str, float, float]]:
    tree = generated_project(folder / "generated", bugs)
    run = subprocess.run([sys.executable, "-m", "tracer", "site"], cwd=tree, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"tracer site failed in the generated project:\n{run.stderr}")
    size = (tree / ".tracer-cache" / "site" / "search-index.js").stat().st_size
    per_hundred = size * 100 / bugs
    return [
        (f"search index, {bugs} bugs (bytes)", size, size / BUDGET * bugs / 100),
        ("search index a hundred bugs (bytes)", per_hundred, per_hundred / BUDGET),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bugs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "repo"
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(tree)], check=True)
        check = subprocess.run([sys.executable, "-m", "tracer", "site"], cwd=tree, capture_output=True, text=True)
        if check.returncode:
            sys.exit(f"tracer site failed in the clone:\n{check.stderr}")
        pages = sum(1 for _ in (tree / ".tracer-cache" / "site").rglob("*.html"))
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
        print(f"this repository at {head.stdout.strip()}: {pages} pages")
        rows = measure(tree, args.repeat)
        weights = index_rows(Path(folder), args.bugs)
    print_table(("command", "ms", "x python"), rows)
    print()
    print_table(("what", "bytes", "x budget"), weights, ".0f")


if __name__ == "__main__":
    main()
