"""Python source as Python reads it: decoded by its PEP 263 cookie or BOM, and split into lines
only at `\\n`, `\\r\\n` and `\\r`.

`str.splitlines()` also breaks at form feed, vertical tab, U+0085, U+2028 and friends, where
Python and libcst do not; line numbers taken from one and applied to the other then point at the
wrong lines. Every place that turns source into lines (the scanner, the shown source, the
fingerprints, the diffs) goes through here."""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceDecodeError(ValueError):
    """Bytes that are not text in the encoding the file declares; `line` is where decoding failed."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def decode_source(data: bytes) -> str:
    """The text of a Python file's bytes, as the interpreter would decode them (BOM, cookie, else UTF-8)."""
    import tokenize  # here, not at the top: a warm scan decodes nothing

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:  # an unknown encoding in the cookie, or a BOM that contradicts it
        raise SourceDecodeError(f"cannot decode: {error.msg}", error.lineno or 1) from None
    if encoding == "utf-8-sig" or data.startswith(codecs.BOM_UTF8):
        data, encoding = data.removeprefix(codecs.BOM_UTF8), "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SourceDecodeError(f"not valid {encoding}", line) from None


def read_source(path: Path) -> str:
    return decode_source(path.read_bytes())


def split_lines(text: str) -> list[str]:
    """Lines without their ends, as Python numbers them: line N is `split_lines(text)[N - 1]`."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # text that ends with a line break has no empty last line
    return lines


def split_lines_keepends(text: str) -> list[str]:
    """Lines with their ends, split where Python splits them (for difflib)."""
    return [line for line in re.split(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text) if line]
