"""The local-feature index: votes by visual word, checked on the descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.local import Entry, LocalIndex
from index.vocabulary import Vocabulary, as_words, train

RNG = np.random.default_rng(7)


def descriptors(n: int, rng: np.random.Generator = RNG) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def noisy(d: np.ndarray, bits: int, rng: np.random.Generator = RNG) -> np.ndarray:
    """``d`` with ``bits`` random bits flipped in each row."""
    out = np.unpackbits(d, axis=1)
    for row in out:
        row[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(out, axis=1)


def entry(d: np.ndarray) -> Entry:
    n = len(d)
    xy = RNG.uniform(0, 400, (n, 2)).astype(np.float32)
    return Entry(xy, d, 420, 315, np.zeros(64, np.uint64), np.zeros(64, np.uint8))


CENTRES = descriptors(256)


def clustered(n: int, bits: int = 12) -> np.ndarray:
    """Descriptors around a few hundred centres, as image patches are."""
    return noisy(CENTRES[RNG.integers(0, len(CENTRES), n)], bits)


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return train(clustered(8000), coarse=16, fanout=16, iterations=6)


def test_a_vocabulary_puts_close_descriptors_in_one_word(vocabulary: Vocabulary) -> None:
    base = clustered(500)
    same = np.mean(vocabulary.words(base) == vocabulary.words(noisy(base, 4)))
    other = np.mean(vocabulary.words(base) == vocabulary.words(clustered(500)))
    assert same > 0.8
    assert other < 0.05
    assert vocabulary.words(np.zeros((0, 32), np.uint8)).shape == (0,)


def test_a_vocabulary_survives_a_round_trip(vocabulary: Vocabulary, tmp_path: Path) -> None:
    vocabulary.save(tmp_path / "v.npz")
    loaded = Vocabulary.load(tmp_path / "v.npz")
    probe = descriptors(200)
    assert np.array_equal(loaded.words(probe), vocabulary.words(probe))


def test_the_bundled_vocabulary_loads() -> None:
    bundled = Vocabulary.load()
    assert bundled.size == 65536
    assert len(set(bundled.words(descriptors(1000)).tolist())) > 500


@pytest.mark.parametrize("fold", [10**9, 50])
def test_candidates_rank_the_item_the_query_shares_keypoints_with(
    vocabulary: Vocabulary, fold: int
) -> None:
    index = LocalIndex(vocabulary, fold_postings=fold)
    items = {key: descriptors(96) for key in range(1, 41)}
    for key, d in items.items():
        index.add(key, entry(d))
    assert len(index) == 40
    # An upload showing a third of item 7's keypoints, a little changed, among others.
    query = np.concatenate([noisy(items[7][:32], 6), descriptors(300)])
    ranked = index.candidates(query, 5)
    assert ranked[0][0] == 7
    assert ranked[0].score > 2 * (ranked[1].score if len(ranked) > 1 else 0)
    slot = ranked[0][1]
    assert index.slots(7) == [slot]
    index.remove(7)
    assert 7 not in [found.key for found in index.candidates(query, 5)]
    assert index.entry(slot) is None
    assert len(index) == 39
    # Several entries of one item (keyframes of a clip) are found apart.
    index.add(8, entry(items[7]))
    found = index.candidates(query, 3)
    assert found[0][0] == 8
    assert len(index.slots(8)) == 2


def test_an_entry_comes_back_as_it_was_added(vocabulary: Vocabulary) -> None:
    index = LocalIndex(vocabulary)
    d = descriptors(50)
    added = entry(d)
    index.add(3, added)
    back = index.entry(index.slots(3)[0])
    assert back is not None
    assert np.array_equal(back.descriptors, d)
    assert np.array_equal(back.xy, added.xy)
    assert (back.width, back.height) == (420, 315)
    assert np.array_equal(as_words(back.descriptors), as_words(d))
    assert index.memory_bytes() > 0


def test_a_saved_index_loads_to_the_same_answers(vocabulary: Vocabulary, tmp_path: Path) -> None:
    index = LocalIndex(vocabulary, fold_postings=10**9)
    items = {key: descriptors(60) for key in range(1, 11)}
    for key, d in items.items():
        index.add(key, entry(d))
    index.remove(4)
    query = np.concatenate([noisy(items[3][:30], 5), descriptors(100)])
    before = index.candidates(query, 4)
    written = index.save(tmp_path)
    loaded = LocalIndex(vocabulary)
    loaded.load(tmp_path, written)
    assert loaded.candidates(query, 4) == before
    assert len(loaded) == 9
    assert loaded.slots(4) == []
    slot = before[0][1]
    original, copy = index.entry(slot), loaded.entry(slot)
    assert original is not None
    assert copy is not None
    assert np.array_equal(original.descriptors, copy.descriptors)
    other = LocalIndex(train(clustered(3000), coarse=4, fanout=4, iterations=2))
    with pytest.raises(ValueError, match="another vocabulary"):
        other.load(tmp_path, written)
