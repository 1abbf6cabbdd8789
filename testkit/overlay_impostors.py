"""Impostor pairs that must NEVER block: different pictures under the same overlay.

Third-party images: :func:`scene_pairs` reads ``motorcycle_left.png`` and
``motorcycle_right.png`` from the installed scikit-image package (``skimage/data``;
scikit-image is BSD-3-Clause; the two images are a downsampled stereo pair from the
Middlebury 2014 stereo benchmark, Scharstein et al., GCPR 2014). They are not copied
into this repository.

In each pair of :func:`impostor_pairs` the registered item is photo A under an overlay
and the upload is a different photo B under the SAME overlay: the same parameters
(layout, text, fonts, colours, positions, encoding), drawn once from
``seeded("impostor", kind, A, B)`` and applied to both. A matcher that keys on the
chrome, text or shapes rather than on the picture would block B; none of these may.
Kinds (:data:`KINDS`), each one implementation from :mod:`testkit.phone_chrome` or
:mod:`testkit.overlays`, the same the edit families use:

* ``same_phone_chrome``: both pictures in one social app post screenshot
  (:class:`~testkit.phone_chrome.PhoneChrome`: same screen, theme, user, caption, icons).
* ``same_browser_chrome``: both on one browser window and web page
  (:class:`~testkit.phone_chrome.BrowserChrome`: same tabs, URL, page text, placement).
* ``same_caption``: the same caption banner (:class:`~testkit.overlays.Caption`).
* ``same_meme_text``: the same top/bottom meme text (:class:`~testkit.overlays.Meme`).
* ``same_watermark``: the same semi-transparent (20-50% opacity) text or logo mark,
  in a corner or tiled diagonally (:class:`~testkit.overlays.Watermark`).
* ``same_stickers``: the same 1-4 stickers at the same relative positions
  (:class:`~testkit.overlays.Stickers`).
* ``same_9x16_frame_text``: both reframed to 9:16 over a blurred copy of themselves
  with the same text overlay (:class:`~testkit.overlays.Reframe`).
* ``same_collage_partners``: A and B each in the same cell of one 2 x 2 collage layout
  (:class:`~testkit.overlays.Collage`) whose other three tiles are the SAME three
  photos. A hard case, reported on its own: three quarters of each collage is real,
  identical picture content, so a matcher may only decline because the registered
  item's own tile differs. The partners are drawn from ``names`` other than A and B
  (from all of ``photos`` when ``names`` has fewer than five), so when ``names`` are
  unregistered photos no partner is itself registered.

:func:`scene_pairs` gives ``same_scene``: two different shots of one scene (the left
and right views of a stereo pair, each way round), the case of burst photos and series.
scikit-image's ``chessboard_RGB.png`` and ``chessboard_GRAY.png`` are not used: they
are one picture stored twice (identical grey levels, checked with scikit-image 0.26),
an edit rather than a different shot.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from testkit import browser_chrome, layouts, overlays, phone_chrome, watermarks
from testkit.corpus import seeded
from testkit.edits import Pixels

Render = Callable[[Pixels], bytes]
"""One fixed overlay: a picture's pixels in, the upload's bytes out."""


@dataclass(frozen=True)
class ImpostorPair:
    """``registered`` (photo ``registered_photo`` under the overlay) is registered;
    checking ``upload`` (photo ``upload_photo`` under the same overlay) must not block.
    ``partners`` names the shared collage tiles (``same_collage_partners`` only)."""

    kind: str
    registered: bytes
    upload: bytes
    registered_photo: str
    upload_photo: str
    partners: tuple[str, ...] = ()


def _phone(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    app = phone_chrome.PhoneChrome.draw(rng)
    return lambda p: app.encoding.encode(phone_chrome.phone_screenshot(p, app))


def _browser(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    window = browser_chrome.BrowserChrome.draw(rng)
    return lambda p: window.encoding.encode(browser_chrome.browser_screenshot(p, window))


def _caption(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    caption = overlays.Caption.draw(rng)
    return lambda p: caption.encoding.encode(overlays.caption_banner(p, caption))


def _meme(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    meme = overlays.Meme.draw(rng)
    return lambda p: meme.encoding.encode(overlays.meme_text(p, meme))


def _watermark(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    mark = watermarks.Watermark.draw(rng)
    return lambda p: mark.encoding.encode(watermarks.watermark(p, mark))


def _stickers(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    layer = overlays.Stickers.draw(rng)
    return lambda p: layer.encoding.encode(overlays.stickers(p, layer))


def _reframe_text(rng: np.random.Generator, _partners: Sequence[Pixels]) -> Render:
    frame = layouts.Reframe.draw(rng, text=True)
    return lambda p: frame.encoding.encode(layouts.reframe_9x16(p, frame))


def _collage(rng: np.random.Generator, partners: Sequence[Pixels]) -> Render:
    layout = layouts.Collage.draw(rng)
    return lambda p: layout.encoding.encode(layouts.collage_2x2(p, partners, layout))


OVERLAYS: dict[str, Callable[[np.random.Generator, Sequence[Pixels]], Render]] = {
    "same_phone_chrome": _phone,
    "same_browser_chrome": _browser,
    "same_caption": _caption,
    "same_meme_text": _meme,
    "same_watermark": _watermark,
    "same_stickers": _stickers,
    "same_9x16_frame_text": _reframe_text,
    "same_collage_partners": _collage,
}
"""Each kind's overlay, drawn from a generator (and, for the collage, partner tiles)."""
KINDS: tuple[str, ...] = tuple(OVERLAYS)
HARD_KINDS: tuple[str, ...] = ("same_collage_partners",)
"""Kinds whose pairs share real picture content; report them apart from the rest."""
COLLAGE_PARTNERS = 3


