"""Project configuration: `[tool.tracer]` in the nearest `pyproject.toml`, found by walking up."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from tracer.gitio import GitError, git
from tracer.problems import TracerError
from tracer.tags import compile_id_pattern

DEFAULT_ID_PATTERN = r"BUG-\d{8}-\d{3}"

# Limits on what a repository can make tracer read or compute: each a finding naming the file,
# never minutes of work or gigabytes. Each can be raised in [tool.tracer].
LIMITS: dict[str, tuple[int, str]] = {
    "max_report_bytes": (1_000_000, "the size of a bug report (and of a template)"),
    "max_evidence_bytes": (16_000_000, "the size of an evidence file"),
    "max_output_chars": (10_000_000, "what one template may produce, and any one value it makes"),
    "max_template_steps": (5_000_000, "calls, attribute lookups and loop turns of one template run"),
    "max_template_seconds": (60, "the time one template run may take (a safety net behind the steps)"),
}


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
    source_url: str = ""  # e.g. https://example.org/repo/blob/{commit}/{path}#L{start}-L{end}
    issue_url: str = ""  # e.g. https://example.org/issues/{id}
    allowed_signers: str = (
        ""  # an ssh allowed_signers file: `tracer check` then verifies every evidence file's signature
    )
    # [tool.tracer.verifies]: test name or pattern -> "BUG-ID:item" links, for tests run by other
    # runners (tracer evidence import-junit); sorted by name
    verifies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    max_report_bytes: int = LIMITS["max_report_bytes"][0]
    max_evidence_bytes: int = LIMITS["max_evidence_bytes"][0]
    max_output_chars: int = LIMITS["max_output_chars"][0]
    max_template_steps: int = LIMITS["max_template_steps"][0]
    max_template_seconds: int = LIMITS["max_template_seconds"][0]
    explicit: frozenset[str] = frozenset()  # the keys the project set itself
    repo_prefix: str = ""  # the project's folder inside its git repository ("" at the top), for outputs
    anchored: bool = True  # a pyproject.toml or a git repository names the root, not just the current folder

    @cached_property
    def id_regex(self) -> re.Pattern[str]:
        return compile_id_pattern(self.id_pattern)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def cache(self, name: str) -> Path | None:
        """The cache folder `name` inside the cache folder, or None where the cache cannot be
        trusted: a cache folder that git tracks files in, or that is a symlink, came with the
        repository (a pull request, say) and could hold results forged for its files."""
        return self.path(self.cache_dir) / name if self.cache_trusted else None

    @cached_property
    def cache_trusted(self) -> bool:
        folder = self.path(self.cache_dir)
        if folder.is_symlink() or not _inside(self.root, self.cache_dir):
            return False
        try:
            return not git(self.root, "ls-files", "-z", "--", self.cache_dir).strip("\0")
        except (GitError, OSError):
            return True  # not a repository: nothing came with it

    @property
    def cache_key(self) -> str:
        """The configuration as a cache key: the same text in every process (`repr` is not, for the
        frozenset, whose order follows the randomised string hashing)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return repr({name: sorted(value) if isinstance(value, frozenset) else value for name, value in values.items()})

    def in_repo(self, relative: str) -> str:
        """A project path as the repository names it (CI annotations and SARIF want that)."""
        return self.repo_prefix + relative


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
    "source_url": str,
    "issue_url": str,
    "allowed_signers": str,
    "verifies": dict,
    **{key: int for key in LIMITS},
}
_FOLDER_KEYS = ("reports_dir", "templates_dir", "evidence_dir", "cache_dir")


