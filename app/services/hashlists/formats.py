"""Hash-list file formats, and parsing a file's lines in one into entries
(:mod:`.lines` reads the lines; :mod:`.list_writer` writes the formats).

Three formats (docs/hashlists.md gives the facts each rests on):

``csv``
    Hashwall's own: a header row naming the columns ``signal`` and ``hash``, and
    optionally ``category``, ``case_ref`` and ``quality`` (per-line values win
    over the import's options); other columns are ignored.
``threatexchange``
    python-threatexchange's signal type names and text forms: ``<signal_type>
    <hash>`` lines (its local-file exchange, ``threatexchange hash`` and
    ``threatexchange dataset -P``), or the CSV of ``threatexchange dataset -P
    --csv`` (header ``signal_type,signal_str,collab,category,tags``).
``stopncii``
    JSON Lines, one StopNCII ``FetchHashes`` hash record per line
    (``signalType``, ``hashValue``, ``hashStatus``, ``caseNumbers``, ...).

A reader yields an :class:`Entry` for every hash Hashwall can hold and a
:class:`Rejection` (line number and reason) for every line it cannot, and
never stops at a bad line. Only a file no line of which can be read (a CSV
without its header) raises :class:`HashListError`. Line numbers count physical
lines from 1, blank lines included (they are skipped, not rejected); a UTF-8
byte-order mark and CRLF line ends are accepted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import Any, NamedTuple

from app.services.hashlists.lines import Line, Rejection
from app.text import refused_character
from hashing.types import HashFormatError, Signal, hex_bytes, informative
from matching import Category

CASE_REF_MAX = 200
"""Characters of ``items.case_ref``."""

# Media types of hash-only items, as registrations by hashes store them.
STILL_HASHES = "hashes"
VIDEO_HASHES = "video_hashes"
VIDEO_MEDIA = frozenset({"video", VIDEO_HASHES})
"""Items whose file digest is a video's (ThreatExchange's ``video_sha256``)."""


class HashListFormat(StrEnum):
    """File formats of hash lists (docs/hashlists.md)."""

    CSV = "csv"
    THREATEXCHANGE = "threatexchange"
    STOPNCII = "stopncii"


Format = HashListFormat


UNINFORMATIVE = (
    "the hash has too few or too many bits set to come from a picture (a flat "
    "image's hash): it would match every flat upload"
)


class HashListError(ValueError):
    """The file as a whole cannot be read in this format."""


# Named tuples, not dataclasses: a million of each are made per million lines,
# and a tuple is built several times faster than a frozen dataclass.
class Entry(NamedTuple):
    """One hash of a hash list; None fields fall back to the import's options."""

    line: int
    signal: Signal
    value: bytes
    category: Category | None = None
    case_ref: str | None = None
    quality: int | None = None
    note: str | None = None
    media_type: str = STILL_HASHES


Parsed = Entry | Rejection


def parse(fmt: Format, lines: Iterable[Line | Rejection]) -> Iterator[Parsed]:
    """Every non-blank line's outcome, in file order.

    Raises :class:`HashListError` before the first outcome when the file cannot
    be read in this format at all.
    """
    reader = {
        Format.CSV: _parse_csv,
        Format.THREATEXCHANGE: _parse_threatexchange,
        Format.STOPNCII: _parse_stopncii,
    }[fmt]
    return reader(iter(lines))


def _csv_fields(text: str) -> list[str]:
    # One physical line is one record: hash lists have no multi-line fields, and
    # a stray quote must not swallow the lines after it. Most lines hold no
    # quote at all, and splitting them is five times faster than the csv module.
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader((text,)), [])
    except csv.Error as exc:  # a NUL byte, for one
        raise HashFormatError(f"not a CSV line: {exc}") from None


def _optional(fields: list[str], index: int | None) -> str:
    if index is None or index >= len(fields):
        return ""
    return fields[index].strip()


_SIGNALS = {s.value: s for s in Signal}


def _signal(name: str) -> Signal:
    signal = _SIGNALS.get(name) or _SIGNALS.get(name.strip().lower())
    if signal is None:
        known = ", ".join(_SIGNALS)
        raise HashFormatError(f"unknown signal {name.strip()[:40]!r} (known: {known})")
    return signal


_CATEGORIES = {c.value: c for c in Category}


def _category(text: str) -> Category | None:
    if not text:
        return None
    category = _CATEGORIES.get(text.lower())
    if category is None:
        known = ", ".join(_CATEGORIES)
        raise HashFormatError(f"unknown category {text[:40]!r} (known: {known})")
    return category


