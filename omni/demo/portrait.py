"""A real portrait that ships offline (scikit-image's astronaut) with its mouth opened by warping.

The lower lip and chin are pulled down by a smooth displacement field below the lip seam and the
gap is painted as a mouth cavity; the whole picture then moves (small rotation, shift, zoom) like a
head in front of a hand-held camera. Landmark positions are facts of that image (located once with
mediapipe's face mesh; a test checks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

# In skimage.data.astronaut() (512 x 512): lip seam centre, mouth half-width, chin, face centre.
SEAM = (223.3, 149.6)  # the lower lip's inner edge: the upper teeth stay put
MOUTH_HALF_WIDTH = 22.0
CHIN_Y = 175.5
FACE_CENTRE = (225.0, 125.0)
FACE_HEIGHT = 104.0  # forehead landmark to chin
MAX_DROP = 20.0  # extra lip gap at opening 1, source pixels
_ROI = (160, 136, 290, 230)  # x0, y0, x1, y1: where the warp can move pixels


@cache
def astronaut() -> np.ndarray:
    """(512, 512, 3) uint8 RGB, bundled with scikit-image (no download)."""
    from skimage import data

    return data.astronaut()


@dataclass(frozen=True)
class Framing:
    """One portrait identity's camera: zoom (face height / frame height), mirror, colour grade."""

    face_fraction: float  # face height as a fraction of the output frame
    mirror: bool
    gain: tuple[float, float, float]  # per-channel colour multipliers


def open_mouth(image: np.ndarray, opening: float) -> np.ndarray:
    """The astronaut with the lower lip dropped by `opening` in [0, 1] (returns a new image)."""
    out = image.copy()
    drop = MAX_DROP * float(np.clip(opening, 0.0, 1.0))
    if drop < 0.25:
        return out
    x0, y0, x1, y1 = _ROI
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    across = np.exp(-0.5 * ((xs - SEAM[0]) / (1.3 * MOUTH_HALF_WIDTH)) ** 2)
    below = np.clip((ys - SEAM[1]) / 3.0, 0.0, 1.0)
    fade = np.clip(1.0 - (ys - CHIN_Y) / (y1 - CHIN_Y), 0.0, 1.0)
    shift = drop * across * below * fade  # (h, w) downward displacement of the content
    out[y0:y1, x0:x1] = cv2.remap(image, xs, ys - shift, cv2.INTER_LINEAR)
    cavity = np.zeros((y1 - y0, x1 - x0), np.uint8)
    centre = (round((SEAM[0] - x0) * 16), round((SEAM[1] - 1 - y0) * 16))
    axes = (round(0.75 * MOUTH_HALF_WIDTH * 16), round(drop * 16))
    cv2.ellipse(cavity, centre, axes, 0, 0, 180, 255, -1, cv2.LINE_AA, 4)  # lower half
    alpha = cv2.GaussianBlur(cavity, (5, 5), 1.2).astype(np.float32)[..., None] / 255
    roi = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = (roi * (1 - alpha) + np.array([45, 12, 18]) * alpha).astype(np.uint8)
    return out


def camera(framing: Framing, size: int, angle: float, shift: tuple[float, float]) -> np.ndarray:
    """2x3 affine from astronaut pixels to an output frame of `size`, with head motion applied."""
    scale = framing.face_fraction * size / FACE_HEIGHT
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    cx, cy = FACE_CENTRE
    tx = size / 2 + shift[0] * size - (c * cx + s * cy)
    ty = size * 0.48 + shift[1] * size - (-s * cx + c * cy)
    matrix = np.array([[c, s, tx], [-s, c, ty]])
    if framing.mirror:
        matrix = np.array([[-1.0, 0, size], [0, 1, 0]]) @ np.vstack([matrix, [0, 0, 1]])
    return matrix


def render(framing: Framing, size: int, opening: float, angle: float, shift) -> np.ndarray:
    """One (size, size, 3) uint8 frame of the talking portrait."""
    warped = open_mouth(astronaut(), opening)
    frame = cv2.warpAffine(
        warped,
        camera(framing, size, angle, shift),
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.clip(frame * np.array(framing.gain), 0, 255).astype(np.uint8)
