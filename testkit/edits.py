"""Real re-upload edits of a photo, shared by the tests and the robustness benchmark.

Each edit takes RGB uint8 pixels and returns the bytes a platform would receive.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
Edit = Callable[[Pixels], bytes]


def load_rgb(path: str) -> Pixels:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def jpeg(pixels: Pixels, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def png(pixels: Pixels) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def resize(pixels: Pixels, scale: float) -> Pixels:
    h, w = pixels.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def pad(pixels: Pixels, share: float, colour: tuple[int, int, int] = (0, 0, 0)) -> Pixels:
    """Pad every side by ``share`` of the image's size on that axis."""
    h, w = pixels.shape[:2]
    dy, dx = round(h * share / 2), round(w * share / 2)
    out = cv2.copyMakeBorder(pixels, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=colour)
    return np.asarray(out, dtype=np.uint8)


def letterbox(pixels: Pixels, aspect: float = 16 / 9) -> Pixels:
    """Place the photo on a black canvas of another aspect ratio (bars top/bottom or sides)."""
    h, w = pixels.shape[:2]
    if w / h < aspect:
        new_w = round(h * aspect)
        left = (new_w - w) // 2
        out = cv2.copyMakeBorder(pixels, 0, 0, left, new_w - w - left, cv2.BORDER_CONSTANT)
    else:
        new_h = round(w / aspect)
        top = (new_h - h) // 2
        out = cv2.copyMakeBorder(pixels, top, new_h - h - top, 0, 0, cv2.BORDER_CONSTANT)
    return np.asarray(out, dtype=np.uint8)


def crop_center(pixels: Pixels, area: float) -> Pixels:
    """Keep the centre ``area`` share of the image (same aspect ratio)."""
    h, w = pixels.shape[:2]
    side = area**0.5
    ch, cw = round(h * side), round(w * side)
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(pixels[top : top + ch, left : left + cw])


def crop_offset(pixels: Pixels, area: float, corner: str = "top_left") -> Pixels:
    """Keep ``area`` share of the image, anchored at a corner."""
    h, w = pixels.shape[:2]
    side = area**0.5
    ch, cw = round(h * side), round(w * side)
    top = 0 if "top" in corner else h - ch
    left = 0 if "left" in corner else w - cw
    return np.ascontiguousarray(pixels[top : top + ch, left : left + cw])


def mirror(pixels: Pixels) -> Pixels:
    return np.ascontiguousarray(pixels[:, ::-1])


def rotate90(pixels: Pixels, times: int = 1) -> Pixels:
    """Rotate clockwise by 90 degrees ``times`` times."""
    return np.ascontiguousarray(np.rot90(pixels, -times))


def rotate_small(pixels: Pixels, degrees: float) -> Pixels:
    """Rotate by a few degrees about the centre, keeping the size (corners go black)."""
    h, w = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.asarray(cv2.warpAffine(pixels, matrix, (w, h)), dtype=np.uint8)


def grayscale(pixels: Pixels) -> Pixels:
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), dtype=np.uint8)


def brightness(pixels: Pixels, factor: float) -> Pixels:
    scaled = pixels.astype(np.float32) * np.float32(factor)
    return np.asarray(np.clip(scaled, 0, 255), dtype=np.uint8)


def contrast(pixels: Pixels, factor: float) -> Pixels:
    values = pixels.astype(np.float32)
    mean = np.float32(values.mean())
    return np.asarray(np.clip((values - mean) * np.float32(factor) + mean, 0, 255), dtype=np.uint8)


def gamma(pixels: Pixels, value: float) -> Pixels:
    table = np.clip(((np.arange(256) / 255.0) ** value) * 255.0, 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(pixels, table), dtype=np.uint8)


def blur(pixels: Pixels, sigma: float = 2.0) -> Pixels:
    return np.asarray(cv2.GaussianBlur(pixels, (0, 0), sigma), dtype=np.uint8)