def find_project_root(start: Path) -> tuple[Path, Path | None]:
    """The folder of the nearest pyproject.toml, else the git root, else `start`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder, folder / "pyproject.toml"
    top = _git_top(start)
    return (top or start), None


def _git_top(folder: Path) -> Path | None:
    try:
        return Path(git(folder, "rev-parse", "--show-toplevel").strip()).resolve()
    except (GitError, OSError):
        return None


def _repo_prefix(root: Path) -> str:
    top = _git_top(root)
    if top is None or top == root:
        return ""
    try:
        return root.relative_to(top).as_posix() + "/"
    except ValueError:
        return ""


def load_config(start: Path | None = None) -> Config:
    root, pyproject = find_project_root(start or Path.cwd())
    prefix = _repo_prefix(root)
    if pyproject is None:
        return Config(root=root, repo_prefix=prefix, anchored=_git_top(root) is not None)
    try:
        text = pyproject.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise TracerError("pyproject.toml is not valid UTF-8", pyproject, 1) from None
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        raise TracerError(f"invalid TOML: {error}", pyproject, int(found.group(1)) if found else 1) from None
    tool = data.get("tool", {})
    table = tool.get("tracer") if isinstance(tool, dict) else None
    if table is None:
        return Config(root=root, repo_prefix=prefix)
    if not isinstance(table, dict):
        raise TracerError("[tool.tracer] must be a table", pyproject, _line_of(text, "tracer"))
    values: dict[str, Any] = {}
    for key, value in table.items():
        line = _line_of(text, key)
        expected = _KEYS.get(key)
        if expected is None:
            raise TracerError(
                f"[tool.tracer]: unknown key {key!r} (known: {', '.join(sorted(_KEYS))})", pyproject, line
            )
        if expected is list:
            valid = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        elif expected is dict:
            valid = isinstance(value, dict) and all(
                isinstance(links, str) or (isinstance(links, list) and all(isinstance(link, str) for link in links))
                for links in value.values()
            )
        elif expected is int:
            valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
        else:
            valid = isinstance(value, str)
        if not valid:
            kinds: dict[type, str] = {
                list: "a list of strings",
                dict: "a table of test names to lists of BUG-ID:item",
                str: "a string",
                int: "a whole number above 0",
            }
            kind = kinds[expected]
            got = repr(value)[:100] if expected is int else type(value).__name__
            raise TracerError(f"[tool.tracer]: {key} must be {kind}, got {got}", pyproject, line)
        if expected is int:
            values[key] = value
            continue
        for folder in value if isinstance(value, list) else [value]:
            if key in (*_FOLDER_KEYS, "source_roots", "test_roots", "exclude") and not _inside(root, folder):
                raise TracerError(
                    f"[tool.tracer]: {key} must name a folder inside the project, got {folder!r}", pyproject, line
                )
            if key == "allowed_signers" and not (folder and _inside(root, folder)):
                raise TracerError(
                    f"[tool.tracer]: {key} must name a file inside the project, got {folder!r}", pyproject, line
                )
        if isinstance(value, dict):
            values[key] = tuple(
                sorted((name, (links,) if isinstance(links, str) else tuple(links)) for name, links in value.items())
            )
            continue
        values[key] = tuple(value) if isinstance(value, list) else value
    compile_id_pattern(
        str(values.get("id_pattern", DEFAULT_ID_PATTERN)),
        "[tool.tracer]: id_pattern",
        pyproject,
        _line_of(text, "id_pattern"),
    )
    for key in ("source_url", "issue_url"):
        _check_url_template(values.get(key, ""), key, pyproject, _line_of(text, key))
    if "output_suffix" in values:
        _check_output_suffix(values["output_suffix"], pyproject, _line_of(text, "output_suffix"))
    for key in ("source_roots", "reports_dir"):
        named = values.get(key, ())
        for folder in [named] if isinstance(named, str) else named:
            if not (root / folder).is_dir():
                raise TracerError(
                    f"[tool.tracer]: {key}: {folder!r} is not a folder of the project", pyproject, _line_of(text, key)
                )
    return Config(root=root, explicit=frozenset(values), repo_prefix=prefix, **values)


_URL_FIELDS = {"source_url": {"commit", "path", "start", "end"}, "issue_url": {"id"}}


def _check_url_template(template: str, key: str, pyproject: Path, line: int) -> None:
    """A URL template names only the fields tracer fills in, so a typo fails here, not mid-render."""
    import string

    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise TracerError(f"[tool.tracer]: {key} is not a valid template: {error}", pyproject, line) from None
    if template and not re.match(r"https?://[^{}]", template, re.IGNORECASE):
        raise TracerError(
            f"[tool.tracer]: {key} must be an http:// or https:// address, got {template!r}"[:300], pyproject, line
        )
    unknown = names - _URL_FIELDS[key]
    if unknown:
        raise TracerError(
            f"[tool.tracer]: {key} names {{{sorted(unknown)[0]}}}; it may use "
            f"{', '.join('{' + n + '}' for n in sorted(_URL_FIELDS[key]))}",
            pyproject,
            line,
        )


def _check_output_suffix(suffix: str, pyproject: Path, line: int) -> None:
    """A document's name is its report's name with this suffix: one file name's end, with
    something before its extension, so that no report is taken for a document (".md" would hide
    every report) and no document lands in another folder ("/x.md")."""
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.[A-Za-z0-9]+", suffix):
        raise TracerError(
            f"[tool.tracer]: output_suffix must be the end of a file name with an extension, such as "
            f"'-code-changes.md' (letters, digits, '.', '_', '-', not starting with '.'), got {suffix!r}"[:300],
            pyproject,
            line,
        )


def _inside(root: Path, relative: str) -> bool:
    """A configured folder lies in the project, even through symlinks: nothing outside is read."""
    if Path(relative).is_absolute():
        return False
    try:
        (root / relative).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _line_of(text: str, key: str) -> int:
    """The line of the [tool.tracer] table's header (the message names the key)."""
    return next((n for n, line in enumerate(text.splitlines(), start=1) if line.strip() == "[tool.tracer]"), 1)
