"""The few git questions tracer asks, answered by the git command line."""

from __future__ import annotations

import subprocess
from pathlib import Path


class GitError(Exception):
    pass


def git(root: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except OSError as error:
        raise GitError(f"git is not available: {error.strerror}") from None
    if result.returncode:
        raise GitError(result.stderr.strip() or f"git {' '.join(args)} failed")
    return result.stdout


def resolve_revision(root: Path, revision: str) -> str:
    """The full commit id of `revision`, or GitError saying why there is none."""
    return git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()


def file_at(root: Path, revision: str, path: str) -> str | None:
    """A file's text at a revision; None where the file did not exist then."""
    try:
        return git(root, "show", f"{revision}:{path}")
    except GitError:
        return None


def head_commit(root: Path) -> str | None:
    """The commit checked out, for links that must point at exactly this code."""
    try:
        return git(root, "rev-parse", "HEAD").strip()
    except GitError:
        return None