def noise(pixels: Pixels, sigma: float = 10.0, seed: int = 0) -> Pixels:
    rng = np.random.default_rng(seed)
    noisy = pixels.astype(np.float32) + rng.normal(0, sigma, pixels.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def banner(pixels: Pixels, share: float = 0.15, text: str = "hashwall re-upload") -> Pixels:
    """A semi-transparent white text banner across ``share`` of the height."""
    h, w = pixels.shape[:2]
    out = pixels.copy()
    band_h = max(4, round(h * share))
    top = (h - band_h) // 2
    band = out[top : top + band_h].astype(np.float32)
    out[top : top + band_h] = (band * 0.5 + 255 * 0.5).astype(np.uint8)
    cv2.putText(
        out,
        text,
        (w // 20, top + band_h * 2 // 3),
        cv2.FONT_HERSHEY_SIMPLEX,
        band_h / 40,
        (0, 0, 0),
        max(1, band_h // 15),
        cv2.LINE_AA,
    )
    return out


def screenshot(pixels: Pixels) -> Pixels:
    """The photo shown smaller inside a phone app's frame: status bar, toolbar, buttons."""
    h, w = pixels.shape[:2]
    frame_w = round(w * 1.1)
    frame_h = round(h * 1.6)
    frame = np.full((frame_h, frame_w, 3), 245, dtype=np.uint8)
    frame[: round(frame_h * 0.06)] = (30, 30, 30)  # status bar
    cv2.putText(
        frame,
        "12:34  LTE  87%",
        (10, round(frame_h * 0.045)),
        cv2.FONT_HERSHEY_SIMPLEX,
        frame_h / 1200,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
    frame[round(frame_h * 0.06) : round(frame_h * 0.14)] = (250, 250, 250)  # toolbar
    cv2.putText(
        frame,
        "< Photo",
        (10, round(frame_h * 0.115)),
        cv2.FONT_HERSHEY_SIMPLEX,
        frame_h / 900,
        (20, 20, 200),
        2,
        cv2.LINE_AA,
    )
    inner = resize(pixels, 0.9)
    ih, iw = inner.shape[:2]
    top, left = round(frame_h * 0.18), (frame_w - iw) // 2
    frame[top : top + ih, left : left + iw] = inner
    y = top + ih + round(frame_h * 0.05)
    for i, label in enumerate(("Like", "Share", "Save")):
        cv2.putText(
            frame,
            label,
            (left + i * iw // 3, y),
            cv2.FONT_HERSHEY_SIMPLEX,
            frame_h / 1100,
            (90, 90, 90),
            1,
            cv2.LINE_AA,
        )
    return frame


def squash(pixels: Pixels, width_share: float = 0.8) -> Pixels:
    h, w = pixels.shape[:2]
    out = cv2.resize(pixels, (max(8, round(w * width_share)), h), interpolation=cv2.INTER_AREA)
    return np.asarray(out, dtype=np.uint8)


def combo(pixels: Pixels) -> bytes:
    """Crop to 90% area, resize to 60%, JPEG quality 50."""
    return jpeg(resize(crop_center(pixels, 0.9), 0.6), 50)


EDITS: dict[str, Edit] = {
    "jpeg_q70": lambda p: jpeg(p, 70),
    "jpeg_q30": lambda p: jpeg(p, 30),
    "resize_50": lambda p: jpeg(resize(p, 0.5)),
    "resize_25": lambda p: jpeg(resize(p, 0.25)),
    "crop_center_90": lambda p: jpeg(crop_center(p, 0.9)),
    "crop_center_75": lambda p: jpeg(crop_center(p, 0.75)),
    "crop_offset_90": lambda p: jpeg(crop_offset(p, 0.9, "top_left")),
    "crop_offset_75": lambda p: jpeg(crop_offset(p, 0.75, "bottom_right")),
    "pad_10_black": lambda p: jpeg(pad(p, 0.10, (0, 0, 0))),
    "pad_20_black": lambda p: jpeg(pad(p, 0.20, (0, 0, 0))),
    "pad_10_white": lambda p: jpeg(pad(p, 0.10, (255, 255, 255))),
    "pad_20_white": lambda p: jpeg(pad(p, 0.20, (255, 255, 255))),
    "pad_20_colour": lambda p: jpeg(pad(p, 0.20, (200, 40, 120))),
    "letterbox": lambda p: jpeg(letterbox(p)),
    "mirror": lambda p: jpeg(mirror(p)),
    "rotate_90": lambda p: jpeg(rotate90(p, 1)),
    "rotate_180": lambda p: jpeg(rotate90(p, 2)),
    "rotate_3deg": lambda p: jpeg(rotate_small(p, 3)),
    "rotate_5deg": lambda p: jpeg(rotate_small(p, 5)),
    "rotate_7deg": lambda p: jpeg(rotate_small(p, 7)),
    "grayscale": lambda p: jpeg(grayscale(p)),
    "brightness_+30": lambda p: jpeg(brightness(p, 1.3)),
    "contrast_-30": lambda p: jpeg(contrast(p, 0.7)),
    "gamma_0.7": lambda p: jpeg(gamma(p, 0.7)),
    "blur": lambda p: jpeg(blur(p)),
    "noise": lambda p: jpeg(noise(p)),
    "text_banner": lambda p: jpeg(banner(p)),
    "screenshot": lambda p: png(screenshot(p)),
    "squash_80": lambda p: jpeg(squash(p)),
    "crop_resize_jpeg": combo,
}
"""Every edit the robustness benchmark applies, by name."""
