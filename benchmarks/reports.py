"""Time tracer on a team's hundreds of reports: this repository as it is, and a copy of it with N
more reports, warm (nothing changed since the last run) and cold, in the same run.

    python benchmarks/reports.py [--reports 500] [--repeat 5]

Each generated report is open, has three checklist items and a body with links, like the ones a
team writes; `tracer render --all` runs once on each tree before the timing. The ratio columns are
against the same command on the one-report tree, in CPU time (user and system: what the command
cost, which other work on a shared machine does not inflate) and in wall time, the two trees timed
in turn, round by round: the goal is at most 3x for warm `check` and `site` with 501 reports. Last,
the site's size and its largest page (the goal: none over 1 MB, with 5,000 reports)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import median_process_times, run_timed

ROOT = Path(__file__).resolve().parents[1]

REPORT = """---
bug_id: {bug_id}
title: Generated report {number}
severity: Medium
status: open
created: 2026-01-01
author: benchmark
tags: [generated]
checklist:
  - id: reproduce
    group: Reproduction tests
    text: A test reproduces the bug
  - id: edge-cases
    group: Unit tests
    text: Edge cases are covered
  - id: reviewed
    group: Validation
    text: Reviewed by a second person
---

# {bug_id}: Generated report {number}

## Summary

Report {number} of a generated set, with a [link to the index](index.md).

## Root Cause

Unknown yet.
"""


def tree_with_reports(folder: Path, count: int) -> Path:
    """This repository's tracked files, committed, plus `count` generated reports, rendered."""
    tree = folder / f"tree-{count}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    shutil.rmtree(tree / "tracer")  # the tracer timed is this work tree's, as installed, not the copy's
    reports = tree / "docs" / "bug_reports"
    for number in range(1, count + 1):
        bug_id = f"BUG-2026{number // 1000 + 1:02d}{number % 28 + 1:02d}-{number % 1000:03d}"
        (reports / f"{bug_id.lower()}-generated-report-{number}.md").write_text(
            REPORT.format(bug_id=bug_id, number=number)
        )
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "tree"], cwd=tree, check=True
    )
    subprocess.run([sys.executable, "-m", "tracer", "render", "--all"], cwd=tree, capture_output=True, check=False)
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tracer = [sys.executable, "-m", "tracer"]
    with tempfile.TemporaryDirectory(prefix="tracer-reports-") as folder:
        one, many = tree_with_reports(Path(folder), 0), tree_with_reports(Path(folder), args.reports)
        rows = []
        for label, command in [("check", ["check"]), ("render --all", ["render", "--all"]), ("site", ["site"])]:
            for tree in (one, many):
                run_timed([*tracer, *command], tree)  # warm the cache
            # in turn, round by round: a slow spell of a shared machine falls on both trees alike
            warm: dict[Path, list[tuple[float, float]]] = {one: [], many: []}
            for _ in range(args.repeat):
                for tree in (one, many):
                    warm[tree].append(median_process_times([*tracer, *command], tree, 1))
            for tree in (one, many):
                shutil.rmtree(tree / ".tracer-cache", ignore_errors=True)
                cold = median_process_times([*tracer, *command], tree, 1)
                cpu, wall = (statistics.median(times) for times in zip(*warm[tree]))
                rows.append((label, tree is many, (cpu, wall), cold))
        print(f"{'command':<34} {'cpu ms':>8} {'x 1':>6} {'wall ms':>8} {'x 1':>6}")
        print("-" * 66)
        for label, is_many, warm_times, cold_times in rows:
            base = next((w, c) for l, m, w, c in rows if l == label and not m)
            reports = args.reports + 1 if is_many else 1
            for kind, times, base_times in (("warm", warm_times, base[0]), ("cold", cold_times, base[1])):
                cpu, wall = (t * 1e3 for t in times)
                ratios = [t / b for t, b in zip(times, base_times)]
                name = f"{label}, {reports} reports, {kind}"
                print(f"{name:<34} {cpu:>8.0f} {ratios[0]:>6.2f} {wall:>8.0f} {ratios[1]:>6.2f}")
        pages = sorted((many / ".tracer-cache" / "site").rglob("*.html"), key=lambda p: p.stat().st_size)
        total = sum(p.stat().st_size for p in pages)
        print(
            f"\nsite of {args.reports + 1} reports: {len(pages)} pages, {total / 1e6:.1f} MB, the largest "
            f"{pages[-1].relative_to(many / '.tracer-cache' / 'site')} at {pages[-1].stat().st_size / 1e3:.0f} kB"
        )


if __name__ == "__main__":
    main()
