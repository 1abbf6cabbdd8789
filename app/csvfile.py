"""Every CSV the service writes goes through here.

Transparency exports are opened in spreadsheets by ops staff and regulators,
and a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or
a tab or carriage return before one) as a formula: a platform name, a case
reference or a deactivation reason like ``=HYPERLINK("http://x","y")`` would
be a live link or a command in the reader's spreadsheet. Such text cells get a
leading apostrophe, which spreadsheets show as text and do not display.
Numbers are written as they are (a negative count is not text), and hashes,
being hex, never start with one of these characters, so hash lists stay
byte-exact.

defusedcsv does the same job but leaves tab and carriage return alone and
rewrites every ``|`` inside a cell, so the few lines are kept here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UTF8_BOM = "\ufeff"
"""Excel reads a CSV as UTF-8 only with a byte-order mark; Korean platform names need it."""


def safe_cell(value: object) -> object:
    """``value`` as a spreadsheet will read it as text, never as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvWriter:
    """``csv.writer`` with every text cell made safe for spreadsheets."""

    def __init__(self, out: TextIO, *, lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(out, lineterminator=lineterminator)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])


def csv_document(rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV file for a spreadsheet: byte-order mark, CRLF line ends, safe cells."""
    out = io.StringIO()
    out.write(UTF8_BOM)
    writer = CsvWriter(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()
