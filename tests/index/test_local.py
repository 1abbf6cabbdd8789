"""The local-feature index: votes by visual word, checked on the descriptors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from index.entries import Entry
from index.local import LocalIndex
from index.postings import bucket_bits
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


def test_words_are_the_nearest_coarse_then_fine_centroid_first_on_ties() -> None:
    vocabulary = Vocabulary.bundled()
    codes = np.concatenate(
        [
            descriptors(300),
            # Centroids themselves and their copies one bit off, where distances tie.
            vocabulary.coarse[:40].view(np.uint8).reshape(-1, 32),
            noisy(vocabulary.fine[::997].view(np.uint8).reshape(-1, 32), 1),
        ]
    )

    def distances(code: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        bits = np.unpackbits(centroids.view(np.uint8).reshape(-1, 32), axis=1)
        return np.asarray((np.unpackbits(code) != bits).sum(axis=1), np.int64)

    expected = []
    for code in codes:
        c = int(distances(code, vocabulary.coarse).argmin())  # argmin: the first on ties
        first = c * vocabulary.fanout
        block = vocabulary.fine[first : first + vocabulary.fine_counts[c]]
        expected.append(first + int(distances(code, block).argmin()))
    assert vocabulary.words(codes).tolist() == expected


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
    assert index.candidates(query, 5) == ranked  # nothing of a search is left for the next
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


@pytest.mark.parametrize("fold", [10**9, 50])
def test_a_keypoint_is_voted_for_once_however_often_the_upload_repeats_it(
    vocabulary: Vocabulary, fold: int
) -> None:
    rng = np.random.default_rng(11)
    index = LocalIndex(vocabulary, fold_postings=fold)
    glyph, picture = descriptors(1, rng), descriptors(96, rng)
    # Item 1 shows one glyph of an app's text among other content; item 2 is the picture.
    index.add(1, entry(np.concatenate([glyph, descriptors(95, rng)])))
    index.add(2, entry(picture))
    for key in range(3, 30):
        index.add(key, entry(descriptors(96, rng)))
    # An upload of the app's screen: the glyph 40 times over, and 8 of the
    # picture's keypoints; mirrored, the same again.
    upload = np.concatenate([np.repeat(glyph, 40, axis=0), picture[:8]])
    ranked = index.candidates(np.concatenate([upload, upload]), 3, mirrored_from=len(upload))
    assert [f.key for f in ranked] == [2, 1]
    # The glyph's 80 copies voted as one would, once for each side.
    once = index.candidates(np.concatenate([glyph, glyph]), 1, mirrored_from=1)
    assert [f.key for f in once] == [1]
    assert ranked[1].score == pytest.approx(once[0].score)
    assert ranked[1].mirrored == pytest.approx(0.5)


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


def test_a_large_index_splits_words_into_buckets_and_still_finds_items(
    vocabulary: Vocabulary, tmp_path: Path
) -> None:
    rng = np.random.default_rng(11)
    index = LocalIndex(vocabulary, fold_postings=5_000)
    items = {key: descriptors(96, rng) for key in range(1, 401)}
    for key, d in items.items():
        index.add(key, entry(d))
    index.save(tmp_path)
    # 38,400 postings over 256 words: about 150 a word, so four bucket bits.
    assert bucket_bits(400 * 96, vocabulary.size) == 4
    assert len(np.load(tmp_path / "word_starts.npy")) == (vocabulary.size << 4) + 1
    for key in (3, 150, 399):
        query = np.concatenate([noisy(items[key][:30], 6, rng), descriptors(200, rng)])
        assert index.candidates(query, 3)[0].key == key
    assert bucket_bits(1000, 256) == 0


def test_a_loaded_index_maps_its_entries_and_takes_changes(
    vocabulary: Vocabulary, tmp_path: Path
) -> None:
    index = LocalIndex(vocabulary, fold_postings=10**9)
    items = {key: descriptors(60) for key in range(1, 21)}
    for key, d in items.items():
        index.add(key, entry(d))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    loaded = LocalIndex(vocabulary, fold_postings=10**9)
    loaded.load(first, index.save(first))
    assert loaded.mapped_bytes() > 0
    resident = loaded.memory_bytes()
    # Changes after the load: a new item, a removed mapped one, a replaced one.
    extra = descriptors(60)
    loaded.add(30, entry(extra))
    loaded.remove(5)
    loaded.replace(6, [entry(items[7])])
    assert loaded.memory_bytes() > resident
    query = np.concatenate([noisy(extra[:30], 5), descriptors(100)])
    assert loaded.candidates(query, 2)[0].key == 30
    gone = np.concatenate([noisy(items[5][:30], 5), descriptors(100)])
    assert 5 not in [found.key for found in loaded.candidates(gone, 4)]
    seven = np.concatenate([noisy(items[7][:30], 5), descriptors(100)])
    assert {found.key for found in loaded.candidates(seven, 2)} == {6, 7}
    # Saved again (mapped rows and new ones together) and loaded into memory.
    again = LocalIndex(vocabulary)
    again.load(second, loaded.save(second), mapped=False)
    assert again.mapped_bytes() == 0
    assert len(again) == 20
    for key in (1, 30, 6):
        slot = again.slots(key)[-1]
        back = again.entry(slot)
        assert back is not None
        expected = {1: items[1], 30: extra, 6: items[7]}[key]
        assert np.array_equal(back.descriptors, expected)
    assert again.candidates(query, 2) == loaded.candidates(query, 2)


@pytest.mark.parametrize("damaged", ["descriptors.npy", "xy.npy", "postings.npy"])
def test_a_truncated_file_is_refused_at_load(
    vocabulary: Vocabulary, tmp_path: Path, damaged: str
) -> None:
    """Entries are mapped, not read: a short file must fail the load (which the
    snapshot reader turns into loading from the database), not a later search."""
    index = LocalIndex(vocabulary)
    for key in range(1, 6):
        index.add(key, entry(descriptors(40)))
    written = index.save(tmp_path)
    path = tmp_path / damaged
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(ValueError, match="mmap length|EOF|read all data"):
        LocalIndex(vocabulary).load(tmp_path, written)


def test_an_item_replaced_while_searched_is_always_found(vocabulary: Vocabulary) -> None:
    """A change feed replaying a registration replaces the item's entries while
    checks search: no search may fall between the removal and the adds."""
    index = LocalIndex(vocabulary)
    item = descriptors(96)
    for key in range(1, 21):
        index.add(key, entry(item if key == 7 else descriptors(96)))
    query = np.concatenate([noisy(item[:40], 6), descriptors(200)])
    done = threading.Event()

    def replay() -> None:
        while not done.is_set():
            index.replace(7, [entry(item)])

    thread = threading.Thread(target=replay)
    thread.start()
    try:
        missed = sum(7 not in [f.key for f in index.candidates(query, 3)] for _ in range(400))
    finally:
        done.set()
        thread.join()
    assert missed == 0
    assert len(index.slots(7)) == 1


def test_replaying_an_item_as_it_is_keeps_the_slots_a_search_voted_for(
    vocabulary: Vocabulary,
) -> None:
    """A process replays its own registration from the change feed: a check that
    voted for the item's slot just before must still read that slot's entry
    (it read None, and the check answered allow, before)."""
    index = LocalIndex(vocabulary)
    item = entry(descriptors(96))
    index.replace(7, [item])
    index.add(8, entry(descriptors(96)))
    voted = index.candidates(noisy(item.descriptors[:40], 6), 1)[0]
    index.replace(7, [item])
    assert voted.key == 7
    assert index.entry(voted.slot) is not None
    assert index.slots(7) == [voted.slot]
    changed = entry(descriptors(96))
    index.replace(7, [changed])
    assert index.entry(voted.slot) is None
    assert len(index.slots(7)) == 1
