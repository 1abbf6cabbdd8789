"""A hash-list file's lines: decoded, numbered, and over-long ones rejected unread.

Line numbers count physical lines from 1, blank lines included (they are
skipped, not rejected); a UTF-8 byte-order mark and CRLF line ends are accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 64 * 1024
"""A longer line is rejected unread: no hash-list line comes near it, and an
upload with no line breaks must not be read into memory whole."""


class Rejection(NamedTuple):
    """A line that holds nothing Hashwall can take, and why."""

    line: int
    reason: str


class Line(NamedTuple):
    number: int
    text: str


class LineReader:
    """Decoded, non-blank lines of a file without their line ends.

    An over-long line is a rejection, and bytes that are not UTF-8 are replaced
    (so the format rejects that line, not the file). ``position`` is the bytes
    read so far, for a progress bar; ``lines`` the physical lines read.
    """

    BLOCK = 1 << 20

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.position = 0
        self.lines = 0

    def __iter__(self) -> Iterator[Line | Rejection]:
        # Whole blocks split in C: faster than readline per line.
        too_long = f"line longer than {MAX_LINE_BYTES} bytes"
        number = 0
        pending = b""
        overlong = False  # the line being read has passed the limit: drop it
        read = 0
        while block := self._stream.read(self.BLOCK):
            read += len(block)
            parts = block.split(b"\n")
            parts[0] = pending + parts[0]
            pending = parts.pop()
            if number == 0 and parts and parts[0].startswith(BOM):
                parts[0] = parts[0][len(BOM) :]
            for raw in parts:
                number += 1
                if overlong or len(raw) > MAX_LINE_BYTES:
                    overlong = False
                    yield Rejection(number, too_long)
                    continue
                text = raw.decode("utf-8", errors="replace")
                if text.endswith("\r"):
                    text = text[:-1]
                if text and not text.isspace():
                    yield Line(number, text)
            if len(pending) > MAX_LINE_BYTES:
                overlong, pending = True, b""
            self.lines = number
            self.position = read - len(pending)
        if pending or overlong:
            number += 1
            if number == 1 and pending.startswith(BOM):
                pending = pending[len(BOM) :]
            text = pending.decode("utf-8", errors="replace").rstrip("\r")
            if overlong:
                yield Rejection(number, too_long)
            elif text and not text.isspace():
                yield Line(number, text)
        self.lines = number
        self.position = read
