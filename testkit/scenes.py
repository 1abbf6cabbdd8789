"""The picture inside a larger scene: photographed off a monitor, side by side with
another photo, or set into a corner of another photo (picture in picture).

Each kind is a frozen parameter dataclass with a ``draw(rng)`` class method (the
ranges are in its docstring) and a function that renders it as pixels; the edit
families (:mod:`testkit.families`) encode the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from testkit.compositing import (
    add_noise,
    canvas,
    fit,
    gaussian,
    resized,
)
from testkit.drawing import (
    RGB,
    Encoding,
    chance,
    colour,
    pick,
    rectangle,
    uniform,
)
from testkit.edits import Pixels

# Re-photographed off a monitor -----------------------------------------------


@dataclass(frozen=True)
class MonitorShot:
    """A phone photo of the picture on a monitor: the screen inside a bezel of
    ``bezel`` (0.015-0.06 of the screen width, a deeper chin below), seen in perspective
    (each monitor corner moved by up to a jitter of 5-15% of the monitor's size, each
    way) on a dark room ``margin`` (the jitter plus 0.02-0.1 of the monitor's size) wide,
    then the camera: blur sigma 0.5-1.5 px, gain 0.8-1.2, gamma 0.8-1.25, noise sigma
    2-7 grey levels, optional moire (a sinusoid of period 3-9 px, amplitude 3-10%),
    JPEG 70-92."""

    corners: tuple[float, ...]
    bezel: float
    bezel_ink: RGB
    room: RGB
    margin: float
    blur: float
    gain: float
    gamma: float
    noise: float
    moire: tuple[float, float, float] | None
    quality: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> MonitorShot:
        jitter = uniform(rng, 0.05, 0.15)
        moire = (uniform(rng, 3, 9), uniform(rng, 0, 180), uniform(rng, 0.03, 0.1))
        return cls(
            corners=tuple(uniform(rng, -jitter, jitter) for _ in range(8)),
            bezel=uniform(rng, 0.015, 0.06),
            bezel_ink=colour(rng, 5, 45),
            room=colour(rng, 10, 70),
            margin=jitter + uniform(rng, 0.02, 0.1),
            blur=uniform(rng, 0.5, 1.5),
            gain=uniform(rng, 0.8, 1.2),
            gamma=uniform(rng, 0.8, 1.25),
            noise=uniform(rng, 2, 7),
            moire=moire if chance(rng, 0.5) else None,
            quality=int(rng.integers(70, 93)),
        )


def monitor_photo_pixels(pixels: Pixels, shot: MonitorShot, rng: np.random.Generator) -> Pixels:
    """The photo's pixels; ``rng`` draws the sensor noise only."""
    w = pixels.shape[1]
    b = max(2, round(w * shot.bezel))
    monitor = cv2.copyMakeBorder(
        pixels, b, round(b * 1.8), b, b, cv2.BORDER_CONSTANT, value=shot.bezel_ink
    )
    mh, mw = monitor.shape[:2]
    mx, my = round(mw * shot.margin), round(mh * shot.margin)
    shade = np.linspace(1.15, 0.6, mh + 2 * my)[:, None, None]  # a lamp above
    column = np.clip(np.asarray(shot.room) * shade, 0, 255).astype(np.uint8)
    out = np.ascontiguousarray(np.broadcast_to(column, (mh + 2 * my, mw + 2 * mx, 3)))
    source = np.array([[0, 0], [mw, 0], [mw, mh], [0, mh]], dtype=np.float32)
    jitter = np.array(shot.corners, dtype=np.float32).reshape(4, 2) * [mw, mh]
    target = (source + [mx, my] + jitter).astype(np.float32)
    warp = cv2.getPerspectiveTransform(source, target)
    cv2.warpPerspective(monitor, warp, out.shape[1::-1], dst=out, borderMode=cv2.BORDER_TRANSPARENT)
    levels = np.clip((np.arange(256) / 255) ** shot.gamma * shot.gain * 255 + 0.5, 0, 255)
    out = np.asarray(cv2.LUT(out, levels.astype(np.uint8)), dtype=np.uint8)
    if shot.moire is not None:
        period, angle, amplitude = shot.moire
        turn = math.radians(angle)
        xs = np.arange(out.shape[1], dtype=np.float32) * np.float32(math.cos(turn) / period)
        ys = np.arange(out.shape[0], dtype=np.float32) * np.float32(math.sin(turn) / period)
        stripes = 1 + amplitude * np.sin(np.float32(2 * np.pi) * (ys[:, None] + xs[None, :]))
        out = np.asarray(cv2.convertScaleAbs(out * stripes[..., None]), dtype=np.uint8)
    blurred = gaussian(out, shot.blur)
    return add_noise(blurred, shot.noise, rng)


@dataclass(frozen=True)
class SideBySide:
    """The picture next to one other photo: left/right (``horizontal``) or top/bottom,
    the picture first or second. The picture is ``extent`` (300-800) pixels across the
    join (its height if side by side); the partner matches it (``partner_scale`` 1) or
    is 0.6-1.5 times that, the shorter one placed at ``align`` (0-1) of the spare room
    on a ``fill`` background; gutter 0-4% of ``extent``."""

    horizontal: bool
    first: bool
    extent: int
    partner_scale: float
    align: float
    gutter: float
    fill: RGB
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> SideBySide:
        return cls(
            horizontal=chance(rng, 0.65),
            first=chance(rng, 0.5),
            extent=int(rng.integers(300, 801)),
            partner_scale=1.0 if chance(rng, 0.5) else uniform(rng, 0.6, 1.5),
            align=pick(rng, (0.0, 0.5, 1.0, uniform(rng, 0, 1))),
            gutter=0.0 if chance(rng, 0.4) else uniform(rng, 0.005, 0.04),
            fill=pick(rng, ((255, 255, 255), (0, 0, 0), colour(rng))),
            encoding=Encoding.draw(rng, png_share=0.3),
        )


def side_by_side_pixels(pixels: Pixels, partner: Pixels, layout: SideBySide) -> Pixels:
    def across(image: Pixels, extent: float) -> Pixels:
        h, w = image.shape[:2]
        if layout.horizontal:
            return resized(image, round(w * extent / h), round(extent))
        return resized(image, round(extent), round(h * extent / w))

    tiles = [across(pixels, layout.extent), across(partner, layout.extent * layout.partner_scale)]
    if not layout.first:
        tiles.reverse()
    gap = round(layout.extent * layout.gutter)
    axis = 1 if layout.horizontal else 0
    cross = max(t.shape[1 - axis] for t in tiles)
    length = sum(t.shape[axis] for t in tiles) + gap
    out = (
        canvas(length, cross, layout.fill)
        if layout.horizontal
        else canvas(cross, length, layout.fill)
    )
    at = 0
    for tile in tiles:
        offset = round(layout.align * (cross - tile.shape[1 - axis]))
        x, y = (at, offset) if layout.horizontal else (offset, at)
        out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        at += tile.shape[axis] + gap
    return out


@dataclass(frozen=True)
class PictureInPicture:
    """The picture scaled to ``share`` (0.25-0.40) of the host's width, in a corner of
    another photo (the host, resized to ``host_width``, 640-1280 pixels), ``margin``
    (0.02-0.05 of the host width) from its edges, with a border of ``border`` (0 or
    0.004-0.015 of the host width)."""

    host_width: int
    share: float
    corner: str
    margin: float
    border: float
    border_ink: RGB
    encoding: Encoding

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PictureInPicture:
        return cls(
            host_width=int(rng.integers(640, 1281)),
            share=uniform(rng, 0.25, 0.40),
            corner=pick(rng, ("top_left", "top_right", "bottom_left", "bottom_right")),
            margin=uniform(rng, 0.02, 0.05),
            border=0.0 if chance(rng, 0.5) else uniform(rng, 0.004, 0.015),
            border_ink=pick(rng, ((255, 255, 255), (0, 0, 0), colour(rng))),
            encoding=Encoding.draw(rng, png_share=0.2),
        )


def picture_in_picture_pixels(pixels: Pixels, host: Pixels, layout: PictureInPicture) -> Pixels:
    hh, hw = host.shape[:2]
    out = resized(host, layout.host_width, round(hh * layout.host_width / hw))
    host_h, host_w = out.shape[:2]
    inset = fit(pixels, host_w * layout.share, host_h * 0.9)
    ih, iw = inset.shape[:2]
    edge = round(host_w * layout.border)
    margin = round(host_w * layout.margin) + edge
    x = margin if "left" in layout.corner else host_w - margin - iw
    y = margin if "top" in layout.corner else host_h - margin - ih
    if edge:
        rectangle(out, x - edge, y - edge, x + iw + edge, y + ih + edge, layout.border_ink)
    out[y : y + ih, x : x + iw] = inset
    return out
