"""Shared fixtures: tests build their projects in tmp_path and never touch the user's files."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Any write to $HOME (a git config, a cache) lands in a throwaway folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.invalid")
    return home


def make_files(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under root; text is dedented."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8", newline="")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def commit_all(root: Path, message: str) -> str:
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def files(tmp_path):
    """make_files bound to tmp_path, for tests that build one project."""
    return lambda mapping: make_files(tmp_path, mapping)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.hookimpl(optionalhook=True)  # a run with -p no:tracer has no such hook
def pytest_tracer_environment(config):
    """This repository's facts for tracer's evidence: the torch version and the device the tests
    could use, so a GPU runner's results sit beside the CPU's instead of replacing them."""
    try:
        import torch
    except ImportError:
        return {}
    device = f"cuda {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "cpu"
    return {"torch": torch.__version__.split("+")[0], "device": device}
