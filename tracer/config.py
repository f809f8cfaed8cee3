"""Project configuration: `[tool.tracer]` in the nearest `pyproject.toml`, found by walking up."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracer.problems import TracerError

DEFAULT_ID_PATTERN = r"BUG-\d{8}-\d{3}"


@dataclass(frozen=True)
class Config:
    root: Path
    source_roots: tuple[str, ...] = (".",)
    reports_dir: str = "docs/bug_reports"
    id_pattern: str = DEFAULT_ID_PATTERN
    templates_dir: str = "templates"
    output_suffix: str = "-code-changes.md"
    evidence_dir: str = "docs/bug_reports/evidence"
    exclude: tuple[str, ...] = field(default_factory=tuple)
    test_roots: tuple[str, ...] = ("tests",)
    cache_dir: str = ".tracer-cache"

    @property
    def id_regex(self) -> re.Pattern[str]:
        return re.compile(self.id_pattern)

    def path(self, relative: str) -> Path:
        return self.root / relative


_KEYS: dict[str, type] = {
    "source_roots": list,
    "reports_dir": str,
    "id_pattern": str,
    "templates_dir": str,
    "output_suffix": str,
    "evidence_dir": str,
    "exclude": list,
    "test_roots": list,
    "cache_dir": str,
}


def find_project_root(start: Path) -> tuple[Path, Path | None]:
    """The folder of the nearest pyproject.toml, else the git root, else `start`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder, folder / "pyproject.toml"
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=start, capture_output=True, text=True, check=True
        ).stdout.strip()
        return Path(top), None
    except (OSError, subprocess.CalledProcessError):
        return start, None


def load_config(start: Path | None = None) -> Config:
    root, pyproject = find_project_root(start or Path.cwd())
    if pyproject is None:
        return Config(root=root)
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise TracerError(f"invalid TOML: {error}", pyproject, int(found.group(1)) if found else 1) from None
    table = data.get("tool", {}).get("tracer")
    if table is None:
        return Config(root=root)
    line = _line_of(pyproject, "[tool.tracer]")
    values: dict[str, object] = {}
    table_items: dict[str, Any] = table
    for key, value in table_items.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise TracerError(f"[tool.tracer]: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})", pyproject, line)
        if expected is list:
            valid = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            valid = isinstance(value, str)
        if not valid:
            kind = "a list of strings" if expected is list else "a string"
            raise TracerError(f"[tool.tracer]: {key} must be {kind}, got {type(value).__name__}", pyproject, line)
        values[key] = tuple(value) if isinstance(value, list) else value
    try:
        re.compile(str(values.get("id_pattern", DEFAULT_ID_PATTERN)))
    except re.error as error:
        raise TracerError(f"[tool.tracer]: id_pattern is not a valid regular expression: {error}", pyproject, line) from None
    return Config(root=root, **values)  # type: ignore[arg-type]


def _line_of(path: Path, needle: str) -> int:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.strip() == needle:
            return number
    return 1
