"""What a team installs: the tool alone, under a name of its own, with one version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

from tracer.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_the_package_metadatas(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tracer, version {version('bugfix-tracer')}"


def test_the_wheel_holds_tracer_and_not_the_demo(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and egg-info beside the sources
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in ("tracer", "ocr"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("bugfix_tracer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tracer/cli.py" in names and "tracer/templates/code_changes.md.j2" in names
    assert not [name for name in names if name.startswith("ocr/")]
