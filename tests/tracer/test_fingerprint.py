"""Fingerprints: blind to comments, blank lines and moves, sensitive to any code change, and the
same under every Python version on this machine (the evidence of one teammate must hold for all)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.fingerprint import FINGERPRINT_SCHEME, fingerprint_source

ROOT = Path(__file__).resolve().parents[2]

# Sources whose tokens differ most between versions (3.12 splits f-strings into pieces).
SOURCES = {
    "f-strings": "def f(a, w):\n    return f\"{a!r:>{w}} and {a}\" + f'{w}'\n",
    "nested f-strings": 'def f(x, y):\n    return f"{x:{y}} {f\'{y!s}\'}" f"{{literal}}"\n',
    "walrus": "def f(xs):\n    if (n := len(xs)) > 2:\n        return n\n",
    "match": "def f(p):\n    match p:\n        case [x, *_] if x:\n            return x\n        case {'k': v}:\n            return v\n        case _:\n            return None\n",
    "decorators": "@cache\n@wraps(g)\ndef f():\n    return 1\n",
    "async": "async def f(s):\n    async with s as t:\n        async for x in t:\n            await x\n",
    "type hints": "def f(a: list[int] | None = None, *, b: 'str' = '') -> dict[str, int]:\n    c: int = 1\n    return {b: c}\n",
    "line continuations": "def f():\n    x = 1 + \\\n        2\n    return (x,\n            3)\n",
    "docstring": 'def f():\n    """Clamp the inputs (BUG-20251110-002)."""\n    return 0\n',
}

# Committed on purpose: a change of the scheme must be deliberate (and bump FINGERPRINT_SCHEME).
GOLDEN = {
    "f-strings": "b2b11d4eb0abffe9",
    "nested f-strings": "fe16f2c3045d8a07",
    "walrus": "77e02bcdccc49dbc",
    "match": "fc9474f71b83f18f",
    "decorators": "bb747a2037ed2f6d",
    "async": "d3e9e1d4fa94fe5f",
    "type hints": "c40c8250c3a54a99",
    "line continuations": "bc6e6e53bc173a00",
    "docstring": "46df6b00fba30a22",
}


def test_fingerprint_ignores_moves_indentation_comments_and_blank_lines():
    source = SOURCES["walrus"]
    moved = "".join("    " + line if line.strip() else line for line in source.splitlines(True))
    commented = source.replace("        return n\n", "        # why\n\n        return n  # the count\n")
    assert fingerprint_source(moved) == fingerprint_source(source) == fingerprint_source(commented)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_fingerprint_changes_with_any_change_of_code_or_docstring(name):
    source = SOURCES[name]
    changed = source.replace("return", "return not", 1) if "return" in source else source + "x = 1\n"
    assert fingerprint_source(changed) != fingerprint_source(source)


def test_fingerprint_changes_inside_an_f_string():
    source = SOURCES["f-strings"]
    assert fingerprint_source(source.replace("{a!r:>{w}}", "{a!s:>{w}}")) != fingerprint_source(source)


def test_the_scheme_is_pinned_by_golden_values():
    assert FINGERPRINT_SCHEME == 2
    assert {name: fingerprint_source(SOURCES[name]) for name in GOLDEN} == GOLDEN


def interpreter_environment() -> dict[str, str]:
    """pyenv's shims run a version only when PYENV_VERSION names it: name every installed one."""
    env = dict(os.environ)
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if versions.is_dir():
        env["PYENV_VERSION"] = ":".join(sorted(p.name for p in versions.iterdir()))
    return env


def interpreters(env: dict[str, str]) -> dict[str, str]:
    """python3.11 ... python3.14 found on PATH that start, by version; this one always."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
    for minor in range(11, 15):
        exe = shutil.which(f"python3.{minor}")
        if exe is None:
            continue
        done = subprocess.run(
            [exe, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, env=env
        )
        if done.returncode == 0 and done.stdout.strip() == f"(3, {minor})":
            found[f"3.{minor}"] = exe
    return found


SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tracer.fingerprint import fingerprint_source
print(json.dumps({name: fingerprint_source(text) for name, text in json.load(sys.stdin).items()}))
"""


def test_the_same_code_has_the_same_fingerprint_under_every_python_here():
    env = interpreter_environment()
    for version, exe in sorted(interpreters(env).items()):
        done = subprocess.run(
            [exe, "-c", SCRIPT, str(ROOT)],
            input=json.dumps(SOURCES),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(done.stdout) == GOLDEN, f"python {version} fingerprints differently"
