"""Files as tracer writes them: never half-written or emptied by an error, never through a
symlink out of the project (`write_inside`), names that are safe, locks that live outside the
work tree."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tracer.guard import is_inside, write_target
from tracer.problems import TracerError


def atomic_write(path: Path, text: str, overwrite: bool = True) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`. Without `overwrite`,
    an existing `path` raises FileExistsError and is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(temporary, _mode_for(path))
        # surrogateescape: a file name that is not UTF-8 is written as the bytes it is
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
        if overwrite:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the file exists, atomically
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_inside(root: Path, path: Path, text: str, overwrite: bool = True) -> Path:
    """`atomic_write` of a file inside the project: refused (UnsafePath) where its folder leads out
    of the project; a symlink in the file's place is replaced, never written through. Returns
    where it wrote."""
    target = write_target(root, path)
    atomic_write(target, text, overwrite)
    return target


def _mode_for(path: Path) -> int:
    """The existing file's permissions, else what a plain open() would give (mkstemp's are 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def writable_target(path: Path) -> Path:
    """`path` where it is a regular file or not there yet; a device, FIFO or folder is refused, so
    that an atomic write never replaces one with a regular file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path.resolve()
    if not stat.S_ISREG(mode):
        raise TracerError("not a regular file; give a file path or '-' for stdout", path)
    return path.resolve()


class UnsafeFile(Exception):
    """A file tracer will not read: a link where none may be, a FIFO, a device, a folder, too big."""


def read_regular(path: Path, limit: int, follow: bool = False) -> bytes:
    """A regular file's bytes, at most `limit` of them. A symbolic link (unless `follow`), a FIFO
    or a device is refused without blocking on it; FileNotFoundError where there is nothing."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow:
        if path.is_symlink():
            raise UnsafeFile(f"{path.name} is a symbolic link: tracer reads only the file itself")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise UnsafeFile(f"{path.name} cannot be read: {error.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{path.name} is larger than {limit} bytes")
    return data


def safe_name(text: str) -> str:
    """Text as one file name: no separators, no leading dots, nothing a shell would trip on."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip(".").strip("_-") or "_"


def ignore_folder(folder: Path) -> None:
    """Make `folder` and a `.gitignore` in it that ignores the whole folder, as `.pytest_cache`
    does: what tracer keeps there never shows in `git status`."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ".gitignore").exists():
        atomic_write(folder / ".gitignore", "# created by tracer\n*\n")


@contextlib.contextmanager
def project_lock(cache_folder: Path, root: Path, what: str) -> Iterator[None]:
    """An exclusive lock across processes, kept in the cache folder's `locks/` (or the system's
    temporary folder where that cannot be written, or where the cache folder leads out of the
    project): never a file in the work tree, never one outside the project but there."""
    from filelock import FileLock

    name = f"{safe_name(what)}.lock"
    try:
        if not is_inside(root, cache_folder):
            raise PermissionError("the cache folder leads out of the project")
        ignore_folder(cache_folder)
        (cache_folder / "locks").mkdir(exist_ok=True)
        lock = FileLock(cache_folder / "locks" / name)
        lock.acquire()
    except OSError:
        root_digest = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:12]
        lock = FileLock(Path(tempfile.gettempdir()) / f"tracer-{root_digest}-{name}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
