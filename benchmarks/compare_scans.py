"""Compare the scanner (tracer.outline: Python's ast and the text) with the libcst walk it
replaced (tracer.syntax, kept for syntax newer than the running Python) on real code.

    python benchmarks/compare_scans.py [FOLDER ...] [--pattern REGEX] [--show 20]

FOLDER defaults to the running Python's standard library (without site-packages). The default
pattern, `[A-Za-z]\\w*`, makes nearly every comment and docstring line a tag, so that every place
a comment can sit is compared. Scopes must be identical (name, kind, lines); each tag's block
must be the same, or (for a tag inside brackets, which now marks the element holding it) lie
within the old one. Signatures may differ only where the old one kept a comment or a backslash,
or doubled a class's commas. Files libcst does not give back as it read them are left out (the
old walk misnumbered their lines). Exits 1 on any other difference. Also counts what `tracer
trace` lists before (one entry a tag) and after (each block once): entries repeating a block of
their bug and scope, the largest entry, and those over 1,000 lines."""

from __future__ import annotations

import argparse
import re
import sys
import sysconfig
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracer import outline, syntax  # noqa: E402
from tracer.prefilter import Prefilter  # noqa: E402
from tracer.scanner import merge_blocks  # noqa: E402
from tracer.sourcetext import SourceDecodeError, decode_source  # noqa: E402
from tracer.tags import FileScan  # noqa: E402


def blocks(scan: FileScan) -> dict[tuple[str, int], tuple[int, int]]:
    return {
        (t.scope.qualname, c.tag_line): (c.start_line, c.end_line)
        for t in scan.scopes
        for c in t.changes
        if c.kind == "comment"
    }


def listed(scan: FileScan, merged: bool, label: str, counts: Counter[str], largest: Counter[str]) -> None:
    """What `tracer trace` lists of each bug in each scope: every tag's block before (one entry a
    tag), each block once after (`merge_blocks`); how many entries repeat a block, how large."""
    for tagged in scan.scopes:
        for bug_id in dict.fromkeys(i for c in tagged.changes for i in c.bug_ids):
            changes = [c for c in tagged.changes if bug_id in c.bug_ids]
            entries = merge_blocks(changes) if merged else tuple(changes)
            counts[f"entries listed, {label}"] += len(entries)
            blocks = Counter((c.start_line, c.end_line, c.kind) for c in entries)
            counts[f"entries repeating a block of their bug and scope, {label}"] += sum(n - 1 for n in blocks.values())
            for change in entries:
                size = change.end_line - change.start_line + 1
                largest[label] = max(largest[label], size)
                if size > 1000:
                    counts[f"entries over 1,000 lines, {label}"] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--pattern", default=r"[A-Za-z]\w*")
    parser.add_argument("--show", type=int, default=20, help="differences to print")
    args = parser.parse_args()
    folders = args.folders or [Path(sysconfig.get_paths()["stdlib"])]
    prefilter = Prefilter(re.compile(args.pattern))
    counts: Counter[str] = Counter()
    largest: Counter[str] = Counter()
    shown = 0

    def report(kind: str, path: Path, detail: str) -> None:
        nonlocal shown
        counts[kind] += 1
        if shown < args.show:
            shown += 1
            print(f"{kind}: {path}: {detail}")

    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            if "site-packages" in path.relative_to(folder).parts:
                continue
            try:
                data = path.read_bytes()
                if not prefilter.may_match(data):
                    counts["files the prefilter passes over"] += 1
                    continue
                source = decode_source(data)
                tree = outline.parse(source)
            except (OSError, SourceDecodeError, SyntaxError, outline.Unparsable):
                counts["skipped (unreadable or not parsed by this Python)"] += 1
                continue
            new = outline.scan(str(path), source, tree, prefilter)
            try:
                module = syntax.parse(source)
            except outline.Unparsable:
                counts["files libcst cannot parse (the old scan: T001)"] += 1
                continue
            if syntax._deep(lambda: module.code) != source:  # noqa: B023 - called at once
                counts["files libcst does not give back as read (the old scan misnumbers)"] += 1
                continue
            old = syntax.scan_module(str(path), source, prefilter)
            counts["files"] += 1
            old_scopes = {(t.scope.qualname, t.scope.start_line): t.scope for t in old.scopes}
            new_scopes = {(t.scope.qualname, t.scope.start_line): t.scope for t in new.scopes}
            counts["scopes"] += len(old_scopes)
            for key in old_scopes.keys() | new_scopes.keys():
                a, b = old_scopes.get(key), new_scopes.get(key)
                if (
                    a is None
                    or b is None
                    or (a.qualname, a.kind, a.start_line, a.end_line) != (b.qualname, b.kind, b.start_line, b.end_line)
                ):
                    report("scope differs", path, f"{a} != {b}")
                elif a.signature != b.signature:
                    counts["signatures without comments or doubled commas"] += 1
                    flat = " ".join(a.signature.split())
                    if (
                        "#" not in flat
                        and "\\" not in flat
                        and ",," not in flat.replace(" ", "")
                        and flat != b.signature
                    ):
                        report("signature differs", path, f"{a.signature!r} != {b.signature!r}")
            if old.malformed != new.malformed:
                report("malformed tags differ", path, f"{set(old.malformed) ^ set(new.malformed)}")
            old_blocks, new_blocks = blocks(old), blocks(new)
            counts["comment tags"] += len(old_blocks)
            for key in old_blocks.keys() | new_blocks.keys():
                a2, b2 = old_blocks.get(key), new_blocks.get(key)
                if a2 == b2:
                    continue
                if a2 is not None and b2 is not None and a2[0] <= b2[0] <= b2[1] <= a2[1]:
                    counts["blocks narrowed to an element"] += 1
                    counts["lines no longer marked"] += (a2[1] - a2[0]) - (b2[1] - b2[0])
                else:
                    report("block differs", path, f"{key}: {a2} != {b2}")
            for label, scan, merged in (("before", old, False), ("after", new, True)):
                listed(scan, merged, label, counts, largest)
            old_docs = sorted(c for t in old.scopes for c in t.changes if c.kind == "docstring")
            new_docs = sorted(c for t in new.scopes for c in t.changes if c.kind == "docstring")
            counts["docstring tags"] += len(old_docs)
            if old_docs != new_docs:
                report("docstring tags differ", path, f"{set(old_docs) ^ set(new_docs)}")
    for label in ("before", "after"):
        counts[f"largest entry (lines), {label}"] = largest[label]
    width = max(len(k) for k in counts) + 2
    for key, value in counts.items():
        print(f"{key:<{width}} {value:>9}")
    bad = sum(v for k, v in counts.items() if k.endswith("differs") or k.endswith("differ"))
    print("same scopes and blocks" if not bad else f"{bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
