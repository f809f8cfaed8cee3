"""Which Python files a project has, and their scans.

Files are chosen from the source roots (what git does not ignore, no virtual environments, no
build output, no test folders unless a source root names one); only regular files inside the
project are read. A file is then read only when its stat changed since the last scan (size,
mtime, ctime, inode and device, as git's index keys its entries), searched for the ID pattern's
literals, and parsed only when it may hold a tag; parse results are also cached by content."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from tracer.cache import ContentCache, digest_of
from tracer.config import Config
from tracer.guard import file_kind
from tracer.problems import Problem, Severity, TracerError
from tracer.scanner import Change, FileScan, MalformedTag, Scope, TaggedScope, prefilter_for, scan_file

SKIPPED_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "build",
    "dist",
    "node_modules",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "site-packages",
    ".eggs",
}


_SKIPPED = re.compile("(?:^|/)(?:" + "|".join(re.escape(d) for d in sorted(SKIPPED_DIRS)) + ")(?:/|$)")


class Selection(NamedTuple):
    """The files to scan, each with its stamp (what tells whether it changed since the last scan:
    its blob in git's index where git knows it unchanged, else its stat) and its stat where it was
    taken; and a note for each file passed over."""

    files: tuple[tuple[str, str, os.stat_result | None], ...]
    notes: tuple[FileScan, ...]


class GitListing(NamedTuple):
    paths: list[str]  # tracked and untracked, without what .gitignore ignores
    clean: dict[str, str]  # path: blob id, for each regular file git finds unchanged since it was staged


def select_files(
    config: Config, listed_by_git: tuple[bytes | None, str] | None = None, prefixes: list[str] | None = None
) -> Selection:
    """The regular files to scan. A source root that does not exist or leads out of the project
    is a TracerError naming `source_roots`; a FIFO, socket or device named `*.py`, or a symlink
    out of the project, is skipped with a note. `listed_by_git` (`git_listing`'s answer) and
    `prefixes` (`source_prefixes`): where the caller has them."""
    root = os.path.realpath(config.root)
    prefixes = source_prefixes(config) if prefixes is None else prefixes
    raw, git_failure = listed_by_git or git_listing(config.root)
    listing = parse_listing(raw) if raw is not None else None
    listed, clean = (listing.paths, listing.clean) if listing else (None, {})
    candidates: set[str] = set()
    for prefix in prefixes:
        if listed is not None:
            candidates.update(
                p for p in listed if p.startswith(prefix) if prefix.endswith("/") or p == prefix or not prefix
            )
        else:
            candidates.update(_walk(config.root, prefix))
    excluded = tuple(config.exclude)
    # Tests are evidence, not changed code: skipped unless a source root lies inside one.
    test_prefixes = tuple(
        t.rstrip("/") + "/"
        for t in config.test_roots
        if not any(p.startswith(t.rstrip("/") + "/") for p in prefixes if p)
    )
    files: list[tuple[str, str, os.stat_result | None]] = []
    notes: list[FileScan] = [_note(".", git_failure)] if git_failure else []
    top = os.path.join(os.fspath(config.root), "")  # strings, not Paths: this loop runs once per file on every command
    links: list[tuple[str, os.stat_result]] = []
    lstat, is_regular, is_link = os.lstat, stat.S_ISREG, stat.S_ISLNK
    for path in sorted(candidates):
        if not path.endswith(".py") or (excluded and path.startswith(excluded)) or path.startswith(test_prefixes):
            continue
        blob = clean.get(path)
        if blob is not None:  # git has just compared it with its index, as `git status` does: no stat of ours
            files.append((path, "git " + blob, None))
            continue
        try:
            info = lstat(top + path)
        except OSError:
            continue  # listed by git, deleted since
        if is_regular(info.st_mode):
            files.append((path, stat_stamp(info), info))
        elif is_link(info.st_mode):
            links.append((path, info))
        else:
            notes.append(_note(path, f"not a regular file ({file_kind(info.st_mode)}); skipped"))
    real_paths = {os.path.join(root, path) for path, _, _ in files} if links else set()
    for path, _ in links:
        target = os.path.realpath(config.root / path)
        if not _inside(target, root):
            notes.append(_note(path, "a symlink to outside the project; not followed"))
            continue
        try:
            info = os.stat(target)
        except OSError:
            continue  # a dangling link
        if stat.S_ISREG(info.st_mode) and target not in real_paths:  # else it is scanned under its own name
            files.append((path, stat_stamp(info), info))
            real_paths.add(target)
    return Selection(tuple(sorted(files, key=lambda item: item[0])), tuple(notes))


def source_prefixes(config: Config) -> list[str]:
    """The source roots as project-relative prefixes; TracerError for one that is missing or
    leads out of the project."""
    root = os.path.realpath(config.root)
    return [_root_prefix(config, root, source_root) for source_root in config.source_roots]


def _root_prefix(config: Config, root: str, source_root: str) -> str:
    """A source root as a project-relative prefix ("" for the whole project, "src/" for src)."""
    path = config.root / source_root
    if not os.path.lexists(path):
        raise TracerError(f"source_roots: {source_root!r} does not exist in {config.root}")
    real = os.path.realpath(path)
    if not _inside(real, root):
        raise TracerError(f"source_roots: {source_root!r} leads outside the project (to {real})")
    relative = Path(os.path.relpath(real, root)).as_posix()
    if relative == ".":
        return ""
    return relative if os.path.isfile(real) else relative + "/"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _note(path: str, message: str) -> FileScan:
    return FileScan(path, problems=(Problem(path, 1, "T002", message, Severity.WARNING),))


def git_listing(root: Path) -> tuple[bytes | None, str]:
    """What `git ls-files` says of the tree's sources (its records, for `parse_listing`: those of
    Python files, and of the `pyvenv.cfg` files that mark a virtual environment, so that an edit
    of a README changes nothing here), or None and why not. Outside a repository, or without
    git, the tree is walked and nothing is said; a repository whose listing fails (a corrupt
    index, say) is walked too, and said so. One `git ls-files` does what `git status` does (a
    stat of every tracked file against the index, a walk for untracked ones), in C, so that a
    warm scan of a large repository stats nothing itself."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "-z", "-t", "-v", "-s", "--cached", "--modified", "--deleted", "--others"]
            + ["--exclude-standard", "--", "*.py", "*pyvenv.cfg"],  # the sources, and what marks a venv
            cwd=root,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
    except OSError:
        return None, ""
    if done.returncode:
        error = done.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in error:
            return None, ""
        first = error.splitlines()[0][:200] if error else f"exit code {done.returncode}"
        return None, f"git ls-files failed ({first}); walked the tree instead, .gitignore not applied"
    return done.stdout, ""


# Every Python file git lists is tracked, a regular file, and unchanged since it was staged (a
# record of another file may say anything): the listing then names the content of every source.
# Atomic, each record matched once: a record that both alternatives match must not make a listing
# that fails take exponential time to fail.
_VOUCHED_FOR = re.compile(rb"(?>(?:H 100(?:644|755) [0-9a-f]+ 0\t[^\0]*|[^\0]*(?<!\.py))\0)*+")


def vouched_for(raw: bytes) -> bool:
    """Whether git's listing vouches for the content of every Python file it lists."""
    return _VOUCHED_FOR.fullmatch(raw) is not None


def parse_listing(raw: bytes) -> GitListing:
    """The files of git's listing (tracked and untracked, without what .gitignore ignores) and
    the blob of each it finds unchanged."""
    # surrogateescape: a file name that is not UTF-8 keeps its bytes (os.fsencode gives them back)
    paths: dict[str, None] = {}
    blobs: dict[str, str] = {}
    changed: set[str] = set()
    for record in raw.decode("utf-8", "surrogateescape").split("\0"):
        tag, _, rest = record.partition(" ")
        if tag == "?":
            paths[rest] = None
            continue
        entry, tab, path = rest.partition("\t")
        if not tab:
            continue
        paths[path] = None
        mode, blob, stage = (entry.split(" ") + ["", "", ""])[:3]
        # H: cached and trusted; h (assume-unchanged) and S (skip-worktree) say nothing of the file
        if tag == "H" and stage == "0" and mode in ("100644", "100755"):
            blobs[path] = blob
        else:  # C (modified), R (deleted), a conflict, a link, a submodule: looked at as git does not
            changed.add(path)
    # A virtual environment that .gitignore forgot is still no source: it holds a pyvenv.cfg.
    venvs = tuple(p[: -len("pyvenv.cfg")] for p in paths if p == "pyvenv.cfg" or p.endswith("/pyvenv.cfg"))
    listed = [p for p in paths if p.endswith(".py") and not (venvs and p.startswith(venvs)) and not _SKIPPED.search(p)]
    return GitListing(listed, {p: blobs[p] for p in listed if p in blobs and p not in changed})


def _walk(root: Path, prefix: str) -> list[str]:
    base = root / prefix if prefix else root
    if not prefix.endswith("/") and prefix:  # a source root that is one file
        return [prefix]
    found = []
    for folder, dirs, names in os.walk(base):  # does not descend into symlinked folders
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and not (Path(folder, d) / "pyvenv.cfg").exists()
        )
        found += [Path(folder, n).relative_to(root).as_posix() for n in names if n.endswith(".py")]
    return found


