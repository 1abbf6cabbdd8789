"""A phone app's chrome around a picture (status bar, app bar, post header, actions,
text, navigation); the desktop browser is in :mod:`testkit.browser_chrome`.

As in :mod:`testkit.overlays`, each kind is a frozen parameter dataclass with a
``draw(rng)`` class method and a render function ``(picture, params) -> pixels``.
Sizes are relative to a fixed screen, so the same parameters put two
different pictures in the same chrome (:mod:`testkit.overlay_impostors`). Filler content
(the next post's user, its text) comes from a ``filler_seed`` in
the parameters, so it too is the same for the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from testkit.compositing import canvas, fit, paste
from testkit.drawing import (
    RGB,
    Encoding,
    Font,
    Points,
    bold,
    chance,
    circle,
    colour,
    fill_polygon,
    heart_points,
    outline_polygon,
    pick,
    put_text,
    rectangle,
    rounded_rectangle,
    rounded_rectangle_points,
    text_width,
    uniform,
    username,
    words,
    wrap,
)
from testkit.edits import Pixels

LIGHT_BACKGROUNDS: tuple[RGB, ...] = ((255, 255, 255), (250, 250, 250), (245, 245, 247))
DARK_BACKGROUNDS: tuple[RGB, ...] = ((0, 0, 0), (18, 18, 18), (28, 28, 30))


@dataclass(frozen=True)
class Inks:
    """Text and rule colours of a light or dark user interface."""

    ink: RGB
    muted: RGB
    rule: RGB

    @classmethod
    def of(cls, dark: bool) -> Inks:
        if dark:
            return cls((245, 245, 245), (168, 168, 168), (54, 54, 54))
        return cls((20, 20, 20), (120, 120, 120), (219, 219, 219))


# Phone app screenshot ----------------------------------------------------------

PHONE_SCREENS: tuple[tuple[int, int], ...] = (
    (1080, 2340),
    (750, 1334),
    (1170, 2532),
    (1080, 1920),
    (720, 1600),
    (1284, 2778),
)
"""Portrait screen sizes in pixels (width, height) of common phones."""
APP_NAMES = ("Instaframe", "Snapgram", "Pixly", "Glimpse", "Moments", "Vibely", "Picstream")


@dataclass(frozen=True)
class PhoneChrome:
    """A social app's post on a phone, screenshotted: status bar (clock, signal,
    battery), optional app bar with the app's name, post header (avatar circle,
    user name), the picture at the content width or ``inset`` (share of the screen
    width left blank on each side, 0.03-0.08), action icons, likes, caption and
    comment lines, optional bottom navigation; light or dark theme."""

    width: int
    height: int
    dark: bool
    background: RGB
    app_name: str | None
    user: str
    avatar: RGB
    inset: float
    liked: bool
    likes: int
    comments: int
    caption: str
    hours: int
    clock: str
    battery: float
    bottom_nav: bool
    font: Font
    filler_seed: int
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PhoneChrome:
        width, height = pick(rng, PHONE_SCREENS)
        dark = chance(rng, 0.5)
        return cls(
            width=width,
            height=height,
            dark=dark,
            background=pick(rng, DARK_BACKGROUNDS if dark else LIGHT_BACKGROUNDS),
            app_name=pick(rng, APP_NAMES) if chance(rng, 0.7) else None,
            user=username(rng),
            avatar=colour(rng, 40, 230),
            inset=0.0 if chance(rng, 0.6) else uniform(rng, 0.03, 0.08),
            liked=chance(rng, 0.4),
            likes=int(rng.integers(3, 250_000)),
            comments=int(rng.integers(0, 5000)),
            caption=words(rng, 3, 9),
            hours=int(rng.integers(1, 24)),
            clock=f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d}",
            battery=uniform(rng, 0.1, 1.0),
            bottom_nav=chance(rng, 0.8),
            font=Font.draw(rng),
            filler_seed=int(rng.integers(2**31)),
            encoding=Encoding.draw(rng, png_share=0.6, quality=(80, 95)),
        )


def phone_screenshot(picture: Pixels, chrome: PhoneChrome) -> Pixels:
    """The picture in ``chrome``'s post view; the screen's size in pixels."""
    w, h = chrome.width, chrome.height
    u = w / 1080  # the layout is designed on a 1080 px wide screen
    inks = Inks.of(chrome.dark)
    out = canvas(w, h, chrome.background)
    y = _phone_status_bar(out, chrome, inks, u)
    if chrome.app_name is not None:
        y = _phone_app_bar(out, chrome.app_name, chrome.font, inks, y, u)
    y = _phone_post_header(out, chrome.user, chrome.avatar, chrome.font, inks, y, u)
    nav = round(150 * u) if chrome.bottom_nav else round(40 * u)
    below = round(130 * u + 5 * 62 * u)
    room = max(40, h - nav - below - y)
    shown = fit(picture, w * (1 - 2 * chrome.inset), room)
    paste(out, shown, (w - shown.shape[1]) // 2, y)
    y += shown.shape[0]
    y = _phone_actions(out, chrome.liked, inks, y, u)
    y = _phone_text(out, chrome, inks, y, u)
    filler = np.random.default_rng(chrome.filler_seed)
    if y + round(140 * u) < h - nav:  # the next post, its picture still loading
        y = _phone_post_header(
            out, username(filler), colour(filler, 40, 230), chrome.font, inks, y, u
        )
        rectangle(out, 0, y, w, h - nav, inks.rule)
    if chrome.bottom_nav:
        _phone_nav(out, chrome.background, inks, h - nav, u)
    return out


def _phone_status_bar(out: Pixels, chrome: PhoneChrome, inks: Inks, u: float) -> int:
    tall = chrome.height / chrome.width > 2  # notched phones have a taller status bar
    bar = round(chrome.height * (0.05 if tall else 0.03))
    cap = bar * 0.32
    put_text(
        out, chrome.clock, (90 if tall else 30) * u, (bar - cap) / 2, cap, inks.ink, chrome.font
    )
    right = chrome.width - (80 if tall else 30) * u
    bw, bh = 60 * u, cap * 1.1
    top = (bar - bh) / 2
    rectangle(out, right - bw, top, right, top + bh, inks.ink)
    rectangle(
        out, right - bw + 3 * u, top + 3 * u, right - 3 * u, top + bh - 3 * u, chrome.background
    )
    level = (bw - 8 * u) * chrome.battery
    fill_ink = inks.ink if chrome.battery > 0.2 else (230, 60, 50)
    rectangle(
        out, right - bw + 4 * u, top + 4 * u, right - bw + 4 * u + level, top + bh - 4 * u, fill_ink
    )
    rectangle(out, right, top + bh * 0.3, right + 5 * u, top + bh * 0.7, inks.ink)
    for i in range(4):  # signal bars
        x = right - bw - 110 * u + i * 18 * u
        rectangle(out, x, top + bh * (1 - (i + 1) / 4), x + 12 * u, top + bh, inks.ink)
    return bar


def _phone_app_bar(out: Pixels, name: str, font: Font, inks: Inks, y: int, u: float) -> int:
    bar = round(130 * u)
    put_text(out, name, 40 * u, y + bar / 2 - 24 * u, 48 * u, inks.ink, bold(font))
    w = out.shape[1]
    outline_polygon(out, heart_points(w - 190 * u, y + bar / 2, 64 * u), inks.ink, round(5 * u))
    plane = np.array(
        [[w - 110, y + bar / 2 + 26], [w - 50, y + bar / 2 - 30], [w - 115, y + bar / 2]]
    )
    outline_polygon(out, _scaled_x(plane, w, u), inks.ink, round(5 * u))
    return y + bar


def _scaled_x(points: Points, width: int, u: float) -> Points:
    """Icon points designed relative to the right edge of a 1080 px screen, rescaled."""
    scaled = points.astype(np.float64).copy()
    scaled[:, 0] = width - (width - scaled[:, 0]) * u
    return scaled


def _phone_post_header(
    out: Pixels, user: str, avatar: RGB, font: Font, inks: Inks, y: int, u: float
) -> int:
    bar = round(140 * u)
    r = 44 * u
    circle(out, 40 * u + r, y + bar / 2, r + 5 * u, (225, 48, 108))
    circle(out, 40 * u + r, y + bar / 2, r, avatar)
    put_text(out, user, 40 * u + 2 * r + 28 * u, y + bar / 2 - 15 * u, 30 * u, inks.ink, bold(font))
    for i in range(3):
        circle(out, out.shape[1] - (60 + 20 * i) * u, y + bar / 2, 5 * u, inks.ink)
    return y + bar


def _phone_actions(out: Pixels, liked: bool, inks: Inks, y: int, u: float) -> int:
    row = round(130 * u)
    cy = y + row / 2
    thick = round(5 * u)
    heart = heart_points(75 * u, cy, 70 * u)
    if liked:
        fill_polygon(out, heart, (237, 73, 86))
    else:
        outline_polygon(out, heart, inks.ink, thick)
    circle(out, 185 * u, cy, 30 * u, inks.ink, thick)
    plane = np.array([[255, cy + 28 * u], [320, cy - 30 * u], [250, cy - 2 * u]], dtype=np.float64)
    plane[:, 0] *= u
    outline_polygon(out, plane, inks.ink, thick)
    x = out.shape[1] - 90 * u
    mark = np.array(
        [
            [x, cy - 32 * u],
            [x + 46 * u, cy - 32 * u],
            [x + 46 * u, cy + 32 * u],
            [x + 23 * u, cy + 12 * u],
            [x, cy + 32 * u],
        ]
    )
    outline_polygon(out, mark, inks.ink, thick)
    return y + row


def _phone_text(out: Pixels, chrome: PhoneChrome, inks: Inks, y: int, u: float) -> int:
    """Likes, user name and caption (wrapped to at most two lines), comments, time."""
    x, line, cap = 40 * u, 62 * u, 30 * u
    heavy = bold(chrome.font)
    put_text(out, f"{chrome.likes:,} likes", x, y, cap, inks.ink, heavy)
    put_text(out, chrome.user, x, y + line, cap, inks.ink, heavy)
    indent = text_width(chrome.user, cap, heavy) + 16 * u
    lines = wrap(chrome.caption, cap, chrome.font, out.shape[1] - 2 * x, indent)
    if len(lines) > 2:
        lines = [lines[0], f"{lines[1]} ... more"]
    for i, text in enumerate(lines):
        put_text(
            out, text, x + (indent if i == 0 else 0), y + (1 + i) * line, cap, inks.ink, chrome.font
        )
    y += round((1 + len(lines)) * line)
    comments = f"View all {chrome.comments} comments"
    put_text(out, comments, x, y, cap, inks.muted, chrome.font)
    put_text(out, f"{chrome.hours} hours ago", x, y + line, 24 * u, inks.muted, chrome.font)
    return round(y + 2 * line)


def _phone_nav(out: Pixels, background: RGB, inks: Inks, y: int, u: float) -> None:
    w, h = out.shape[1], out.shape[0]
    rectangle(out, 0, y, w, h, background)
    rectangle(out, 0, y, w, y + max(1, round(2 * u)), inks.rule)
    cy = y + 65 * u
    thick = round(5 * u)
    xs = [w * (i + 0.5) / 5 for i in range(5)]
    house = np.array([[-30, 30], [-30, -8], [0, -34], [30, -8], [30, 30]]) * u + [xs[0], cy]
    outline_polygon(out, house, inks.ink, thick)
    circle(out, xs[1] - 6 * u, cy - 6 * u, 24 * u, inks.ink, thick)
    cv2.line(
        out,
        (round(xs[1] + 12 * u), round(cy + 12 * u)),
        (round(xs[1] + 32 * u), round(cy + 32 * u)),
        inks.ink,
        thick,
    )
    outline_polygon(
        out,
        rounded_rectangle_points(xs[2] - 32 * u, cy - 32 * u, xs[2] + 32 * u, cy + 32 * u, 12 * u),
        inks.ink,
        thick,
    )
    rectangle(out, xs[2] - 18 * u, cy - 2 * u, xs[2] + 18 * u, cy + 3 * u, inks.ink)
    rectangle(out, xs[2] - 2 * u, cy - 18 * u, xs[2] + 3 * u, cy + 18 * u, inks.ink)
    outline_polygon(
        out,
        rounded_rectangle_points(xs[3] - 32 * u, cy - 32 * u, xs[3] + 32 * u, cy + 32 * u, 12 * u),
        inks.ink,
        thick,
    )
    fill_polygon(out, np.array([[-10, -14], [16, 0], [-10, 14]]) * u + [xs[3], cy], inks.ink)
    circle(out, xs[4], cy, 30 * u, inks.muted)
    if h / w > 2:  # home indicator of phones without a home button
        rounded_rectangle(
            out, w / 2 - 140 * u, h - 30 * u, w / 2 + 140 * u, h - 20 * u, 5 * u, inks.ink
        )
