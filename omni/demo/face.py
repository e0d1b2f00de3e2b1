"""A drawn cartoon head that mediapipe's face mesh recognises, with a mouth driven per frame.

Local units: the face is an ellipse of half-width 1 and half-height 1.3 centred at the origin,
y pointing down. Mediapipe needs the parts a face has (skin ellipse, eyes with whites, irises and
pupils, eyebrows, a nose line, lips); a bare emoji-style face is not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni.demo.draw import Canvas, Color, Pose2D, arc, ellipse, thick_polyline

MOUTH_Y = 0.62  # the upper lip's inner edge, in face units
MAX_OPENING = 0.5  # lip gap at opening 1, in face units (wide: the mouth must read at 32 px)


@dataclass(frozen=True)
class Look:
    """How one identity's head is drawn."""

    skin: Color
    hair: Color
    eyes: Color
    lips: Color
    hair_style: str  # "short" | "long" | "bald"
    aspect: float = 1.3  # face half-height / half-width


@dataclass(frozen=True)
class FaceState:
    """Per-frame state of the face."""

    opening: float  # lip gap in [0, 1]
    rounding: float = 0.0  # lip rounding in [0, 1] (narrower mouth)
    blink: float = 0.0  # eyelid closure in [0, 1]
    gaze: tuple[float, float] = (0.0, 0.0)  # pupil offset in eye-radius units


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)  # type: ignore[return-value]


def draw_head(canvas: Canvas, look: Look, state: FaceState, pose: Pose2D) -> None:
    """Paint hair, ears, face, eyes, brows, nose and mouth of one head at `pose`."""
    ry = look.aspect
    jaw = 0.45 * MAX_OPENING * state.opening  # the chin drops as the mouth opens
    if look.hair_style == "long":
        back = np.concatenate([arc(0, -0.1, 1.18, ry + 0.15, np.pi, 2 * np.pi), [[1.25, 1.4]]])
        canvas.fill(np.concatenate([back, [[-1.25, 1.4]]]), look.hair, pose)
    for side in (-1, 1):
        canvas.fill(ellipse(side * 0.98, 0.05, 0.16, 0.26), _shade(look.skin, 0.92), pose)
    upper = arc(0, 0, 1.0, ry, np.pi, 2 * np.pi)
    lower = arc(0, 0, 1.0, ry + jaw, 0, np.pi)
    canvas.fill(np.concatenate([upper, lower]), look.skin, pose)
    if look.hair_style != "bald":
        cap = np.concatenate(
            [
                arc(0, 0, 1.04, ry + 0.04, np.pi - 0.05, 2 * np.pi + 0.05),
                arc(0, -0.8, 0.9, 0.2, 0.1, np.pi - 0.1),
            ]
        )
        canvas.fill(cap, look.hair, pose)
    _eyes(canvas, look, state, pose)
    nose = np.array([[0.02, -0.12], [0.08, 0.22], [0.0, 0.3], [-0.07, 0.28]])
    canvas.fill(thick_polyline(nose, 0.05), _shade(look.skin, 0.7), pose)
    _mouth(canvas, look, state, pose)


def _eyes(canvas: Canvas, look: Look, state: FaceState, pose: Pose2D) -> None:
    open_ry = 0.13 * (1.0 - 0.9 * state.blink)
    for side in (-1, 1):
        cx, cy = side * 0.4, -0.22
        canvas.fill(ellipse(cx, cy, 0.24, open_ry), (245, 245, 240), pose)
        gx, gy = state.gaze
        ix, iy = cx + 0.08 * gx, cy + 0.05 * gy
        iris_r = min(0.11, open_ry)
        canvas.fill(ellipse(ix, iy, 0.11, iris_r), look.eyes, pose)
        canvas.fill(ellipse(ix, iy, 0.055, min(0.055, open_ry)), (15, 15, 20), pose)
        lid = arc(cx, cy, 0.25, open_ry + 0.02, np.pi + 0.1, 2 * np.pi - 0.1)
        canvas.fill(thick_polyline(lid, 0.04), (40, 30, 30), pose)
        brow = arc(cx, -0.42, 0.27, 0.1, np.pi + 0.25, 2 * np.pi - 0.25)
        canvas.fill(thick_polyline(brow, 0.08), _shade(look.hair, 0.8), pose)


def _mouth(canvas: Canvas, look: Look, state: FaceState, pose: Pose2D) -> None:
    gap = MAX_OPENING * float(np.clip(state.opening, 0.0, 1.0))
    half_w = 0.42 * (1.0 - 0.35 * state.rounding)
    cy = MOUTH_Y + gap / 2
    canvas.fill(ellipse(0, cy, half_w, gap / 2 + 0.085), look.lips, pose)
    if gap > 0.01:
        canvas.fill(ellipse(0, cy, 0.8 * half_w, gap / 2), (70, 20, 30), pose)
        teeth = min(0.05, gap / 3)
        canvas.fill(arc(0, MOUTH_Y, 0.6 * half_w, teeth, 0, np.pi), (240, 240, 235), pose)
    else:
        seam = arc(0, MOUTH_Y - 0.04, 0.8 * half_w, 0.05, 0.15, np.pi - 0.15)
        canvas.fill(thick_polyline(seam, 0.03), _shade(look.lips, 0.55), pose)
