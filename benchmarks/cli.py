"""Time tracer's commands as a user runs them, against `python -c pass` in the same run.

    python benchmarks/cli.py [--repeat 5] [--baseline REV]

Rows: the interpreter alone, `tracer --help`, `tracer check` with an empty cache (cold: every
tagged file parsed, every document rendered) and with a warm one (nothing changed since). With
`--baseline`, the same rows for the tracer of revision REV, checked out into a temporary worktree,
in the same run: on this tree (the same work for both), and on its own tree."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import median_process_ms, print_table

ROOT = Path(__file__).resolve().parents[1]


def rows_for(label: str, tree: Path, repeat: int) -> list[tuple[str, float]]:
    tracer = [sys.executable, "-m", "tracer"]
    cache = tree / ".tracer-cache"
    clear = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    return [
        (f"{label}: tracer --help", median_process_ms([*tracer, "--help"], tree, repeat)),
        (f"{label}: tracer check, cold cache", median_process_ms([*tracer, "check"], tree, repeat, clear)),
        (f"{label}: tracer check, warm cache", median_process_ms([*tracer, "check"], tree, repeat)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="Also time the tracer of this revision.")
    args = parser.parse_args()
    measured = [("python -c pass", median_process_ms([sys.executable, "-c", "pass"], ROOT, args.repeat))]
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="tracer-baseline-") as folder:
            tree = Path(folder) / "tree"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "--quiet", str(tree), args.baseline], cwd=ROOT, check=True
            )
            try:
                os.environ["PYTHONPATH"] = str(tree)  # the old tracer, imported from its own tree
                measured += rows_for(f"baseline {args.baseline}, this tree", ROOT, args.repeat)
                measured += rows_for(f"baseline {args.baseline}, its own tree", tree, args.repeat)
            finally:
                del os.environ["PYTHONPATH"]
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    measured += rows_for("this tree", ROOT, args.repeat)
    base = measured[0][1]
    print_table(("command", "ms", "x python"), [(label, ms, ms / base) for label, ms in measured])


if __name__ == "__main__":
    main()