def _plain(text: str, name: str) -> str:
    bad = refused_character(text)
    if bad is not None:
        raise HashFormatError(f"{name} holds a control character ({bad})")
    return text


def _case_ref(text: str) -> str | None:
    if len(text) > CASE_REF_MAX:
        raise HashFormatError(f"case_ref is longer than {CASE_REF_MAX} characters")
    return _plain(text, "case_ref") or None


def _quality(text: str) -> int | None:
    if not text:
        return None
    # isascii: str.isdigit also takes superscripts and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or int(text) > 100:
        raise HashFormatError(f"quality is a whole number from 0 to 100, got {text[:20]!r}")
    return int(text)


def _header(lines: Iterator[Line | Rejection]) -> tuple[Line | None, list[Rejection]]:
    """The first readable line, and the over-long lines before it."""
    skipped: list[Rejection] = []
    for line in lines:
        if isinstance(line, Rejection):
            skipped.append(line)
            continue
        return line, skipped
    return None, skipped


def _each(lines: Iterable[Line | Rejection], entry: Callable[[Line], Entry]) -> Iterator[Parsed]:
    """Each line's entry, or its rejection with the reason ``entry`` raised;
    lines already rejected (over-long) pass through."""
    for line in lines:
        if isinstance(line, Rejection):
            yield line
            continue
        try:
            parsed: Parsed = entry(line)
        except HashFormatError as exc:
            parsed = Rejection(line.number, str(exc))
        else:
            if isinstance(parsed, Entry) and not informative(parsed.signal, parsed.value):
                parsed = Rejection(line.number, UNINFORMATIVE)
        yield parsed


def _columns(line: Line, names: list[str], last: int) -> list[str]:
    """The fields of a CSV line that has at least column ``last``."""
    fields = _csv_fields(line.text)
    if len(fields) <= last:
        raise HashFormatError(f"expected {len(names)} columns, got {len(fields)}")
    return fields


CSV_COLUMNS = ("signal", "hash", "category", "case_ref", "quality")


def _parse_csv(lines: Iterator[Line | Rejection]) -> Iterator[Parsed]:
    header, skipped = _header(lines)
    yield from skipped
    if header is None:
        return
    try:
        names = [name.strip().lower() for name in _csv_fields(header.text)]
    except HashFormatError:
        names = []
    if "signal" not in names or "hash" not in names:
        raise HashListError(
            "a csv hash list starts with a header row naming the columns signal and hash "
            f"(optional: category, case_ref, quality); line {header.number} is "
            f"{header.text[:80]!r}"
        )
    at = {name: names.index(name) for name in CSV_COLUMNS if name in names}
    s, h = at["signal"], at["hash"]
    c, r, q = at.get("category"), at.get("case_ref"), at.get("quality")

    last = max(s, h)

    def entry(line: Line) -> Entry:
        fields = _columns(line, names, last)
        signal = _SIGNALS.get(fields[s]) or _signal(fields[s])
        return Entry(
            line.number,
            signal,
            hex_bytes(signal, fields[h]),
            category=_category(_optional(fields, c)),
            case_ref=_case_ref(_optional(fields, r)),
            quality=_quality(_optional(fields, q)),
        )

    def bare(line: Line) -> Entry:
        # No per-line category, case or quality column: the same checks with
        # fewer steps, for the lists of millions that are just signal and hash.
        fields = _columns(line, names, last)
        signal = _SIGNALS.get(fields[s]) or _signal(fields[s])
        return Entry(line.number, signal, hex_bytes(signal, fields[h]))

    yield from _each(lines, bare if c is None and r is None and q is None else entry)


# python-threatexchange SignalType.get_name() values Hashwall can hold, with the
# media type of the item they make.
TE_SIGNALS: dict[str, tuple[Signal, str]] = {
    "pdq": (Signal.PDQ, STILL_HASHES),
    "video_sha256": (Signal.SHA256, VIDEO_HASHES),
}
TE_CSV_HEADER = "signal_type,signal_str"
TE_NEGATIVE = "NEGATIVE_CLASS"
"""A ThreatExchange opinion that the content is *not* what the collaboration is about."""


def _te_value(name: str, text: str) -> tuple[Signal, bytes, str]:
    name = name.strip()
    known = TE_SIGNALS.get(name.lower())
    if known is None:
        raise HashFormatError(
            f"signal type {name[:40]!r} is not one Hashwall matches "
            f"(it takes {', '.join(TE_SIGNALS)})"
        )
    signal, media_type = known
    return signal, hex_bytes(signal, text), media_type


