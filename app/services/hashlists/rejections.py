"""Where an import's rejected lines go: a CSV report, or the first few kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TextIO

from app.csvfile import CsvWriter
from app.services.hashlists.lines import Rejection


class RejectionReport:
    """Rejected lines as CSV (``line,reason``), the file made at the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: TextIO | None = None
        self._writer: CsvWriter | None = None

    def __call__(self, rejection: Rejection) -> None:
        if self._writer is None:
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._writer = CsvWriter(self._file, lineterminator="\n")
            self._writer.writerow(("line", "reason"))
        self._writer.writerow((rejection.line, rejection.reason))
        self.count += 1

    def __enter__(self) -> RejectionReport:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class RejectionSample:
    """The first ``limit`` rejections and how many there were in all."""

    limit: int
    items: list[Rejection] = field(default_factory=list)
    total: int = 0

    def __call__(self, rejection: Rejection) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(rejection)