def _partner_names(
    rng: np.random.Generator, photos: dict[str, Pixels], names: Sequence[str], a: str, b: str
) -> tuple[str, ...]:
    pool = sorted({n for n in names if n not in (a, b)})
    if not pool:
        raise ValueError("same_collage_partners needs partner photos")
    if len(pool) < COLLAGE_PARTNERS:
        pool = sorted(n for n in photos if n not in (a, b))
    if len(pool) < COLLAGE_PARTNERS:
        raise ValueError("same_collage_partners needs 3 photos besides each pair")
    chosen = rng.choice(len(pool), size=COLLAGE_PARTNERS, replace=False)
    return tuple(pool[int(i)] for i in chosen)


def impostor_pairs(
    photos: dict[str, Pixels],
    names: Sequence[str],
    kinds: Sequence[str] = KINDS,
    partners: Sequence[str] | None = None,
) -> list[ImpostorPair]:
    """For every kind and every i, A = ``names[2i]`` and B = ``names[2i + 1]``
    under one overlay: ``len(kinds) * (n // 2)`` pairs, deterministic for the same
    inputs. The pairs are disjoint, so no B is registered as an A under the same
    kind of overlay (that would make its upload a true match). ``photos`` maps
    names to RGB pixels and must hold every name. Collage partners are drawn from
    ``partners`` when given (photos registered nowhere, so that a collage's shared
    tiles are not themselves a match), else from ``names``. Raises ``ValueError``
    for fewer than two distinct names, ``KeyError`` for an unknown kind or photo."""
    if len(set(names)) < 2:
        raise ValueError("impostor pairs need at least two different photos")
    pairs = []
    for kind in kinds:
        overlay = OVERLAYS[kind]
        for a, b in zip(names[0::2], names[1::2], strict=False):
            if a == b:
                continue
            rng = seeded("impostor", kind, a, b)
            tiles: tuple[str, ...] = ()
            if kind == "same_collage_partners":
                tiles = _partner_names(rng, photos, partners or names, a, b)
            render = overlay(rng, [photos[n] for n in tiles])
            pairs.append(ImpostorPair(kind, render(photos[a]), render(photos[b]), a, b, tiles))
    return pairs


SCENE_PAIRS: tuple[tuple[str, str], ...] = (
    ("motorcycle_left.png", "motorcycle_right.png"),
    ("motorcycle_right.png", "motorcycle_left.png"),
)
"""(registered, upload) files in scikit-image's ``skimage/data``: a stereo pair."""


def scene_pairs() -> list[ImpostorPair]:
    """Two shots of one scene, as the installed files' bytes (PNG), kind ``same_scene``.
    Needs scikit-image installed (the ``dev`` extra); raises ``FileNotFoundError``
    if its data folder lacks the files."""
    data = importlib.resources.files("skimage") / "data"
    return [
        ImpostorPair("same_scene", (data / a).read_bytes(), (data / b).read_bytes(), a, b)
        for a, b in SCENE_PAIRS
    ]