# Caches


class ScanCache:
    """Scan results keyed by a digest of the file's bytes, its path, the ID pattern and tracer."""

    def __init__(self, folder: Path | None):
        self.store = ContentCache(folder)

    def key(self, data: bytes, path: str, pattern: str) -> str:
        return digest_of(pattern, os.fsencode(path), data) + ".json"

    def get(self, key: str) -> FileScan | None:
        text = self.store.get(key)
        try:
            return _scan_from_dict(json.loads(text)) if text is not None else None
        except (ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, scan: FileScan) -> None:
        self.store.put(key, json.dumps(asdict(scan), sort_keys=True))


_RACY_NS = 2_000_000_000  # a file changed this close to a scan may change again unseen: not indexed


class ScanIndex:
    """What the last scan found in each file, under the file's stat: a file whose stat is
    unchanged is not read again. Like git's index, an entry is not trusted for a file modified
    within two seconds of the scan that recorded it, since a second change in the same clock
    tick would leave its stat as it was."""

    def __init__(self, file: Path | None, key: str):
        self.file, self.key = file, key
        # Two tables, so that a warm run decodes one short string per file: the stat of every
        # file as it was scanned, and the scans of the few files that hold a tag or a finding.
        self.stamps: dict[str, str] = {}
        self.scans: dict[str, Any] = {}
        self.changed = False
        self.started = time.time_ns()
        if file is None:
            return
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("key") == key and isinstance(data.get("stamps"), dict) and isinstance(data.get("scans"), dict):
                self.stamps, self.scans = data["stamps"], data["scans"]
        except (OSError, ValueError, AttributeError):
            pass

    def lookup(self, path: str, stamp: str) -> tuple[bool, FileScan | None]:
        """(known, scan): a known file with scan None holds no ID."""
        if self.stamps.get(path) != stamp:
            return False, None
        scan = self.scans.get(path)
        try:
            return True, _scan_from_dict(scan) if scan is not None else None
        except (ValueError, KeyError, TypeError):
            return False, None

    def record(self, path: str, stamp: str, info: os.stat_result, scan: FileScan | None) -> None:
        """`scan` of the file as read now, under `stamp`; `info`: its stat as read (a file changed
        within the racy window is not indexed, whatever its stamp)."""
        if self.file is None:
            return
        self.scans.pop(path, None)
        if max(info.st_mtime_ns, info.st_ctime_ns) >= self.started - _RACY_NS:
            self.changed |= self.stamps.pop(path, None) is not None
            return
        self.stamps[path] = stamp
        if scan is not None:
            self.scans[path] = asdict(scan)
        self.changed = True

    def save(self, paths: set[str]) -> None:
        """Keep the entries of `paths` only, and write the index if anything changed."""
        stale = set(self.stamps) - paths
        for path in stale:
            del self.stamps[path]
        for path in set(self.scans) - set(self.stamps):
            del self.scans[path]
        if self.file is None or not (self.changed or stale):
            return
        text = json.dumps({"key": self.key, "stamps": self.stamps, "scans": self.scans}, sort_keys=True)
        ContentCache(self.file.parent).put(self.file.name, text)


