"""HashValue parsing, formatting and distance."""

from __future__ import annotations

import hashlib

import pytest

from hashing.types import SIGNAL_BITS, HashFormatError, HashValue, Signal

PDQ_HEX = "992d44af36d69e6ca6b812585928bac11def254ef5398c6d07466c9abcc65b92"
PHASH_HEX = "c3d0e1f2a4b58697"


@pytest.mark.parametrize(
    ("signal", "text"),
    [
        (Signal.PDQ, PDQ_HEX),
        (Signal.PHASH, PHASH_HEX),
        (Signal.SHA256, hashlib.sha256(b"hashwall").hexdigest()),
    ],
)
def test_from_hex_round_trips(signal: Signal, text: str) -> None:
    value = HashValue.from_hex(signal, text)
    assert value.signal is signal
    assert len(value.value) * 8 == signal.bits
    assert value.to_hex() == text
    assert str(value) == f"{signal.value}:{text}"


def test_signal_bits_and_kinds() -> None:
    assert SIGNAL_BITS == {Signal.PDQ: 256, Signal.PHASH: 64, Signal.SHA256: 256}
    assert Signal.PDQ.perceptual
    assert Signal.PHASH.perceptual
    assert not Signal.SHA256.perceptual


def test_upper_case_is_accepted_and_folded() -> None:
    value = HashValue.from_hex(Signal.PDQ, PDQ_HEX.upper())
    assert value.to_hex() == PDQ_HEX
    assert value == HashValue.from_hex(Signal.PDQ, PDQ_HEX)
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(PHASH_HEX))
    assert HashValue.from_hex(Signal.PHASH, mixed).to_hex() == PHASH_HEX


@pytest.mark.parametrize("padded", [f" {PHASH_HEX}", f"{PHASH_HEX}\n", f"\t {PHASH_HEX} \r\n"])
def test_surrounding_whitespace_is_stripped(padded: str) -> None:
    assert HashValue.from_hex(Signal.PHASH, padded).to_hex() == PHASH_HEX


@pytest.mark.parametrize(
    "text",
    [
        "",
        PHASH_HEX[:-1],  # one digit short
        PHASH_HEX + "0",  # one digit long
        PHASH_HEX * 4,  # a PDQ-length string for a pHash
        "0x" + PHASH_HEX[2:],  # a prefix in place of two digits
        PHASH_HEX[:-1] + "g",  # not a hex digit
        PHASH_HEX[:8] + " " + PHASH_HEX[9:],  # whitespace inside
        PHASH_HEX[:8] + "-" + PHASH_HEX[9:],
        "\uff10" + PHASH_HEX[1:],  # a full-width zero is a digit to str.isdigit, not hex
        "é" + PHASH_HEX[1:],
    ],
)
def test_from_hex_rejects_malformed(text: str) -> None:
    with pytest.raises(HashFormatError, match="phash hash is 16 hex digits"):
        HashValue.from_hex(Signal.PHASH, text)


def test_from_hex_rejects_a_hash_of_another_signals_length() -> None:
    with pytest.raises(HashFormatError):
        HashValue.from_hex(Signal.PDQ, PHASH_HEX)
    # A SHA-256 is PDQ's length, so the signal is what the caller says it is.
    digest = hashlib.sha256(b"x").hexdigest()
    assert HashValue.from_hex(Signal.PDQ, digest).to_hex() == digest


def test_format_error_is_a_value_error() -> None:
    assert issubclass(HashFormatError, ValueError)


@pytest.mark.parametrize("length", [0, 7, 9, 32])
def test_constructor_checks_the_byte_length(length: int) -> None:
    with pytest.raises(HashFormatError, match="has 64 bits"):
        HashValue(Signal.PHASH, bytes(length))


def test_distance_counts_differing_bits() -> None:
    zero = HashValue(Signal.PDQ, bytes(32))
    ones = HashValue(Signal.PDQ, b"\xff" * 32)
    assert zero.distance(zero) == 0
    assert zero.distance(ones) == 256
    for bit in (0, 1, 7, 8, 128, 255):
        flipped = bytearray(32)
        flipped[bit // 8] |= 0x80 >> (bit % 8)
        one_bit = HashValue(Signal.PDQ, bytes(flipped))
        assert zero.distance(one_bit) == 1
        assert ones.distance(one_bit) == 255
    a = HashValue.from_hex(Signal.PHASH, "00000000000000ff")
    b = HashValue.from_hex(Signal.PHASH, "f000000000000001")
    assert a.distance(b) == b.distance(a) == 4 + 7


def test_distance_matches_a_reference_count_on_real_hashes() -> None:
    a = HashValue.from_hex(Signal.PDQ, PDQ_HEX)
    b = HashValue.from_hex(
        Signal.PDQ, "cfb2009ddd21c6dab0046a7745b5984757a8a4535b3377aea2591d32b33ff940"
    )
    expected = sum(bin(x ^ y).count("1") for x, y in zip(a.value, b.value, strict=True))
    assert a.distance(b) == expected
    assert 0 < expected < 256


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (Signal.PDQ, Signal.PHASH),
        (Signal.PHASH, Signal.PDQ),
        (Signal.PDQ, Signal.SHA256),  # same length, still not comparable
    ],
)
def test_distance_refuses_mismatched_signals(left: Signal, right: Signal) -> None:
    a = HashValue(left, bytes(left.bits // 8))
    b = HashValue(right, bytes(right.bits // 8))
    with pytest.raises(ValueError, match="cannot compare"):
        a.distance(b)


def test_hash_values_are_hashable_and_compare_by_value() -> None:
    a = HashValue.from_hex(Signal.PHASH, PHASH_HEX)
    b = HashValue.from_hex(Signal.PHASH, PHASH_HEX.upper())
    c = HashValue(Signal.PDQ, bytes(32))
    assert a == b
    assert len({a, b, c}) == 2
    assert a != HashValue(Signal.PHASH, bytes(8))
