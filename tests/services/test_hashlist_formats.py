"""Hash-list readers and writers on their own: no database, files as bytes."""

from __future__ import annotations

import io
import json
import secrets
from datetime import UTC, datetime

import pytest

from app.services.hashlists.formats import Entry, Format, HashListError, parse
from app.services.hashlists.lines import MAX_LINE_BYTES, LineReader, Rejection
from app.services.hashlists.list_writer import OutRow, Writer
from hashing.types import Signal
from matching import Category

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PHASH = "d1c4b1e4c3939393"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def read(fmt: Format, data: bytes) -> list[Entry | Rejection]:
    return list(parse(fmt, LineReader(io.BytesIO(data))))


def entries(outcomes: list[Entry | Rejection]) -> list[Entry]:
    return [o for o in outcomes if isinstance(o, Entry)]


def rejections(outcomes: list[Entry | Rejection]) -> dict[int, str]:
    return {o.line: o.reason for o in outcomes if isinstance(o, Rejection)}


def test_csv_reads_every_signal_and_the_per_line_columns() -> None:
    data = (
        "signal,hash,category,case_ref,quality\n"
        f"pdq,{PDQ},csam,C-7,88\n"
        f"phash,{PHASH.upper()},,,\n"
        f'sha256,{SHA},,"case, with comma",\n'
    ).encode()
    got = entries(read(Format.CSV, data))
    assert [(e.line, e.signal, e.value.hex()) for e in got] == [
        (2, Signal.PDQ, PDQ),
        (3, Signal.PHASH, PHASH),
        (4, Signal.SHA256, SHA),
    ]
    assert (got[0].category, got[0].case_ref, got[0].quality) == (Category.CSAM, "C-7", 88)
    assert (got[1].category, got[1].case_ref, got[1].quality) == (None, None, None)
    assert got[2].case_ref == "case, with comma"


def test_csv_columns_are_found_by_name_and_extra_ones_ignored() -> None:
    data = f"source,hash,signal\npartner-a,{PDQ},pdq\n".encode()
    (entry,) = entries(read(Format.CSV, data))
    assert (entry.signal, entry.value.hex()) == (Signal.PDQ, PDQ)


def test_bad_csv_lines_are_rejected_with_their_line_numbers() -> None:
    data = (
        (
            "signal,hash,category,case_ref,quality\n"
            f"pdq,{PDQ[:-2]}\n"  # 2: too short
            f"pdq,{PDQ[:-1]}g\n"  # 3: not hex
            f"md5,{PDQ[:32]}\n"  # 4: a signal Hashwall does not match
            "\n"  # 5: blank, skipped
            f"pdq,{PDQ},nudity\n"  # 6: unknown category
            f"pdq,{PDQ},,,101\n"  # 7: quality out of range
            f"pdq,{PDQ},,{'x' * 201}\n"  # 8: case_ref too long
            "pdq\n"  # 9: no hash column
            f"phash,{PHASH}\n"  # 10: fine
        ).encode()
    )
    outcomes = read(Format.CSV, data)
    assert [e.line for e in entries(outcomes)] == [10]
    reasons = rejections(outcomes)
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 9]
    assert "64 hex digits" in reasons[2]
    assert "64 hex digits" in reasons[3]
    assert "unknown signal 'md5'" in reasons[4]
    assert "unknown category" in reasons[6]
    assert "quality" in reasons[7]
    assert "case_ref" in reasons[8]
    assert "columns" in reasons[9]


def test_a_byte_order_mark_crlf_and_blank_lines_are_read() -> None:
    data = f"\ufeffsignal,hash\r\n\r\npdq,{PDQ}\r\n   \r\nphash,{PHASH}".encode()
    got = entries(read(Format.CSV, data))
    assert [(e.line, e.signal) for e in got] == [(3, Signal.PDQ), (5, Signal.PHASH)]


def test_a_csv_without_its_header_cannot_be_read() -> None:
    with pytest.raises(HashListError, match="header row"):
        read(Format.CSV, f"pdq,{PDQ}\n".encode())


