"""The temporary places `tracer prove` runs tests in, and the processes it starts there.

One folder per run, `tracer-prove-<pid>-*` in the system's temporary folder, holds everything
(the pre-fix worktree, copies of the current code, reports), and a lock its owner holds while it
lives. The folder is removed when the run ends, on errors and on SIGINT, SIGTERM and SIGHUP too;
a run killed with SIGKILL cannot clean up, so every run first removes what runs whose owner is
gone left behind: their worktrees (unregistered from git too), folders and test processes."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from tracer.gitio import GitError, git, git_bytes
from tracer.problems import TracerError

PREFIX = "tracer-prove-"
OWNER_LOCK = "owner.lock"
CHILDREN = "children"  # one empty file per test process started, named by its pid


@dataclass(frozen=True)
class Finished:
    """A process that ended, or was stopped at its time limit."""

    exit_code: int
    output: str
    timed_out: bool = False


@dataclass
class Processes:
    """The test processes of one run: each in a session of its own, so that a time limit or the
    end of the run stops a test's own children too."""

    folder: Path
    running: set[subprocess.Popen[str]] = field(default_factory=set)
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, command: list[str], cwd: Path, env: Mapping[str, str], timeout: float | None) -> Finished:
        with self.lock:
            if self.stopped:
                return Finished(-signal.SIGTERM, "stopped", False)
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
            )
            self.running.add(process)
            (self.folder / CHILDREN).mkdir(exist_ok=True)
            (self.folder / CHILDREN / str(process.pid)).touch()
        try:
            output, _ = process.communicate(timeout=timeout)
            return Finished(process.returncode, output)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            output, _ = process.communicate()
            return Finished(process.returncode, output, True)
        finally:
            with self.lock:
                self.running.discard(process)

    def stop(self) -> None:
        """Stop every running test process and start no more."""
        with self.lock:
            self.stopped = True
            running = list(self.running)
        for process in running:
            _kill_group(process.pid)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        if hasattr(os, "killpg"):
            os.killpg(pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups
            os.kill(pid, signal.SIGTERM)


@dataclass
class Workspace:
    """One run's temporary folder, and the git repository it takes worktrees from."""

    folder: Path
    repository: Path
    processes: Processes
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def place(self, name: str) -> Path:
        """A new empty folder in the workspace (threads may ask at once)."""
        path = self.folder / f"{next(self._numbers):03d}-{name}"
        path.mkdir()
        return path

    def checkout(self, commit: str, project_prefix: str) -> Path:
        """A worktree of `commit`; returns the project's folder in it."""
        worktree = self.folder / "pre-fix"
        try:
            git(self.repository, "worktree", "add", "--detach", "--quiet", os.fspath(worktree), commit)
        except GitError as error:
            raise TracerError(f"cannot check out {commit[:12]}: {error}") from None
        return worktree / project_prefix


@contextlib.contextmanager
def workspace(repository: Path) -> Iterator[Workspace]:
    """A fresh workspace, after removing what killed runs left behind; always removed."""
    from filelock import FileLock

    remove_leftovers(repository)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    owner = FileLock(folder / OWNER_LOCK)
    owner.acquire()
    processes = Processes(folder)
    with _cleanup_on_signals():
        try:
            yield Workspace(folder, repository, processes)
        finally:
            processes.stop()
            _remove(repository, folder)
            owner.release()


def _remove(repository: Path, folder: Path) -> None:
    """A workspace's worktrees (unregistered from git), processes and files."""
    for worktree in registered_worktrees(repository):
        if _is_within(worktree, folder):
            with contextlib.suppress(GitError):
                git(repository, "worktree", "remove", "--force", os.fspath(worktree))
    _stop_children(folder)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(GitError):
        git(repository, "worktree", "prune")


def registered_worktrees(repository: Path) -> list[Path]:
    try:
        listing = git_bytes(repository, "worktree", "list", "--porcelain", "-z")
    except GitError:
        return []
    return [
        Path(os.fsdecode(entry[len(b"worktree ") :]))
        for entry in listing.split(b"\0")
        if entry.startswith(b"worktree ")
    ]


def remove_leftovers(repository: Path) -> list[Path]:
    """Remove the workspaces of runs whose owner is gone (killed with SIGKILL, or a machine that
    went down): their worktrees, test processes and folders. Returns the folders removed."""
    base = Path(tempfile.gettempdir())
    candidates = {_workspace_of(path, base) for path in registered_worktrees(repository)}
    with contextlib.suppress(OSError):
        candidates |= set(base.glob(PREFIX + "*"))
    removed = []
    for folder in sorted(c for c in candidates if c is not None):
        if _abandoned(folder):
            _remove(repository, folder)
            removed.append(folder)
    with contextlib.suppress(GitError):
        git(repository, "worktree", "prune")
    return removed


def _workspace_of(path: Path, base: Path) -> Path | None:
    for folder in (path, *path.parents):
        if folder.parent == base and folder.name.startswith(PREFIX):
            return folder
    return None


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def _abandoned(folder: Path) -> bool:
    """A workspace folder of ours whose owner is gone: its lock is free, or (a folder caught
    before its lock was made) the process that made it is gone. Another user's, a link, a busy
    one: never."""
    from filelock import FileLock, Timeout

    try:
        info = folder.lstat()
    except OSError:
        return False
    if not folder.is_dir() or folder.is_symlink() or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        return False
    lock_path = folder / OWNER_LOCK
    if not lock_path.is_file():
        pid = folder.name[len(PREFIX) :].partition("-")[0]
        return pid.isdigit() and not _alive(int(pid))
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return False
    lock.release()
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _stop_children(folder: Path) -> None:
    """Stop the test processes a killed run left running, where the system tells which they are:
    a process counts only while its working folder lies in the workspace (so a pid used again
    by another program is left alone)."""
    children = folder / CHILDREN
    if not children.is_dir() or not Path("/proc").is_dir():
        return
    for entry in children.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{entry.name}/cwd"))
        except OSError:
            continue
        if _is_within(cwd, folder):
            _kill_group(int(entry.name))


def project_files(root: Path) -> list[str]:
    """The project's files as git sees the work tree: tracked and untracked, not ignored."""
    try:
        listing = git_bytes(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except GitError as error:
        raise TracerError(f"cannot list the project's files: {error}") from None
    return sorted({os.fsdecode(name) for name in listing.split(b"\0") if name})


def copy_files(root: Path, files: Iterable[str], target: Path) -> None:
    """Copy the project's files (links as links) into `target`; files gone since listing are skipped."""
    for relative in files:
        source, destination = root / relative, target / relative
        if not source.is_symlink() and not source.is_file():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            shutil.copy2(source, destination, follow_symlinks=False)


@contextlib.contextmanager
def _cleanup_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run the way Ctrl-C does, so that `finally` removes the workspace."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                previous[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