class TreeScans:
    """The scans of a whole tree under the digest of git's listing of it (see `scan_project`)."""

    def __init__(self, file: Path | None, key: str):
        self.file, self.key = file, key

    def load(self) -> list[FileScan] | None:
        if self.file is None:
            return None
        try:
            data = json.loads(self.file.read_text(encoding="utf-8", errors="surrogateescape"))
            if data.get("key") == self.key:
                return [_scan_from_dict(scan) for scan in data["scans"]]
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            pass
        return None

    def save(self, scans: list[FileScan]) -> None:
        if self.file is not None:
            text = json.dumps({"key": self.key, "scans": [asdict(scan) for scan in scans]}, sort_keys=True)
            ContentCache(self.file.parent).put(self.file.name, text)


def stat_stamp(info: os.stat_result) -> str:
    return f"{info.st_size} {info.st_mtime_ns} {info.st_ctime_ns} {info.st_ino} {info.st_dev}"


def _scan_from_dict(data: dict[str, Any]) -> FileScan:
    return FileScan(
        data["path"],
        tuple(
            TaggedScope(
                s["path"],
                Scope(**s["scope"]),
                tuple(
                    Change(**{**c, "bug_ids": tuple(c["bug_ids"]), "tag_lines": tuple(c.get("tag_lines", ()))})
                    for c in s["changes"]
                ),
            )
            for s in data["scopes"]
        ),
        tuple(MalformedTag(**m) for m in data["malformed"]),
        tuple(Problem(**{**p, "severity": Severity(p["severity"])}) for p in data["problems"]),
    )


