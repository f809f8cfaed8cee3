"""Which test ids name a test the project has: the admission rule for evidence.

An evidence file is data anyone can write (a CI artifact, a pull request), so a result counts
only for a test id that is a relative path under the configured test roots, with no `..` and no
absolute part, whose file exists inside the project and defines the test: a `test*` function at
its top level, or a `test*` method of a class (nested classes too), read with `ast` from the
file's text and never imported. A parametrized id's `[...]` is left out of the check."""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tracer.cache import ContentCache, digest_of
from tracer.guard import UnsafePath, read_bytes

_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass
class ProjectTests:
    """The tests of a project, read from its test files on demand (each file parsed once)."""

    root: Path
    test_roots: tuple[str, ...] | None = None  # None: anywhere in the project
    limit: int = 16_000_000  # bytes of one test file read to find its tests (max_evidence_bytes)
    cache: ContentCache = field(
        default_factory=lambda: ContentCache(None)
    )  # a file's tests by its bytes: a warm check parses none
    _defined: dict[str, frozenset[tuple[str, ...]] | str] = field(default_factory=dict, repr=False)

    def problem(self, test_id: str) -> str | None:
        """Why `test_id` names no test of the project, or None where it does."""
        path, separator, rest = test_id.partition("::")
        if not separator or not rest:
            return "is not a test id (a file, '::' and a test name)"
        if path.startswith(("/", "\\")) or _DRIVE.match(path) or "\\" in path or "\0" in test_id:
            return "names a file by an absolute path"
        if any(part in ("", ".", "..") for part in path.split("/")):
            return "names a file with '..' or an empty part in its path"
        if self.test_roots is not None and not any(_under(path, root) for root in self.test_roots):
            return f"names a file outside test_roots ({', '.join(self.test_roots)})"
        defined = self._tests_of(path)
        if isinstance(defined, str):
            return defined
        names = tuple(rest.split("::"))
        names = names[:-1] + (names[-1].split("[", 1)[0],)
        if names not in defined:
            return f"names a test that {path} does not define"
        return None

    def __contains__(self, test_id: object) -> bool:
        return isinstance(test_id, str) and self.problem(test_id) is None

    def _tests_of(self, path: str) -> frozenset[tuple[str, ...]] | str:
        if path not in self._defined:
            self._defined[path] = _read_tests(self.root, path, self.limit, self.cache)
        return self._defined[path]


def _under(path: str, root: str) -> bool:
    root = root.strip("/")
    return root in ("", ".") or path.startswith(root + "/")


def _read_tests(root: Path, path: str, limit: int, cache: ContentCache) -> frozenset[tuple[str, ...]] | str:
    """The test names a file defines, as name chains (`("TestA", "test_b")`), or why it has none."""
    if not path.endswith(".py"):
        return "names a file that is not a Python test file"
    if not os.path.lexists(root / path):
        return f"names {path}, which the project does not have"
    try:
        data = read_bytes(root, root / path, limit, "max_evidence_bytes", "test file")
    except UnsafePath as error:
        return f"names {path}, which cannot be read: {error.message}"
    key = "tests-" + digest_of(data) + ".json"
    cached = cache.get(key)
    if cached is not None:
        try:
            return frozenset(tuple(chain) for chain in json.loads(cached))
        except (ValueError, TypeError):
            pass
    try:
        tree = ast.parse(data, filename=os.fsdecode(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return f"names {path}, which is not valid Python"
    tests = frozenset(_tests_in(tree.body, ()))
    cache.put(key, json.dumps(sorted(tests)))
    return tests


def _tests_in(body: Iterable[ast.stmt], prefix: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            yield (*prefix, node.name)
        elif isinstance(node, ast.ClassDef):
            yield from _tests_in(node.body, (*prefix, node.name))
