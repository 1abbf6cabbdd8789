"""Finding a picture shown inside a larger canvas: a screenshot of an app, a photo
posted inside a frame or a meme template.

Border trimming only removes uniform bars; a screenshot's bars carry text, icons
and buttons. Here the canvas background is the most common edge colour, every
pixel that differs from it is foreground, and the largest solid foreground blob
that is clearly smaller than the canvas is taken as the embedded picture.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from hashing.borders import Box, luma
from hashing.canvas import shrink

# Work on a small copy: the blob only needs to be found to within a few pixels.
WORK_SIDE = 256
# Luma levels a background pixel may stray from the background level.
BACKGROUND_TOLERANCE = 10
# The blob's bounding box must cover this share of the canvas at least (smaller is
# an icon or a thumbnail), at most MAX_AREA (larger is the whole image) ...
MIN_AREA = 0.12
MAX_AREA = 0.85
# ... and the blob must fill this share of its bounding box (a picture is solid;
# a column of text is not).
MIN_FILL = 0.8


def find_embedded(pixels: npt.NDArray[np.uint8]) -> Box | None:
    """The box of a picture embedded in a larger canvas (RGB pixels or luma), or None."""
    height, width = pixels.shape[:2]
    scale = WORK_SIDE / max(height, width)
    # As the hashing canvas is made: a direct area resize at this non-integer
    # ratio cost 1.0 ms a photo, this 0.2.
    small = shrink(luma(pixels), max(8, round(width * scale)), max(8, round(height * scale)))
    edge = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    levels = np.bincount(edge, minlength=256)
    background = int(np.argmax(levels))
    if levels[background] < 0.5 * edge.size:
        return None  # no dominant edge colour: not a canvas around a picture
    foreground = cv2.inRange(
        small, background - BACKGROUND_TOLERANCE, background + BACKGROUND_TOLERANCE
    )
    foreground = cv2.bitwise_not(foreground)
    # Close small gaps (flat patches inside the picture that match the background).
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count < 2:
        return None
    label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    left, top, w, h, area = (int(v) for v in stats[label])
    box_share = (w * h) / (small.shape[0] * small.shape[1])
    if not MIN_AREA <= box_share <= MAX_AREA or area < MIN_FILL * w * h:
        return None
    # Back to full resolution, one work pixel inwards on each side so that no
    # background row is kept.
    return Box(
        top=min(height - 1, round((top + 1) / scale)),
        bottom=max(1, round((top + h - 1) / scale)),
        left=min(width - 1, round((left + 1) / scale)),
        right=max(1, round((left + w - 1) / scale)),
    )