def _parse_threatexchange(lines: Iterator[Line | Rejection]) -> Iterator[Parsed]:
    first, skipped = _header(lines)
    yield from skipped
    if first is None:
        return
    if first.text.strip().lower().startswith(TE_CSV_HEADER):
        yield from _parse_te_csv(first, lines)
        return

    def entry(line: Line) -> Entry:
        # `dataset -P` prints the collaboration and opinion after the signal;
        # only the first two words are the signal type and the hash.
        parts = line.text.split(None, 2)
        if len(parts) < 2:
            raise HashFormatError("expected '<signal_type> <hash>'")
        signal, value, media_type = _te_value(parts[0], parts[1])
        return Entry(line.number, signal, value, media_type=media_type)

    yield from _each(_chain(first, lines), entry)


def _parse_te_csv(header: Line, lines: Iterator[Line | Rejection]) -> Iterator[Parsed]:
    try:
        names = [name.strip().lower() for name in _csv_fields(header.text)]
    except HashFormatError as exc:
        raise HashListError(f"line {header.number}: {exc}") from None
    if "signal_type" not in names or "signal_str" not in names:
        raise HashListError(
            f"line {header.number} starts like a threatexchange dataset CSV header but does "
            "not name both signal_type and signal_str"
        )
    s, h = names.index("signal_type"), names.index("signal_str")
    opinion = names.index("category") if "category" in names else None

    def entry(line: Line) -> Entry:
        fields = _columns(line, names, max(s, h))
        if _optional(fields, opinion).upper() == TE_NEGATIVE:
            raise HashFormatError(f"opinion {TE_NEGATIVE}: a partner marked it as not the content")
        signal, value, media_type = _te_value(fields[s], fields[h])
        return Entry(line.number, signal, value, media_type=media_type)

    yield from _each(lines, entry)


def _chain(first: Line, rest: Iterator[Line | Rejection]) -> Iterator[Line | Rejection]:
    yield first
    yield from rest


STOPNCII_PDQ = "ImagePDQ"
STOPNCII_GONE = frozenset({"Withdrawn", "Deleted"})
"""Case and hash statuses whose hashes StopNCII asks platforms to delete."""
STOPNCII_NOTE = "stopncii_cases="
"""Prefix of an item's note holding every case number when they overflow case_ref."""


def _stopncii_cases(record: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """The case reference and note for a record's live cases, and whether it had
    cases that are all withdrawn or deleted."""
    cases = record.get("caseNumbers") or {}
    if not isinstance(cases, dict):
        raise HashFormatError("caseNumbers is not an object")
    live = sorted(
        _plain(str(case), "a case number")
        for case, status in cases.items()
        if status not in STOPNCII_GONE
    )
    if cases and not live:
        return None, None, True
    joined = ",".join(live)
    if len(joined) <= CASE_REF_MAX:
        return joined or None, None, False
    kept: list[str] = []
    for case in live:
        if len(",".join([*kept, case])) > CASE_REF_MAX:
            break
        kept.append(case)
    return ",".join(kept) or None, STOPNCII_NOTE + joined, False


def _stopncii_entry(line: Line) -> Entry:
    try:
        record = json.loads(line.text)
    except (ValueError, RecursionError) as exc:  # RecursionError: deep nesting
        raise HashFormatError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise HashFormatError("not a JSON object (one hash record per line)")
    signal_type = record.get("signalType")
    if signal_type != STOPNCII_PDQ:
        raise HashFormatError(
            f"signalType {str(signal_type)[:40]!r} is not one Hashwall matches "
            f"(it takes {STOPNCII_PDQ})"
        )
    if record.get("hashStatus") in STOPNCII_GONE:
        raise HashFormatError(f"hashStatus {record['hashStatus']}: not to be used")
    text = record.get("hashValue")
    if not isinstance(text, str):
        raise HashFormatError("hashValue is missing or not a string")
    value = hex_bytes(Signal.PDQ, text)
    case_ref, note, gone = _stopncii_cases(record)
    if gone:
        raise HashFormatError("every case of this hash is withdrawn or deleted")
    return Entry(line.number, Signal.PDQ, value, case_ref=case_ref, note=note)


def _parse_stopncii(lines: Iterator[Line | Rejection]) -> Iterator[Parsed]:
    return _each(lines, _stopncii_entry)
