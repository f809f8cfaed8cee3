"""Time `tracer trace` against `grep -rE` on this repository and on a large tree.

    python benchmarks/scan.py [--files 3000] [--repeat 3]

The large tree is built in a temporary folder from the Python files of an installed package
(torch's, else the standard library), with tags added to a few of them. Each row is the median
wall time of a whole process, and its ratio to `grep -rE` on the same tree in the same run:
cold is `tracer trace` with an empty cache, warm is the same command again."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from timing import median_process_ms, print_table

ROOT = Path(__file__).resolve().parents[1]
BUG = "BUG-20251110-002"
PATTERN = r"BUG-[0-9]{8}-[0-9]{3}"


def source_files(limit: int) -> list[Path]:
    try:
        import torch  # noqa: F401 - only to find a large body of real Python code

        base = Path(torch.__file__).parent
    except ImportError:
        base = Path(sysconfig.get_paths()["stdlib"])
    return sorted(base.rglob("*.py"))[:limit]


def build_tree(target: Path, limit: int) -> tuple[int, int]:
    """Copy up to `limit` files and tag every hundredth; return (files, bytes)."""
    total = 0
    files = source_files(limit)
    for index, path in enumerate(files):
        destination = target / "src" / f"m{index:05d}.py"
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8", errors="replace")
        if index % 100 == 0:
            text += f"\n\ndef tagged_{index}():\n    # {BUG}: a tagged change\n    return {index}\n"
        destination.write_text(text, encoding="utf-8")
        total += len(text.encode())
    (target / "pyproject.toml").write_text('[project]\nname = "big"\n\n[tool.tracer]\nsource_roots = ["src"]\n')
    return len(files), total


def measure(tree: Path, label: str, repeat: int) -> list[tuple[str, float, float]]:
    tracer = [sys.executable, "-m", "tracer", "trace", BUG, "--format", "json"]
    cache = tree / ".tracer-cache"
    grep = median_process_ms(["grep", "-rEl", "--include=*.py", PATTERN, "."], tree, repeat)
    cold = median_process_ms(tracer, tree, repeat, before=lambda: shutil.rmtree(cache, ignore_errors=True))
    warm = median_process_ms(tracer, tree, repeat)
    python = median_process_ms([sys.executable, "-c", "pass"], tree, repeat)
    return [
        (f"{label}: grep -rE", grep, 1.0),
        (f"{label}: python -c pass", python, python / grep),
        (f"{label}: tracer trace, cold cache", cold, cold / grep),
        (f"{label}: tracer trace, warm cache", warm, warm / grep),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = measure(ROOT, "this repository", args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder)
        count, size = build_tree(tree, args.files)
        subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
        rows += measure(tree, f"{count} files, {size / 1e6:.0f} MB", args.repeat)
    print_table(("command", "ms", "x grep"), rows)


if __name__ == "__main__":
    main()
