"""The site in a real browser: headless Chromium opens the index and a bug page from file://,
with no network, at desktop and phone width, and takes screenshots. Skipped where Chromium is
not installed (Debian: `apt-get install chromium`).

Set TRACER_SITE_SCREENSHOTS to a folder to keep the screenshots and look at them."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.tracer.conftest import BUG
from tests.tracer.test_site import built, project, record  # noqa: F401 - the fixture and its helpers

CHROMIUM = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """One headless run, in a fresh profile, with every network feature off."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(command, capture_output=True, timeout=120, check=False)


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data): a blank page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 1600)], ids=["desktop", "phone"])
def test_chromium_shows_the_index_and_a_bug_page(project, capsys, tmp_path, width, height):  # noqa: F811
    folder = built(project, capsys)
    keep = os.environ.get("TRACER_SITE_SCREENSHOTS")
    for page in ("index.html", f"bugs/{BUG.lower()}.html"):
        shot = tmp_path / f"{Path(page).stem}-{width}.png"
        url = (folder / page).resolve().as_uri()
        run = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}", url)
        assert shot.is_file(), run.stderr.decode(errors="replace")[-2000:]
        shot_width, shot_height, values = png_facts(shot)
        assert (shot_width, shot_height) == (width, height)
        assert values > 64, f"{shot} looks blank"
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)


def test_chromium_reads_the_pages_as_written(project, capsys, tmp_path):  # noqa: F811
    """The DOM Chromium builds holds what the page says: its title, every changed scope, the
    checklist, and no script."""
    folder = built(project, capsys)
    run = chromium(tmp_path, "--dump-dom", (folder / f"bugs/{BUG.lower()}.html").resolve().as_uri())
    dom = run.stdout.decode()
    assert f"<title>{BUG}: Overflow in the step function</title>" in dom, run.stderr.decode(errors="replace")[-2000:]
    assert dom.count('class="function"') == 2 and 'id="item-edge-cases"' in dom and "<script" not in dom
