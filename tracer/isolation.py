"""Which tree a pytest run of `tracer prove` imports the project's code from.

A project's import roots are read from its layout as packaging tools declare it (setuptools'
`packages.find.where` and `package-dir`, hatch's `packages` and `sources`, poetry's `from`, pdm's
`package-dir`, setup.cfg), from tracer's `source_roots`, and from the tagged files themselves (the
first folder above each that is not a regular package). `tracer.provesite` puts them first in
the run and records where the tagged modules came from; `foreign_imports` reads that record, so
that a run which imported a tagged module from anywhere else is refused, never given a verdict.
Every value read here is data: malformed or outside the tree, it is ignored."""

from __future__ import annotations

import configparser
import json
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

SITE_PLUGIN = "tracer.provesite"
SITE_VARIABLE = "TRACER_PROVE_SITE"  # tracer.provesite.VARIABLE: that module imports nothing of tracer's


@dataclass(frozen=True)
class Isolation:
    """How one run is kept to one tree: the tree, its import roots (relative, in order), the
    folders of other trees that leave `sys.path`, and each module name a tagged file may be
    imported under, with the files (relative to the tree) that name may come from."""

    tree: Path
    roots: tuple[str, ...]
    hide: tuple[Path, ...]
    watch: Mapping[str, tuple[str, ...]]

    @property
    def names(self) -> list[str]:
        """The top-level names whose meta-path finders are shadowed."""
        return sorted({name.partition(".")[0] for name in self.watch})

    def settings(self, record: Path) -> str:
        """The JSON tracer.provesite reads."""
        return json.dumps(
            {
                "roots": [os.fspath(self.tree / root) for root in self.roots],
                "hide": [os.fspath(folder) for folder in self.hide],
                "names": self.names,
                "watch": sorted(self.watch),
                "record": os.fspath(record),
            }
        )


def isolation(
    tree: Path, tagged_paths: Iterable[str], source_roots: Iterable[str], others: Iterable[Path] = ()
) -> Isolation:
    """The isolation of a run in `tree`, for the tagged files (relative to the project): the
    import roots of the `others` trees leave `sys.path`. Module names come from every tree: a
    file the fix added, or a folder the fix made a regular package, is watched under every name
    it has on either side."""
    paths = sorted({p for p in tagged_paths if p.endswith(".py")})
    source_roots = tuple(source_roots)
    others = tuple(others)
    watch: dict[str, set[str]] = {}
    for folder in (tree, *others):
        for path in paths:
            for name in module_names(folder, path):
                watch.setdefault(name, set()).add(path)
    hide = tuple(other / root for other in others for root in import_roots(other, source_roots, paths))
    return Isolation(
        tree,
        import_roots(tree, source_roots, paths),
        hide,
        {name: tuple(sorted(files)) for name, files in sorted(watch.items())},
    )


def module_names(tree: Path, path: str) -> list[str]:
    """Every dotted name the file `path` (relative to `tree`) can be imported under: one per
    folder above it that is not a regular package (it could be on `sys.path`), longest first.
    Names of the standard library are left out: a project cannot shadow them."""
    parts = PurePosixPath(path).parts
    if not parts or not parts[-1].endswith(".py"):
        return []
    stem = parts[-1][: -len(".py")]
    dotted = [*parts[:-1], *([] if stem == "__init__" else [stem])]
    names = []
    for start in range(len(parts)):
        name = dotted[start:]
        folder = tree.joinpath(*parts[:start])
        if not name or (start and (folder / "__init__.py").is_file()):
            continue
        if all(part.isidentifier() for part in name) and name[0] not in sys.stdlib_module_names:
            names.append(".".join(name))
    return names


def import_roots(tree: Path, source_roots: Iterable[str], tagged_paths: Iterable[str]) -> tuple[str, ...]:
    """The folders of `tree` (relative, "." for the tree) to put first on `sys.path`: those the
    packaging metadata declares, then those tracer's source roots and the tagged files lie in,
    then `src` and the tree itself."""
    found = [*declared_roots(tree), *(_package_root(tree, root) for root in source_roots)]
    found += [_package_root(tree, PurePosixPath(path).parent.as_posix()) for path in tagged_paths]
    found += ["src", "."]
    roots: dict[str, None] = {}
    for root in found:
        normal = _inside(tree, root)
        if normal is not None and (tree / normal).is_dir():
            roots.setdefault(normal)
    return tuple(roots)


