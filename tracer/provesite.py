"""Loaded by `tracer prove` into each pytest run it starts (`-p tracer.provesite`), before any
conftest or test module: makes the run import the project's code from the one tree it is meant to
test, and records where the watched modules really came from, so that prove checks it rather
than trusting it.

An editable install (setuptools' and hatchling's `.pth` paths and meta-path finders, meson-python's
finder at the front of `sys.meta_path`), a non-editable install, or a `PYTHONPATH` entry can each
map the project's packages to another tree. Here the tree's import roots go first on `sys.path`,
the other tree's roots leave it, and every meta-path finder other than Python's own answers
nothing for the project's top-level names. What a conftest does afterwards is not prevented, only
recorded: the record is the proof.

Configured by one environment variable holding JSON; imports nothing from tracer or the project."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import sys
from pathlib import Path
from typing import Any

VARIABLE = "TRACER_PROVE_SITE"
_PYTHONS_OWN = (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter, importlib.machinery.PathFinder)


class ShadowedFinder:
    """A meta-path finder that finds nothing for the project's top-level names and asks the
    finder it wraps for everything else, so other editable installs keep working."""

    def __init__(self, finder: Any, names: frozenset[str]):
        self.finder, self.names = finder, names

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname.partition(".")[0] in self.names:
            return None
        find = getattr(self.finder, "find_spec", None)
        return find(fullname, path, target) if find is not None else None

    def invalidate_caches(self) -> None:
        invalidate = getattr(self.finder, "invalidate_caches", None)
        if invalidate is not None:
            invalidate()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.finder, name)


def _same(path: str) -> str:
    return os.path.normcase(os.path.realpath(path or os.curdir))


def isolate(settings: dict[str, Any]) -> None:
    """Make the tree's roots win for the project's names (see the module docstring)."""
    names = frozenset(settings["names"])
    hidden = {_same(p) for p in settings["hide"]}
    sys.path[:] = [entry for entry in sys.path if _same(entry) not in hidden]
    for root in reversed(settings["roots"]):
        while root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
    sys.meta_path[:] = [
        finder if finder in _PYTHONS_OWN or isinstance(finder, ShadowedFinder) else ShadowedFinder(finder, names)
        for finder in sys.meta_path
    ]
    own = __name__.partition(".")[0]  # tracer itself stays: its plugin is running
    for name in [n for n in sys.modules if n.partition(".")[0] in names - {own}]:
        del sys.modules[name]  # imported before this plugin (a .pth that imports it): import it again
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()


def record(settings: dict[str, Any]) -> None:
    """Where each watched module was imported from, in a file of this process's own."""
    found = {}
    for name in settings["watch"]:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) if module is not None else None
        if isinstance(where, str):
            found[name] = where
    target = Path(settings["record"]) / f"imports-{os.getpid()}.json"
    target.write_text(json.dumps(found, indent=1, sort_keys=True), encoding="utf-8")


def _settings() -> dict[str, Any] | None:
    raw = os.environ.get(VARIABLE)
    if not raw:
        return None
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


SETTINGS = _settings()
if SETTINGS is not None:
    isolate(SETTINGS)


def pytest_sessionfinish() -> None:
    if SETTINGS is not None:
        record(SETTINGS)
