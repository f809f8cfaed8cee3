"""Writing files so that an error never leaves a half-written or emptied one behind."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

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