# The scan


def scan_project(config: Config, use_cache: bool = True) -> list[FileScan]:
    """Scan every Python file of the project. A file whose stat is unchanged since the last scan
    is not read; a file that cannot hold an ID is not parsed; the files that must be parsed are
    parsed in parallel when there are several."""
    regex = config.id_regex
    folder = config.cache("scan") if use_cache else None
    raw, git_failure = git_listing(config.root)
    # Where git vouches for every source, its listing names them all: the scans of this very
    # listing are the project's, read from one file without a look at any other. The source roots
    # as resolved are part of the key (a symlinked source root may point elsewhere now).
    prefixes = source_prefixes(config)  # a source root that is missing is an error either way
    tree = TreeScans(
        folder / "tree.json" if folder and raw is not None and vouched_for(raw) else None,
        digest_of("tree", config.cache_key, regex.pattern, str(regex.flags), *prefixes, raw or b""),
    )
    whole = tree.load()
    if whole is not None:
        return whole
    selection = select_files(config, (raw, git_failure), prefixes)
    cache = ScanCache(folder)
    index = ScanIndex(folder / "index.json" if folder else None, digest_of("index", regex.pattern, str(regex.flags)))
    scans: dict[str, FileScan] = {note.path: note for note in selection.notes}
    to_parse: list[tuple[str, str, os.stat_result, bytes, str]] = []
    for path, stamp, stated in selection.files:
        known, scan = index.lookup(path, stamp)
        if known:
            if scan is not None:
                scans[path] = scan
            continue
        try:
            data, info = _read_regular(config.root / path)
        except OSError as error:
            scans[path] = FileScan(
                path, problems=(Problem(path, 1, "T002", f"cannot read: {error.strerror or error}"),)
            )
            continue
        if not prefilter_for(regex).may_match(data):  # built on the first file read: a warm scan reads none
            index.record(path, stamp, stated or info, None)
            continue
        key = cache.key(data, path, f"{regex.pattern}\0{regex.flags}")  # flags: config may pass (?i) as one
        cached = cache.get(key)
        if cached is None:
            to_parse.append((path, stamp, stated or info, data, key))
        else:
            scans[path] = cached
            index.record(path, stamp, stated or info, cached)
    parsed = _parse_all([(path, data) for path, _, _, data, _ in to_parse], regex)
    for (path, stamp, info, _, key), scan in zip(to_parse, parsed):
        cache.put(key, scan)
        index.record(path, stamp, info, scan)
        scans[path] = scan
    index.save({path for path, _, _ in selection.files})
    result = [scans[path] for path in sorted(scans)]
    tree.save(result)
    return result


