"""The few git questions tracer asks, answered by the git command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tracer.sourcetext import SourceDecodeError, decode_source


class GitError(Exception):
    pass


def git_bytes(root: Path, *args: str) -> bytes:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, stdin=subprocess.DEVNULL)
    except OSError as error:
        raise GitError(f"git is not available: {error.strerror}") from None
    if result.returncode:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise GitError(message or f"git {' '.join(args)} failed")
    return result.stdout


def git(root: Path, *args: str) -> str:
    """git's output as text; file names that are not UTF-8 keep their bytes (surrogateescape)."""
    return git_bytes(root, *args).decode("utf-8", "surrogateescape")


def resolve_revision(root: Path, revision: str) -> str:
    """The full commit id of `revision`, or GitError saying why there is none."""
    return git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()


def file_at(root: Path, revision: str, path: str) -> str | None:
    """A Python file's text at a revision, decoded as Python decodes it; None where the file did
    not exist then (or cannot be decoded)."""
    try:
        return decode_source(git_bytes(root, "show", f"{revision}:{path}"))
    except (GitError, SourceDecodeError):
        return None


def head_commit(root: Path) -> str | None:
    """The commit checked out, for links that must point at exactly this code."""
    try:
        return git(root, "rev-parse", "HEAD").strip()
    except GitError:
        return None


def is_shallow(root: Path) -> bool:
    """A clone with part of its history: revisions missing there may exist elsewhere."""
    try:
        return git(root, "rev-parse", "--is-shallow-repository").strip() == "true"
    except GitError:
        return False


def is_ancestor(root: Path, commit: str, of: str = "HEAD") -> bool:
    """Whether `commit` is in the history of `of` (itself included)."""
    try:
        result = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, of], cwd=root, capture_output=True, stdin=subprocess.DEVNULL
        )
    except OSError as error:
        raise GitError(f"git is not available: {error.strerror}") from None
    if result.returncode not in (0, 1):
        raise GitError(
            result.stderr.decode("utf-8", "replace").strip() or f"git merge-base --is-ancestor {commit} {of} failed"
        )
    return result.returncode == 0
