"""ExactIndex and the per-signal HashIndex the service holds."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from index import ExactIndex, HashIndex, Hit


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def near(code: bytes, bits: int) -> bytes:
    """``code`` with its first ``bits`` bits flipped."""
    as_int = int.from_bytes(code, "big") ^ (((1 << bits) - 1) << (len(code) * 8 - bits))
    return as_int.to_bytes(len(code), "big")


def make_index() -> HashIndex:
    return HashIndex({"pdq": 256, "phash": 64}, ["sha256"])


# --- ExactIndex ---------------------------------------------------------------------


def test_exact_index_matches_only_equal_digests() -> None:
    index = ExactIndex()
    a, b = digest("a"), digest("b")
    index.add(a, 1)
    index.add(b, 2)
    assert len(index) == 2
    assert index.search([a]) == [Hit(0, 1, 0)]
    assert index.search([near(a, 1)]) == []
    assert index.search([b, digest("c"), a]) == [Hit(0, 2, 0), Hit(2, 1, 0)]
    assert index.search([]) == []


def test_exact_index_owners_and_removal() -> None:
    index = ExactIndex()
    code = digest("shared")
    index.add(code, 1)
    index.add(code, 2)
    index.add(code, 2)
    assert len(index) == 2  # (digest, key) pairs
    assert sorted(h.key for h in index.search([code])) == [1, 2]
    index.remove(code, 1)
    assert index.search([code]) == [Hit(0, 2, 0)]
    index.remove(code, 99)  # unknown key
    index.remove(digest("never added"), 2)  # unknown code
    assert len(index) == 1
    index.remove(code, 2)
    assert len(index) == 0
    assert index.search([code]) == []


# --- HashIndex ----------------------------------------------------------------------


def test_signals_and_sizes_start_empty() -> None:
    index = make_index()
    assert index.signals == ["pdq", "phash", "sha256"]
    assert index.sizes() == {"pdq": 0, "phash": 0, "sha256": 0}
    assert index.ready is False


def test_sizes_count_hash_key_pairs_per_signal() -> None:
    index = make_index()
    pdq = np.random.default_rng(0).integers(0, 256, (3, 32), dtype=np.uint8)
    index.add_many("pdq", [(pdq[0].tobytes(), 1), (pdq[1].tobytes(), 2), (pdq[0].tobytes(), 3)])
    index.add("phash", bytes(8), 1)
    index.add_many("sha256", [(digest("x"), 1), (digest("y"), 2), (digest("x"), 3)])
    assert index.sizes() == {"pdq": 3, "phash": 1, "sha256": 3}
    index.remove("pdq", pdq[0].tobytes(), 1)
    assert index.sizes()["pdq"] == 2  # key 3 still owns it
    index.remove("pdq", pdq[0].tobytes(), 3)
    index.remove("sha256", digest("y"), 2)
    assert index.sizes() == {"pdq": 1, "phash": 1, "sha256": 2}


def test_hamming_signals_search_by_distance() -> None:
    index = make_index()
    code = bytes(range(32))
    index.add("pdq", code, 10)
    assert index.search("pdq", [near(code, 31)], 31) == [Hit(0, 10, 31)]
    assert index.search("pdq", [near(code, 32)], 31) == []
    assert index.search("pdq", [code]) == [Hit(0, 10, 0)]  # default radius is exact
    phash = bytes(range(8))
    index.add("phash", phash, 11)
    assert index.search("phash", [near(phash, 6)], 6) == [Hit(0, 11, 6)]
    assert index.search("phash", [near(phash, 7)], 6) == []


def test_exact_signals_ignore_the_radius() -> None:
    index = make_index()
    code = digest("file")
    index.add("sha256", code, 5)
    assert index.search("sha256", [near(code, 1)], 256) == []
    assert index.search("sha256", [code], 0) == [Hit(0, 5, 0)]


def test_signals_are_separate() -> None:
    """A SHA-256 and a PDQ hash are both 256 bits; each stays in its own index."""
    index = make_index()
    code = digest("same bytes")
    index.add("sha256", code, 1)
    assert index.search("pdq", [code], 256) == []
    index.add("pdq", code, 2)
    assert index.search("pdq", [code], 0) == [Hit(0, 2, 0)]
    assert index.search("sha256", [code]) == [Hit(0, 1, 0)]


def test_wrong_lengths_reach_the_hamming_index() -> None:
    index = make_index()
    with pytest.raises(ValueError, match="64-bit code"):
        index.add("phash", bytes(32), 1)
    with pytest.raises(ValueError, match="256-bit code"):
        index.search("pdq", [bytes(8)], 10)


def test_unknown_signal_raises_key_error() -> None:
    index = make_index()
    with pytest.raises(KeyError, match="no index for signal 'md5'"):
        index.add("md5", bytes(16), 1)
    with pytest.raises(KeyError, match="md5"):
        index.add_many("md5", [(bytes(16), 1)])
    with pytest.raises(KeyError, match="md5"):
        index.remove("md5", bytes(16), 1)
    with pytest.raises(KeyError, match="md5"):
        index.search("md5", [bytes(16)])
    assert index.sizes() == {"pdq": 0, "phash": 0, "sha256": 0}


def test_contains_asks_each_signal_for_exact_codes() -> None:
    index = make_index()
    a, b = digest("a"), digest("b")
    index.add("sha256", a, 1)
    index.add("pdq", b, 2)
    index.add("sha256", b, 3)
    index.remove("sha256", b, 3)
    assert index.contains("sha256", [a, b, near(a, 1)]).tolist() == [True, False, False]
    assert index.contains("pdq", [a, b, near(b, 1)]).tolist() == [False, True, False]
    with pytest.raises(KeyError, match="md5"):
        index.contains("md5", [a])
