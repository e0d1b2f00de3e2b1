"""Drawing primitives: anti-aliased filled shapes placed through one 2D similarity transform.

Shapes are given in a local frame (a face's or a body's own units) and mapped to pixels by a
`Pose2D` (scale, rotation, translation), so head motion is one transform rather than a redraw of
every coordinate. OpenCV's fixed-point polygon filling with LINE_AA gives sub-pixel placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import cv2
import numpy as np

_SHIFT = 4  # fixed-point bits for sub-pixel coordinates
_ONE = 1 << _SHIFT

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Pose2D:
    """Local units -> pixels: p_px = scale * R(angle) @ p + (tx, ty)."""

    scale: float
    angle: float = 0.0  # radians, counter-clockwise on screen
    tx: float = 0.0
    ty: float = 0.0

    @cached_property
    def _matrix(self) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(self.angle), np.sin(self.angle)
        # image y grows downwards, so a counter-clockwise turn on screen is R(-angle) in (x, y)
        return self.scale * np.array([[c, -s], [s, c]]), np.array([self.tx, self.ty])

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) local -> (N, 2) pixel coordinates."""
        linear, offset = self._matrix
        return points @ linear + offset


@cache
def _unit_arc(start: float, end: float, n: int) -> np.ndarray:
    theta = np.linspace(start, end, n)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    """(n, 2) points on an axis-aligned ellipse."""
    return _unit_arc(0.0, 2 * np.pi * (n - 1) / n, n) * (rx, ry) + (cx, cy)


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24):
    """(n, 2) points on an elliptical arc from angle `start` to `end` (radians)."""
    return _unit_arc(float(start), float(end), n) * (rx, ry) + (cx, cy)


def capsule(a: np.ndarray, b: np.ndarray, radius: float, n: int = 12) -> np.ndarray:
    """(2n, 2) outline of a rounded segment from point a to point b (a limb)."""
    d = b - a
    angle = np.arctan2(d[1], d[0])
    left = angle + np.pi / 2
    cap_b = angle - np.pi / 2 + np.linspace(0, np.pi, n)
    cap_a = left + np.linspace(0, np.pi, n)
    return np.concatenate(
        [
            b + radius * np.stack([np.cos(cap_b), np.sin(cap_b)], axis=1),
            a + radius * np.stack([np.cos(cap_a), np.sin(cap_a)], axis=1),
        ]
    )


def thick_polyline(points: np.ndarray, width: float) -> np.ndarray:
    """Outline of an open polyline drawn `width` thick (for eyebrows and lip lines)."""
    d = np.gradient(points, axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
    half = normal * width / 2
    return np.concatenate([points + half, (points - half)[::-1]])


class Canvas:
    """An RGB uint8 image to paint shapes on."""

    def __init__(self, height: int, width: int, background: Color | np.ndarray):
        if isinstance(background, np.ndarray):
            self.image = np.ascontiguousarray(background, dtype=np.uint8).copy()
        else:
            self.image = np.empty((height, width, 3), np.uint8)
            self.image[:] = background

    def fill(self, points: np.ndarray, color: Color, pose: Pose2D | None = None) -> None:
        """Fill one polygon given in local units (mapped by `pose`) or pixels (pose None)."""
        px = pose.apply(points) if pose is not None else points
        fixed = np.round(px * _ONE).astype(np.int32)[None]
        cv2.fillPoly(self.image, fixed, color, lineType=cv2.LINE_AA, shift=_SHIFT)