def test_an_empty_file_has_no_lines() -> None:
    for fmt in Format:
        assert read(fmt, b"") == []
        assert read(fmt, b"\n\n") == []


def test_over_long_and_non_utf8_lines_are_rejected_not_fatal() -> None:
    data = (
        b"signal,hash\n" + b"pdq," + b"0" * (MAX_LINE_BYTES + 10) + b"\n"
        b"pdq,\xff\xfe" + PDQ[4:].encode() + b"\n" + f"pdq,{PDQ}\n".encode()
    )
    outcomes = read(Format.CSV, data)
    reasons = rejections(outcomes)
    assert "longer than" in reasons[2]
    assert "64 hex digits" in reasons[3]
    assert [e.line for e in entries(outcomes)] == [4]


def test_an_over_long_line_across_read_blocks_is_one_rejection() -> None:
    body = b"x" * (LineReader.BLOCK * 2 + 5)
    data = b"signal,hash\n" + body + b"\n" + f"pdq,{PDQ}\n".encode() + body
    outcomes = read(Format.CSV, data)
    assert rejections(outcomes).keys() == {2, 4}
    assert [e.line for e in entries(outcomes)] == [3]


def test_threatexchange_lines_take_its_signal_type_names() -> None:
    data = (
        (
            f"pdq {PDQ}\n"
            f"video_sha256 {SHA}\n"
            "video_md5 f09791b743c21f26a189c33b798b8e46\n"  # 3: no MD5 matcher
            "url https://example.com/\n"  # 4
            f"pdq {PDQ[:-1]}\n"  # 5: short
            f"{PDQ}\n"  # 6: no signal type
            f"pdq {PDQ} 'Sample Signals' INVESTIGATION_SEED\n"  # 7: dataset -P output
        ).encode()
    )
    outcomes = read(Format.THREATEXCHANGE, data)
    got = entries(outcomes)
    assert [(e.line, e.signal, e.media_type) for e in got] == [
        (1, Signal.PDQ, "hashes"),
        (2, Signal.SHA256, "video_hashes"),
        (7, Signal.PDQ, "hashes"),
    ]
    reasons = rejections(outcomes)
    assert sorted(reasons) == [3, 4, 5, 6]
    assert "'video_md5' is not one Hashwall matches" in reasons[3]


def test_threatexchange_dataset_csv_is_read_and_negative_opinions_refused() -> None:
    data = (
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{PDQ},Sample Signals,POSITIVE_CLASS,nude\n"
        f"pdq,{PDQ.replace('f', 'e')},Sample Signals,NEGATIVE_CLASS,\n"
        "video_md5,f09791b743c21f26a189c33b798b8e46,Sample Signals,INVESTIGATION_SEED,\n"
    ).encode()
    outcomes = read(Format.THREATEXCHANGE, data)
    assert [e.line for e in entries(outcomes)] == [2]
    reasons = rejections(outcomes)
    assert "NEGATIVE_CLASS" in reasons[3]
    assert "video_md5" in reasons[4]


def _record(**fields: object) -> str:
    record: dict[str, object] = {
        "lastModtimestamp": 1625167804,
        "signalType": "ImagePDQ",
        "hashValue": PDQ,
        "hashStatus": "Received",
        "caseNumbers": {"27664732-76e1-4a17-8099-455798e67022": "Received"},
    }
    record.update(fields)
    return json.dumps(record)


