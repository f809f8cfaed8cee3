"""Errors as values: a problem names its file and line, so one bad file never hides the others."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from pathlib import Path


class ExitCode(IntEnum):
    """What every command returns: the shell maps each error class to one of these in one table."""

    CLEAN = 0
    FINDINGS = 1
    INPUT_ERROR = 2


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    code: str
    message: str
    severity: Severity = Severity.ERROR
    detail: str = ""  # more to show with --diff (a unified diff), never part of the one-line message
    subject: str = ""  # what the finding is about, for machine outputs: "BUG-ID/item-id" for an item

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} {self.message}"


class TracerError(Exception):
    """Bad input that stops a command: shown as `path:line: message`, exit code 2."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message, self.path, self.line = message, path, line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = shown_path(Path(self.path))
        return f"{where}:{self.line}: {self.message}" if self.line else f"{where}: {self.message}"


def shown_path(path: Path, base: Path | None = None) -> str:
    """A path as the user would type it from `base` (the current folder), where it lies below it."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to((base or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)
