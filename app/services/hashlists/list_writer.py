"""Writing a hash list in one of the formats (:mod:`.formats` says what each holds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from app.csvfile import CsvWriter
from app.services.hashlists.formats import (
    CSV_COLUMNS,
    STOPNCII_NOTE,
    STOPNCII_PDQ,
    VIDEO_MEDIA,
    Format,
)
from hashing.types import Signal


@dataclass(frozen=True, slots=True)
class OutRow:
    """One active hash as an export sees it."""

    signal: str
    value: bytes
    category: str
    case_ref: str | None
    quality: int | None
    note: str | None
    media_type: str
    created_at: datetime


class Writer:
    """Writes rows of one format; :meth:`write` says False for a row the format
    has no name for (a pHash in a ThreatExchange list)."""

    def __init__(self, fmt: Format, out: TextIO) -> None:
        self.fmt = fmt
        self.out = out
        self._csv = CsvWriter(out, lineterminator="\n")
        if fmt is Format.CSV:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, row: OutRow) -> bool:
        if self.fmt is Format.CSV:
            quality = "" if row.quality is None else str(row.quality)
            self._csv.writerow(
                (row.signal, row.value.hex(), row.category, row.case_ref or "", quality)
            )
            return True
        if self.fmt is Format.THREATEXCHANGE:
            name = _te_name(row)
            if name is None:
                return False
            self.out.write(f"{name} {row.value.hex()}\n")
            return True
        if row.signal != Signal.PDQ.value:
            return False
        cases = _cases_out(row)
        record = {
            "signalType": STOPNCII_PDQ,
            "hashValue": row.value.hex(),
            "hashStatus": "Active",
            "caseNumbers": dict.fromkeys(cases, "Active"),
            "lastModtimestamp": int(row.created_at.timestamp()),
        }
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return True


def _te_name(row: OutRow) -> str | None:
    if row.signal == Signal.PDQ.value:
        return "pdq"
    if row.signal == Signal.SHA256.value and row.media_type in VIDEO_MEDIA:
        return "video_sha256"
    return None  # python-threatexchange has no photo digest or pHash type


def _cases_out(row: OutRow) -> list[str]:
    if row.note is not None and row.note.startswith(STOPNCII_NOTE):
        text = row.note[len(STOPNCII_NOTE) :]
    else:
        text = row.case_ref or ""
    return [case for case in text.split(",") if case]
