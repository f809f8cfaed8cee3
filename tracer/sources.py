"""Which Python files a project has, and their scans: cheap byte search first, libcst only for
files that hold the ID prefix, and parse results cached by content."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import asdict
from pathlib import Path

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.problems import Problem
from tracer.scanner import Change, FileScan, MalformedTag, Scope, TaggedScope, literal_prefix, scan_source

SKIPPED_DIRS = {".git", ".hg", ".svn", "__pycache__", "build", "dist", "node_modules", ".tox", ".nox",
                ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages", ".eggs"}


def python_files(config: Config) -> list[str]:
    """Project-relative POSIX paths of the Python files under the source roots, without what
    .gitignore ignores, virtual environments and build output; sorted."""
    listed = _git_files(config.root)
    files = []
    for source_root in config.source_roots:
        base = (config.root / source_root).resolve()
        if listed is not None:
            prefix = base.relative_to(config.root.resolve()).as_posix()
            prefix = "" if prefix == "." else prefix + "/"
            files += [p for p in listed if p.startswith(prefix) and p.endswith(".py")]
        else:
            files += _walk(config.root, base)
    excluded = tuple(config.exclude)
    return sorted({f for f in files if not (excluded and f.startswith(excluded))})


def _git_files(root: Path) -> list[str] | None:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
    # A virtual environment that .gitignore forgot is still no source: it holds a pyvenv.cfg.
    venvs = tuple(p[: -len("pyvenv.cfg")] for p in paths if p == "pyvenv.cfg" or p.endswith("/pyvenv.cfg"))
    return [
        p for p in paths
        if not (venvs and p.startswith(venvs)) and not any(part in SKIPPED_DIRS for part in p.split("/")) and (root / p).is_file()
    ]


def _walk(root: Path, base: Path) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")
                         and not (Path(folder, d) / "pyvenv.cfg").exists())
        found += [Path(folder, n).relative_to(root).as_posix() for n in names if n.endswith(".py")]
    return found


class ScanCache:
    """Scan results keyed by a digest of the file's bytes, its path, the ID pattern and tracer."""

    def __init__(self, folder: Path | None):
        self.store = ContentCache(folder)

    def key(self, data: bytes, path: str, pattern: str) -> str:
        return digest_of(pattern, path, data) + ".json"

    def get(self, key: str) -> FileScan | None:
        text = self.store.get(key)
        try:
            return _scan_from_dict(json.loads(text)) if text is not None else None
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, scan: FileScan) -> None:
        self.store.put(key, json.dumps(asdict(scan), sort_keys=True))


def _scan_from_dict(data: dict) -> FileScan:
    return FileScan(
        data["path"],
        tuple(
            TaggedScope(s["path"], Scope(**s["scope"]), tuple(Change(**{**c, "bug_ids": tuple(c["bug_ids"])}) for c in s["changes"]))
            for s in data["scopes"]
        ),
        tuple(MalformedTag(**m) for m in data["malformed"]),
        tuple(Problem(**p) for p in data["problems"]),
    )


def scan_project(config: Config, use_cache: bool = True) -> list[FileScan]:
    """Scan every Python file of the project; files without the ID prefix are never parsed, and
    the files that must be parsed are parsed in parallel when there are several."""
    regex = config.id_regex
    prefix = literal_prefix(regex.pattern).encode()
    cache = ScanCache(config.root / config.cache_dir / "scan" if use_cache else None)
    scans: dict[str, FileScan] = {}
    to_parse: list[tuple[str, bytes, str]] = []
    for path in python_files(config):
        try:
            data = (config.root / path).read_bytes()
        except OSError as error:
            scans[path] = FileScan(path, problems=(Problem(path, 1, "T002", f"cannot read: {error.strerror}"),))
            continue
        if prefix and prefix not in data or not prefix and not regex.search(data.decode("utf-8", "replace")):
            continue
        key = cache.key(data, path, regex.pattern)
        cached = cache.get(key)
        if cached is None:
            to_parse.append((path, data, key))
        else:
            scans[path] = cached
    for (path, _, key), scan in zip(to_parse, _parse_all([(p, d) for p, d, _ in to_parse], regex.pattern)):
        cache.put(key, scan)
        scans[path] = scan
    return [scans[path] for path in sorted(scans)]


PARALLEL_FROM = 4  # below this many files, starting worker processes costs more than it saves


def _parse_all(items: list[tuple[str, bytes]], pattern: str) -> list[FileScan]:
    workers = min(os.cpu_count() or 1, len(items))
    if len(items) < PARALLEL_FROM or workers < 2:
        return [_scan_bytes(path, data, pattern) for path, data in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_scan_bytes, *zip(*items), [pattern] * len(items)))


def _scan_bytes(path: str, data: bytes, pattern: str) -> FileScan:
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return FileScan(path, problems=(Problem(path, line, "T002", "not valid UTF-8"),))
    return scan_source(path, source, re.compile(pattern))