def _package_root(tree: Path, folder: str) -> str:
    """The first folder at or above `folder` that is not a regular package."""
    path = PurePosixPath(folder)
    while path.parts and (tree / path / "__init__.py").is_file():
        path = path.parent
    return path.as_posix() or "."


def _inside(tree: Path, relative: object) -> str | None:
    """`relative` as a normal relative path inside `tree`, or None (absolute, `..`, not text)."""
    if not isinstance(relative, str) or "\0" in relative:
        return None
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return None
    return path.as_posix() or "."


def declared_roots(tree: Path) -> list[str]:
    """The import roots packaging metadata declares, read as data (never run)."""
    roots: list[str] = []
    data = _toml(tree / "pyproject.toml")
    tool = _table(data, "tool")
    setuptools = _table(tool, "setuptools")
    packages = setuptools.get("packages")
    if isinstance(packages, dict):
        where = _table(packages, "find").get("where", [])
        roots += _strings(where)
    roots += _package_dir_roots(setuptools.get("package-dir"))
    hatch = _table(_table(tool, "hatch"), "build")
    for table in (hatch, _table(_table(hatch, "targets"), "wheel")):
        roots += [str(PurePosixPath(p).parent) for p in _strings(table.get("packages"))]
        sources = table.get("sources")
        if isinstance(sources, dict):
            roots += _package_dir_roots({v: k for k, v in sources.items() if isinstance(k, str) and isinstance(v, str)})
        else:
            roots += _strings(sources)
    poetry = _table(tool, "poetry").get("packages")
    if isinstance(poetry, list):
        roots += [entry["from"] for entry in poetry if isinstance(entry, dict) and isinstance(entry.get("from"), str)]
    pdm = _table(_table(tool, "pdm"), "build").get("package-dir")
    roots += _strings(pdm)
    roots += _setup_cfg_roots(tree / "setup.cfg")
    return roots


def _package_dir_roots(mapping: object) -> list[str]:
    """setuptools' `package-dir`: `"" = "src"` makes src a root; `pkg = "lib/pkg"` makes lib one."""
    if not isinstance(mapping, dict):
        return []
    roots = []
    for package, folder in mapping.items():
        if not isinstance(package, str) or not isinstance(folder, str):
            continue
        if not package:
            roots.append(folder)
            continue
        tail = package.split(".")
        parts = PurePosixPath(folder).parts
        if list(parts[-len(tail) :]) == tail:
            roots.append(PurePosixPath(*parts[: -len(tail)]).as_posix() if len(parts) > len(tail) else ".")
    return roots


def _setup_cfg_roots(path: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeError, configparser.Error):
        return []
    roots = []
    if parser.has_option("options.packages.find", "where"):
        roots.append(parser.get("options.packages.find", "where").strip())
    if parser.has_option("options", "package_dir"):
        mapping = {}
        for line in parser.get("options", "package_dir").splitlines():
            package, equals, folder = line.partition("=")
            if equals:
                mapping[package.strip()] = folder.strip()
        roots += _package_dir_roots(mapping)
    return roots


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeError, tomllib.TOMLDecodeError):
        return {}


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# The record of a run


def read_imports(folder: Path) -> dict[str, set[str]] | None:
    """Module name -> the files it was imported from, over the run's processes (pytest-xdist's
    workers each write their own record); None where no process wrote one."""
    records = sorted(folder.glob("imports-*.json")) if folder.is_dir() else []
    if not records:
        return None
    found: dict[str, set[str]] = {}
    for record in records:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            for name, where in data.items():
                if isinstance(name, str) and isinstance(where, str):
                    found.setdefault(name, set()).add(where)
    return found


def foreign_imports(run: Isolation, imports: Mapping[str, set[str]], cwd: Path) -> list[tuple[str, str]]:
    """(module, file) for each watched module a run imported from a file other than the one
    its tree holds."""
    foreign = []
    for name, paths in run.watch.items():
        expected = {os.path.realpath(run.tree / path) for path in paths}
        for where in sorted(imports.get(name, ())):
            if os.path.realpath(cwd / where) not in expected:
                foreign.append((name, where))
    return foreign