def _read_regular(path: Path) -> tuple[bytes, os.stat_result]:
    """A file's bytes and its stat as opened, if it is still a regular file then: O_NONBLOCK keeps
    a FIFO that replaced it since from blocking the open."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(0, "not a regular file")
        return handle.read(), info


PARALLEL_FROM = 4  # below this many files, starting worker processes costs more than it saves
_WORKER_BASE = 60 << 20  # a worker's interpreter with tracer imported
_WORKER_PER_BYTE = 150  # peak memory of a scan per byte of source: ast.parse's tree is most of it


def _parse_all(items: list[tuple[str, bytes]], regex: re.Pattern[str]) -> list[FileScan]:
    """The scans of `items`, in order: here for a few files, else in worker processes, as many
    as the cores and the memory allow, with only a few files in flight at a time."""
    workers = _worker_count([len(data) for _, data in items])
    if len(items) < PARALLEL_FROM or workers < 2:
        return [_scan_bytes(path, data, regex) for path, data in items]
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    results: dict[int, FileScan] = {}
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_start_worker, initargs=(regex.pattern, regex.flags)
    ) as pool:
        pending: dict[Future[FileScan], int] = {}
        queue = iter(enumerate(items))
        broken = False
        while not broken:
            for index, (path, data) in queue:
                pending[pool.submit(_scan_in_worker, path, data)] = index
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    results[index] = future.result()
                except BrokenProcessPool:
                    broken = True
    for index, (path, data) in enumerate(items):
        if index not in results:  # a worker died (a crash in the native parser): one file per process
            results[index] = _scan_alone(path, data, regex)
    return [results[index] for index in range(len(items))]


def _worker_count(sizes: list[int]) -> int:
    """Worker processes for files of these sizes: one per core, no more than half the memory
    available holds (each worker may hold the largest file's tree), at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    available = _available_memory()
    if available is not None and sizes:
        cores = min(cores, available // 2 // (_WORKER_BASE + _WORKER_PER_BYTE * max(sizes)))
    return max(1, min(cores, len(sizes)))


def _available_memory() -> int | None:
    """Bytes of memory free for new work (Linux's MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _scan_alone(path: str, data: bytes, regex: re.Pattern[str]) -> FileScan:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(
            max_workers=1, initializer=_start_worker, initargs=(regex.pattern, regex.flags)
        ) as pool:
            return pool.submit(_scan_in_worker, path, data).result()
    except BrokenProcessPool:
        return FileScan(path, problems=(Problem(path, 1, "T001", "cannot parse: the parser crashed on this file"),))


_worker_regex: re.Pattern[str] | None = None  # a worker's ID pattern, compiled once when it starts


def _start_worker(pattern: str, flags: int) -> None:
    global _worker_regex  # noqa: PLW0603 - a worker process's one pattern, set by its initializer
    _worker_regex = re.compile(pattern, flags)


def _scan_in_worker(path: str, data: bytes) -> FileScan:
    assert _worker_regex is not None, "started without _start_worker"
    return _scan_bytes(path, data, _worker_regex)


def _scan_bytes(path: str, data: bytes, regex: re.Pattern[str]) -> FileScan:
    return scan_file(path, data, regex)
