"""Errors as values: a problem names its file and line, so one bad file never hides the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Exit codes of every command, in one place.
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INPUT_ERROR = 2


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    code: str
    message: str
    severity: str = "error"  # or "warning"

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
        return f"{_relative(Path(self.path))}:{self.line or 1}: {self.message}"


def _relative(path: Path) -> str:
    """A path as the user would type it from the current folder, where it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() if path.is_absolute() else path.as_posix()
    except (ValueError, OSError):
        return str(path)
