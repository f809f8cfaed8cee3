"""A content-keyed cache on disk: results computed from some bytes are kept under a digest of
those bytes, so an unchanged input is never worked on twice. The folder ignores itself in git."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from tracer.fileio import atomic_write, ignore_folder


@lru_cache(maxsize=1)
def tracer_digest() -> bytes:
    """A digest of tracer's own code and templates: a changed tracer never reads stale results."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted([*package.glob("*.py"), *package.glob("templates/*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def digest_of(*parts: bytes | str) -> str:
    digest = hashlib.sha256(tracer_digest())
    for part in parts:
        data = (
            part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        )  # file names need not be UTF-8
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


class ContentCache:
    """Text values under content digests, in `folder` (None: a cache that keeps nothing; see
    `Config.cache`, which gives None where the cache cannot be trusted)."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def get(self, key: str) -> str | None:
        if self.folder is None:
            return None
        try:
            return (self.folder / key).read_text(encoding="utf-8", errors="surrogateescape")
        except (OSError, UnicodeDecodeError):
            return None

    def put(self, key: str, text: str) -> None:
        if self.folder is None:
            return
        try:
            ignore_folder(self.folder.parent)  # like .pytest_cache: the cache ignores itself
            atomic_write(self.folder / key, text)
        except (OSError, UnicodeError):
            pass  # a read-only checkout still works, only slower; text no file can hold is not kept
