"""Which files tracer may read and write, for every file a repository holds: a pull request can
plant symlinks, FIFOs, devices and huge files where tracer expects its reports, templates,
evidence, documents and cache.

- Inside the project (`inside`, `read_bytes`, `write_target`): a path is resolved, symlinks
  followed, and must land inside the project; a link that leads out is refused, never followed.
- Reads take regular files only (a FIFO would hang, a device never end), opened without
  following a last-moment link, and no more than a limit of bytes (`TooLarge`, checked before
  anything is read).
- Writes inside the project (`write_target`) land in the resolved folder under the file's own
  name: a link planted where a file goes is replaced, never written through.
- Outputs the user names (`output_target`, for `--output-file` and `site -o`) go where the user
  points, but never through a symlink that lies inside the project.

Races with another process changing the tree while tracer runs are out of scope: the hostile
input is what a repository holds, not a concurrent attacker on the machine."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

from tracer.problems import TracerError


class UnsafePath(TracerError):
    """A path tracer refuses to read or write: it leads out of the project, or is no regular file."""


class TooLarge(UnsafePath):
    """A file over its size limit: refused before it is read."""


# The folders resolved so far in this command, while `resolving_once` is active: a check of 500
# reports resolves the same few folders tens of thousands of times, each a walk of lstat calls.
_folders: ContextVar[dict[str, str] | None] = ContextVar("tracer_resolved_folders", default=None)


@contextlib.contextmanager
def resolving_once() -> Iterator[None]:
    """For one command: each folder's symlinks are followed once, and the file's own name at every
    use (a link planted as a file is still seen). Safe because the tree is the repository's, not a
    concurrent attacker's (see above), and the command's own writes create real folders only."""
    token = _folders.set({})
    try:
        yield
    finally:
        _folders.reset(token)


def _real(path: Path | str) -> str:
    folders = _folders.get()
    if folders is None:
        return os.path.realpath(path)
    text = os.fspath(path)
    folder, name = os.path.split(text if os.path.isabs(text) else os.path.join(os.getcwd(), text))
    if name in ("", ".", ".."):
        return os.path.realpath(path)
    real_folder = folders.get(folder)
    if real_folder is None:
        real_folder = folders[folder] = os.path.realpath(folder)
    joined = os.path.join(real_folder, name)
    return os.path.realpath(joined) if os.path.islink(joined) else joined


def _real_root(root: Path) -> str:
    """The project's root resolved: once a command, like the folders (it is every check's other end)."""
    folders = _folders.get()
    if folders is None:
        return os.path.realpath(root)
    key = "\0root\0" + os.fspath(root)  # no folder's name holds a NUL
    real = folders.get(key)
    if real is None:
        real = folders[key] = os.path.realpath(root)
    return real


def _within(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def shown(root: Path, path: Path) -> str:
    """A path as the project names it, where it lies in the project by name."""
    try:
        return Path(os.path.normpath(path)).relative_to(os.path.normpath(root)).as_posix()
    except ValueError:
        return str(path)


def is_inside(root: Path, path: Path) -> bool:
    """Whether `path`, with every symlink on the way followed, lies inside `root`."""
    return _within(_real(path), _real_root(root))


def inside(root: Path, path: Path) -> Path:
    """`path` resolved, where it lies inside `root`; UnsafePath where a symlink leads it out."""
    return Path(_inside(root, path))


def _inside(root: Path, path: Path) -> str:
    real = _real(path)
    if not _within(real, _real_root(root)):
        raise UnsafePath("leads out of the project (through a symlink); not followed", shown(root, path))
    return real


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, for messages: "a FIFO", "a folder"..."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(root: Path, path: Path, limit: int, limit_key: str, what: str = "file") -> bytes:
    """The bytes of a regular file inside the project, at most `limit` of them (`limit_key` names
    the setting that raises it). Checked before reading: a FIFO is never waited on, a device never
    read, a file over the limit never loaded."""
    return _read(_inside(root, path), lambda: shown(root, path), limit, limit_key, what)


def read_named(root: Path, path: Path, limit: int, limit_key: str, what: str = "file") -> bytes:
    """A regular file the user names on the command line, anywhere, but not through a symlink
    inside the project; at most `limit` bytes."""
    return _read(output_target(root, path), lambda: str(path), limit, limit_key, what)


def _read(real: Path | str, where: Callable[[], str], limit: int, limit_key: str, what: str) -> bytes:
    """`where`: the path as messages show it, made only for one (most reads succeed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(real, flags)
    except OSError as error:
        raise UnsafePath(f"cannot read: {error.strerror or error}", where()) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f"{file_kind(info.st_mode)}, not a regular file; not read", where())
        if info.st_size > limit:
            raise TooLarge(too_large(what, info.st_size, limit, limit_key), where())
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(descriptor)
    if len(data) > limit:  # it grew while being read
        raise TooLarge(too_large(what, len(data), limit, limit_key), where())
    return data


def too_large(what: str, size: int, limit: int, limit_key: str) -> str:
    return f"{what} is {size:,} bytes; tracer reads at most {limit:,} ({limit_key} in [tool.tracer])"


def write_target(root: Path, path: Path) -> Path:
    """Where a write of `path` inside the project lands: its folder resolved (it must lie inside
    the project) and the file's own name, so that a link planted in the file's place is replaced
    by the write, never followed. A folder or a FIFO in its place is refused."""
    folder = _real(path.parent)
    if not _within(folder, _real_root(root)):
        raise UnsafePath("its folder leads out of the project (through a symlink); nothing written", shown(root, path))
    target = Path(folder) / path.name
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise UnsafePath(f"{file_kind(mode)}, not a regular file; nothing written", shown(root, path))
    return target


def output_target(root: Path, path: Path) -> Path:
    """Where an output the user names lands, resolved: anywhere the user points, but never
    through a symlink that lies inside the project (a pull request could have planted it), and
    never onto one (a link as the last part, where it lies in the project)."""
    absolute = path if path.is_absolute() else Path.cwd() / path
    root_real = _real_root(root)
    current = Path(absolute.anchor)
    parts = absolute.parts[1:]
    for index, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        if os.path.islink(candidate):
            target = _real(candidate)
            if _within(str(current), root_real) and (index == len(parts) - 1 or not _within(target, root_real)):
                raise UnsafePath(
                    f"goes through {shown(Path(root_real), candidate)}, a symlink inside the project; "
                    "give a path that does not",
                    path,
                )
            current = Path(target)
        else:
            current = candidate
    return current
