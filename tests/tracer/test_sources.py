"""Which files tracer scans: the source roots, minus what git ignores, virtual environments and
build output; and the content cache that keeps an unchanged file from being parsed twice."""

from __future__ import annotations

import pytest

from tests.conftest import git, make_files
from tracer.config import Config
from tracer.sources import python_files, scan_project

TAG = "# BUG-20250101-001: fix\n"
TREE = {
    "pkg/a.py": "x = 1\n",
    "pkg/sub/b.py": "y = 2\n",
    "pkg/notes.txt": "not python\n",
    "build/lib/pkg/a.py": "x = 1\n",
    ".venv/pyvenv.cfg": "home = /usr\n",
    ".venv/lib/site.py": "z = 3\n",
    "env2/pyvenv.cfg": "home = /usr\n",
    "env2/lib/site.py": "z = 3\n",
    "generated/out.py": "w = 4\n",
    ".gitignore": "generated/\nenv2/\n",
}


@pytest.mark.parametrize("with_git", [True, False], ids=["git", "no-git"])
def test_python_files_skip_ignored_venv_and_build_output(tmp_path, monkeypatch, with_git):
    make_files(tmp_path, TREE)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    if with_git:
        git(tmp_path, "init", "-q")
    found = python_files(Config(root=tmp_path))
    expected = ["pkg/a.py", "pkg/sub/b.py"] + ([] if with_git else ["generated/out.py"])
    assert found == sorted(expected)


def test_source_roots_and_exclude(tmp_path):
    make_files(tmp_path, {"src/a.py": "", "src/skip/b.py": "", "tests/c.py": ""})
    assert python_files(Config(root=tmp_path, source_roots=("src",), exclude=("src/skip/",))) == ["src/a.py"]


def test_only_files_holding_the_prefix_are_parsed_and_results_are_cached(tmp_path, monkeypatch):
    make_files(tmp_path, {"a.py": "def f():\n    " + TAG + "    return 1\n", "b.py": "x = 1\n"})
    parsed: list[str] = []
    import tracer.sources

    real = tracer.sources._scan_bytes
    monkeypatch.setattr(tracer.sources, "_scan_bytes", lambda path, data, pattern: parsed.append(path) or real(path, data, pattern))
    config = Config(root=tmp_path)
    first = scan_project(config)
    assert parsed == ["a.py"]
    assert scan_project(config) == first and parsed == ["a.py"]  # the second scan reads the cache
    assert (tmp_path / ".tracer-cache" / ".gitignore").read_text().endswith("*\n")
    (tmp_path / "a.py").write_text("\n" + (tmp_path / "a.py").read_text())
    assert scan_project(config)[0].scopes[0].scope.start_line == 2 and parsed == ["a.py", "a.py"]
