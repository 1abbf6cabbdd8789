"""vPDQ text: the three layouts read, blank lines, errors naming the line, and the
round trip through the compact form."""

from __future__ import annotations

import pytest

from hashing.transforms import Transform
from hashing.types import HashFormatError, HashValue, Signal
from hashing.vpdq import VpdqFrame, format_vpdq, parse_vpdq
from tests.conftest import PHOTOS
from tests.hashing.photos import registered

# Real PDQ hashes of four photos, and the qualities of the first two.
VIEWS = [registered(path).primary for path in PHOTOS[:4]]
A, B, C, D = (view.pdq[Transform.ORIGINAL] for view in VIEWS)
QA, QB = VIEWS[0].quality, VIEWS[1].quality


def test_compact_layout() -> None:
    frames = parse_vpdq([f"{A.to_hex()},{QA},0.000", f"{B.to_hex()},{QB},1.040"])
    assert frames == [VpdqFrame(A, QA, 0.0), VpdqFrame(B, QB, 1.04)]


def test_reference_tool_layout() -> None:
    """The C++ tool writes frame_number,quality,pdq_hex,timestamp_s."""
    frames = parse_vpdq([f"0,{QA},{A.to_hex()},0.000", f"25,{QB},{B.to_hex()},1.000"])
    assert frames == [VpdqFrame(A, QA, 0.0), VpdqFrame(B, QB, 1.0)]


def test_python_binding_layout() -> None:
    """The Python binding's README prints frame_number,pdq_hex,quality,timestamp_s,
    with whole-second timestamps as integers."""
    frames = parse_vpdq([f"0,{A.to_hex()},{QA},0", f"1,{B.to_hex()},{QB},1"])
    assert frames == [VpdqFrame(A, QA, 0.0), VpdqFrame(B, QB, 1.0)]


def test_layouts_agree_and_may_be_mixed() -> None:
    mixed = [
        f"{A.to_hex()},{QA},0.5",
        f"12,{QB},{B.to_hex()},0.96",
        f"50,{C.to_hex()},77,2",
    ]
    assert parse_vpdq(mixed) == [
        VpdqFrame(A, QA, 0.5),
        VpdqFrame(B, QB, 0.96),
        VpdqFrame(C, 77, 2.0),
    ]


def test_blank_lines_whitespace_and_upper_case() -> None:
    text = f"\n  {A.to_hex().upper()} , {QA} , 0.0  \r\n\n\t\n{B.to_hex()},{QB},3\n\n"
    assert parse_vpdq(text.splitlines()) == [VpdqFrame(A, QA, 0.0), VpdqFrame(B, QB, 3.0)]
    assert parse_vpdq([]) == []
    assert parse_vpdq(["", "   "]) == []


GOOD = f"{A.to_hex()},90,0.000"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(f"{A.to_hex()[:-1]},90,1.0", id="63 hex digits"),
        pytest.param(f"{A.to_hex()}0,90,1.0", id="65 hex digits"),
        pytest.param(f"{A.to_hex()[:-1]}g,90,1.0", id="not hex"),
        pytest.param(f"{A.to_hex()},90", id="two fields"),
        pytest.param(f"{A.to_hex()},90,1.0,", id="trailing comma"),
        pytest.param(f"1,2,{A.to_hex()},1.0,7", id="five fields"),
        pytest.param(f"{A.to_hex()},{B.to_hex()},1.0", id="two hashes"),
        pytest.param(f"1,{A.to_hex()},{B.to_hex()},1.0", id="two hashes of four fields"),
        pytest.param(f"1,90,3.0,{A.to_hex()}", id="hash last"),
        pytest.param(f"90,{A.to_hex()},1.0", id="hash in the middle of three"),
        pytest.param(f"{A.to_hex()},101,1.0", id="quality over 100"),
        pytest.param(f"{A.to_hex()},-1,1.0", id="negative quality"),
        pytest.param(f"{A.to_hex()},90.5,1.0", id="fractional quality"),
        pytest.param(f"{A.to_hex()},high,1.0", id="quality not a number"),
        pytest.param(f"{A.to_hex()},90,-0.5", id="negative timestamp"),
        pytest.param(f"{A.to_hex()},90,nan", id="NaN timestamp"),
        pytest.param(f"{A.to_hex()},90,inf", id="infinite timestamp"),
        pytest.param(f"{A.to_hex()},90,1s", id="timestamp with a unit"),
        pytest.param(A.to_hex(), id="hash alone"),
    ],
)
def test_errors_name_the_line(bad: str) -> None:
    """Line numbers count every line, blank ones included, from 1."""
    with pytest.raises(HashFormatError, match=r"^vpdq line 4: \S"):
        parse_vpdq([GOOD, "", GOOD, bad, GOOD])


def test_first_bad_line_is_reported() -> None:
    with pytest.raises(HashFormatError, match=r"^vpdq line 2: "):
        parse_vpdq([GOOD, "x,1,2", "y,1,2"])
    with pytest.raises(HashFormatError, match=r"^vpdq line 1: "):
        parse_vpdq(["nonsense"])


def test_format_writes_the_compact_layout() -> None:
    lines = format_vpdq([VpdqFrame(A, QA, 0.0), VpdqFrame(D, 51, 12.3456)])
    assert lines == [f"{A.to_hex()},{QA},0.000", f"{D.to_hex()},51,12.346"]


def test_round_trip() -> None:
    frames = [
        VpdqFrame(A, QA, 0.0),
        VpdqFrame(B, QB, 0.04),
        VpdqFrame(C, 0, 1.5),
        VpdqFrame(D, 100, 3599.96),
        VpdqFrame(HashValue(Signal.PDQ, bytes(32)), 0, 7.125),
    ]
    lines = format_vpdq(frames)
    assert parse_vpdq(lines) == frames
    assert format_vpdq(parse_vpdq(lines)) == lines
    # The reference layout reads back to the same frames and writes the compact form.
    reference = [f"{i},{f.quality},{f.pdq.to_hex()},{f.at:.3f}" for i, f in enumerate(frames)]
    assert parse_vpdq(reference) == frames
    assert format_vpdq(parse_vpdq(reference)) == lines