def test_stopncii_records_give_pdq_and_their_cases() -> None:
    cases = {f"case-{i:02d}": "Active" for i in range(3)} | {"case-gone": "Withdrawn"}
    lines = [
        _record(),
        _record(caseNumbers=cases, hashStatus="Active"),
        _record(signalType="VideoMD5", hashValue="f09791b743c21f26a189c33b798b8e46"),  # 3
        _record(hashStatus="Withdrawn"),  # 4
        _record(caseNumbers={"a": "Deleted"}),  # 5
        _record(hashValue=PDQ[:10]),  # 6
        "{not json",  # 7
        "[1, 2]",  # 8
        _record(caseNumbers={}),  # 9: no case: the import's own --case-ref applies
    ]
    outcomes = read(Format.STOPNCII, "\n".join(lines).encode())
    got = entries(outcomes)
    assert [e.line for e in got] == [1, 2, 9]
    assert got[0].case_ref == "27664732-76e1-4a17-8099-455798e67022"
    assert got[1].case_ref == "case-00,case-01,case-02"
    assert got[2].case_ref is None
    reasons = rejections(outcomes)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8]
    assert "VideoMD5" in reasons[3]
    assert "Withdrawn" in reasons[4]
    assert "withdrawn or deleted" in reasons[5]
    assert "not JSON" in reasons[7]


def test_stopncii_cases_beyond_case_ref_are_kept_in_the_note() -> None:
    cases = {f"{i:04d}-{secrets.token_hex(16)}": "Active" for i in range(8)}
    (entry,) = entries(read(Format.STOPNCII, _record(caseNumbers=cases).encode()))
    assert entry.case_ref is not None
    assert len(entry.case_ref) <= 200
    assert entry.note is not None
    row = OutRow("pdq", entry.value, "ncii", entry.case_ref, None, entry.note, "hashes", _now())
    out = io.StringIO()
    Writer(Format.STOPNCII, out).write(row)
    assert set(json.loads(out.getvalue())["caseNumbers"]) == set(cases)


def _now() -> datetime:
    return datetime(2026, 1, 2, tzinfo=UTC)


def test_each_writer_output_reads_back() -> None:
    rows = [
        OutRow("pdq", bytes.fromhex(PDQ), "ncii", "C-1", 91, None, "image", _now()),
        OutRow("phash", bytes.fromhex(PHASH), "csam", None, None, None, "image", _now()),
        OutRow("sha256", bytes.fromhex(SHA), "deepfake", None, None, None, "video", _now()),
        OutRow("sha256", bytes.fromhex(SHA[::-1]), "ncii", None, None, None, "image", _now()),
    ]
    expected = {
        Format.CSV: [("pdq", PDQ), ("phash", PHASH), ("sha256", SHA), ("sha256", SHA[::-1])],
        # python-threatexchange names no pHash and no photo digest
        Format.THREATEXCHANGE: [("pdq", PDQ), ("sha256", SHA)],
        Format.STOPNCII: [("pdq", PDQ)],
    }
    for fmt, want in expected.items():
        out = io.StringIO()
        writer = Writer(fmt, out)
        written = [writer.write(row) for row in rows]
        assert sum(written) == len(want)
        got = entries(read(fmt, out.getvalue().encode()))
        assert [(e.signal.value, e.value.hex()) for e in got] == want
        if fmt is Format.CSV:
            assert (got[0].category, got[0].case_ref, got[0].quality) == (
                Category.NCII,
                "C-1",
                91,
            )


def test_hostile_lines_are_rejected_one_by_one() -> None:
    csv_data = (
        "signal,hash,quality\n"
        f"pdq,{PDQ},\u00b2\n"  # a superscript two: a digit to str.isdigit, not to int
        f'pdq,"{PDQ}\x00",\n'  # a NUL inside a quoted field
        f"pdq,{PDQ},7\n"
    ).encode()
    outcomes = read(Format.CSV, csv_data)
    assert sorted(rejections(outcomes)) == [2, 3]
    assert [e.line for e in entries(outcomes)] == [4]
    deep = "[" * 20_000 + "]" * 20_000
    outcomes = read(Format.STOPNCII, f"{deep}\n{_record()}\n".encode())
    assert "not JSON" in rejections(outcomes)[1]
    assert [e.line for e in entries(outcomes)] == [2]


def test_a_threatexchange_csv_header_without_its_columns_cannot_be_read() -> None:
    with pytest.raises(HashListError, match="signal_str"):
        read(Format.THREATEXCHANGE, f"signal_type,signal_strength\npdq,{PDQ}\n".encode())
