"""The synthetic people: identities, what a caption says about them, and their rendered clips.

An `Identity` fixes how a person is drawn (named, jittered colours; face size and shape; hair
style; backdrop). `render_clip` turns an identity, a speech track and (for bodies) a motion into
frames plus their per-frame `Truth`: the mouth opening is the speech envelope averaged over each
frame, head motion and blinks are seeded, and body keypoints are exact.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from omni.demo import body, portrait
from omni.demo.draw import Canvas, Pose2D
from omni.demo.face import FaceState, Look, draw_head
from omni.demo.speech import Speech

KINDS = ("face", "portrait", "body")

# Named colours, so that captions say what is drawn.
SKIN = {
    "pale": (247, 214, 190),
    "light": (236, 188, 158),
    "tan": (212, 160, 118),
    "brown": (160, 106, 72),
    "dark": (100, 66, 46),
}
HAIR = {
    "black": (28, 24, 24),
    "brown": (96, 58, 34),
    "blond": (224, 188, 112),
    "red": (168, 66, 30),
    "grey": (168, 168, 172),
}
SHIRT = {
    "red": (200, 48, 48),
    "blue": (44, 100, 200),
    "green": (46, 150, 70),
    "yellow": (232, 196, 40),
    "purple": (120, 60, 160),
    "orange": (236, 128, 36),
    "white": (236, 236, 236),
    "teal": (30, 140, 140),
}
BACKDROP = {
    "sky blue": (120, 170, 220),
    "mint": (160, 210, 180),
    "grey": (150, 150, 155),
    "beige": (220, 200, 160),
    "pink": (230, 170, 190),
    "lilac": (190, 170, 220),
}
TROUSERS = {
    "dark blue": (40, 46, 80),
    "black": (30, 30, 34),
    "brown": (100, 70, 46),
    "grey": (110, 110, 116),
}
EYES = [(70, 110, 160), (90, 60, 40), (60, 120, 80), (50, 40, 35)]


@dataclass(frozen=True)
class Identity:
    """One synthetic person: how they are drawn and what a caption says about them."""

    identity_id: str
    kind: str
    look: Look
    outfit: body.Outfit
    backdrop: tuple[int, int, int]
    face_scale: float  # face half-width / frame size (face), or figure height / frame (body)
    framing: portrait.Framing | None = None
    names: dict[str, str] = field(default_factory=dict)  # colour names for the caption


def _pick(rng: np.random.Generator, table: dict) -> tuple[str, tuple[int, int, int]]:
    name = list(table)[int(rng.integers(len(table)))]
    jitter = rng.integers(-8, 9, 3)
    return name, tuple(int(v) for v in np.clip(np.array(table[name]) + jitter, 0, 255))


def make_identity(identity_id: str, kind: str, rng: np.random.Generator) -> Identity:
    """A new identity of `kind`, drawn from `rng` (colours jittered, so no two are equal)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    skin_name, skin = _pick(rng, SKIN)
    hair_name, hair = _pick(rng, HAIR)
    shirt_name, shirt = _pick(rng, SHIRT)
    backdrop_name, backdrop = _pick(rng, BACKDROP)
    trousers_name, trousers = _pick(rng, TROUSERS)
    style = ["short", "long", "bald"][int(rng.choice(3, p=[0.45, 0.4, 0.15]))]
    lips = tuple(int(v) for v in np.clip(0.55 * np.array(skin) + [95, 20, 30], 0, 255))
    look = Look(
        skin=skin,
        hair=hair,
        eyes=EYES[int(rng.integers(len(EYES)))],
        lips=lips,
        hair_style=style,
        aspect=float(rng.uniform(1.2, 1.4)),
    )
    outfit = body.Outfit(shirt=shirt, trousers=trousers, shoes=(35, 28, 26))
    names = {
        "skin": skin_name,
        "hair": hair_name,
        "style": style,
        "shirt": shirt_name,
        "backdrop": backdrop_name,
        "trousers": trousers_name,
    }
    framing = None
    if kind == "portrait":
        framing = portrait.Framing(
            face_fraction=float(rng.uniform(0.38, 0.5)),
            mirror=bool(rng.integers(2)),
            gain=tuple(float(g) for g in rng.uniform(0.9, 1.1, 3)),
        )
    scale = float(rng.uniform(0.27, 0.31) if kind == "face" else rng.uniform(0.8, 0.9))
    return Identity(identity_id, kind, look, outfit, backdrop, scale, framing, names)


def caption(identity: Identity) -> str:
    """One sentence describing the clip, built only from what was drawn."""
    n = identity.names
    hair = "a bald head" if n["style"] == "bald" else f"{n['style']} {n['hair']} hair"
    if identity.kind == "portrait":
        return "A smiling astronaut with short light brown hair, in an orange spacesuit, talks to the camera."
    if identity.kind == "face":
        return (
            f"A cartoon person with {n['skin']} skin, {hair} and a {n['shirt']} shirt talks "
            f"to the camera in front of a {n['backdrop']} wall."
        )
    return (
        f"A half-body cartoon person with {n['skin']} skin, {hair}, a {n['shirt']} shirt and "
        f"{n['trousers']} trousers moves their arms while talking, in front of a {n['backdrop']} wall."
    )


@dataclass
class Truth:
    """Per-frame ground truth of one clip (what drove the picture)."""

    mouth: np.ndarray  # (T,) lip opening in [0, 1] = speech envelope averaged over the frame
    rounding: np.ndarray  # (T,) lip rounding in [0, 1]
    head: np.ndarray  # (T, 3) head angle (rad), shift x, shift y (fractions of the frame)
    blink: np.ndarray  # (T,) eyelid closure in [0, 1]
    keypoints: (
        np.ndarray
    )  # (T, 33, 2) true body keypoints in [0, 1], mediapipe pose order; NaN if none
    times: np.ndarray  # (T,) frame times in seconds

    def save(self, path: Path) -> None:
        atomic_write(path, lambda tmp: np.savez_compressed(tmp, **asdict(self)), suffix=".npz")


def load_truth(path: str | os.PathLike) -> Truth:
    """Read a clip's `truth/<clip>.npz` written by `make_demo_dataset`."""
    with np.load(path) as data:
        return Truth(**{k: data[k] for k in Truth.__dataclass_fields__})


def head_motion(rng: np.random.Generator, times: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """(T, 3) smooth head angle and shift: a few slow sinusoids plus a small nod with speech."""
    freqs = rng.uniform(0.15, 0.7, (3, 2))
    phases = rng.uniform(0, 2 * np.pi, (3, 2))
    amps = np.array([0.06, 0.02, 0.015])[:, None] * rng.uniform(0.4, 1.0, (3, 2))
    waves = (
        amps[None] * np.sin(2 * np.pi * freqs[None] * times[:, None, None] + phases[None])
    ).sum(-1)
    waves[:, 2] += 0.012 * mouth  # the head dips slightly on loud syllables
    return waves


def blinks(rng: np.random.Generator, times: np.ndarray, fps: float) -> np.ndarray:
    """(T,) eyelid closure with a blink (closing and opening over ~0.16 s) every 2-5 s."""
    out = np.zeros(len(times))
    t = rng.uniform(0.5, 2.5)
    half = 0.08
    while t < times[-1] + half:
        out = np.maximum(out, np.clip(1 - np.abs(times - t) / half, 0, 1))
        t += rng.uniform(2.0, 5.0)
    return out


def render_clip(
    identity: Identity,
    speech: Speech,
    motion: body.Motion | None,
    rng: np.random.Generator,
    num_frames: int,
    fps: float,
    size: int,
    head_scale: float = 1.0,
) -> tuple[np.ndarray, Truth]:
    """Frames (T, size, size, 3) uint8 and their ground truth; deterministic for `rng`'s state.

    `head_scale` multiplies the head motion (0: the head stays put, only mouth and eyes move).
    """
    times = np.arange(num_frames) / fps
    mouth, rounding = speech.per_frame(fps, num_frames)
    mouth = np.clip(mouth, 0.0, 1.0)
    head = head_motion(rng, times, mouth) * head_scale
    blink = blinks(rng, times, fps)
    keypoints = np.full((num_frames, 33, 2), np.nan)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for k in range(num_frames):
        face = FaceState(float(mouth[k]), float(rounding[k]), float(blink[k]))
        angles = motion.angles(times[k]) if motion is not None else REST_ANGLES
        sway = motion.sway * np.sin(2 * np.pi * 0.2 * times[k]) if motion is not None else 0.0
        frames[k], keypoints[k] = render_frame(identity, face, head[k], angles, sway, size)
    return frames, Truth(mouth, rounding, head, blink, keypoints, times)


REST_ANGLES = np.array([0.3, 0.3, 0.2, 0.2, 0.08, 0.08, 0.0])  # arms a little out, legs apart


def render_frame(
    identity: Identity,
    face: FaceState,
    head: np.ndarray,
    angles: np.ndarray,
    sway: float,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame (size, size, 3) uint8 and its body keypoints (33, 2) in [0, 1] (NaN if no body).

    `head` is (angle, shift x, shift y); `angles` and `sway` (body units) pose a body figure.
    """
    keypoints = np.full((33, 2), np.nan)
    if identity.kind == "portrait":
        return portrait.render(identity.framing, size, face.opening, head[0], head[1:]), keypoints
    canvas = _backdrop(identity.backdrop, size)
    if identity.kind == "face":
        _draw_portrait(canvas, identity, face, head, size)
    else:
        keypoints = _draw_figure(canvas, identity, face, angles, sway, head, size) / size
    return canvas.image, keypoints


def _backdrop(color: tuple[int, int, int], size: int) -> Canvas:
    """A wall with a soft vertical gradient (lighter at the top)."""
    shade = np.linspace(1.08, 0.85, size)[:, None, None]
    image = np.clip(np.array(color)[None, None] * shade, 0, 255)
    return Canvas(size, size, np.broadcast_to(image, (size, size, 3)))


def _draw_portrait(canvas: Canvas, identity: Identity, face: FaceState, head, size: int) -> None:
    scale = identity.face_scale * size
    centre_x, centre_y = size / 2, size * 0.47
    shoulders = Pose2D(scale, 0.0, centre_x, centre_y)
    canvas.fill(
        np.array([[-2.6, 1.75], [2.6, 1.75], [3.4, 6.0], [-3.4, 6.0]]),
        identity.outfit.shirt,
        shoulders,
    )
    neck = np.array([[-0.42, 0.8], [0.42, 0.8], [0.46, 1.95], [-0.46, 1.95]])
    canvas.fill(neck, tuple(int(c * 0.9) for c in identity.look.skin), shoulders)
    angle, dx, dy = head
    draw_head(
        canvas,
        identity.look,
        face,
        Pose2D(scale, angle, centre_x + dx * size, centre_y + dy * size),
    )


def _draw_figure(canvas, identity, face, angles, sway, head, size) -> np.ndarray:
    unit = identity.face_scale * size / (body.TOP + body.VIEW_BOTTOM)
    top = (size - (body.TOP + body.VIEW_BOTTOM) * unit) / 2
    pose = Pose2D(unit, 0.0, size / 2 + sway * unit, top + body.TOP * unit)
    joints = body.skeleton(angles)
    body.draw_body(canvas, joints, identity.look, identity.outfit, face, pose, head_turn=head[0])
    return body.keypoints(joints, pose, head_turn=head[0])


def reference_image(identity: Identity, size: int) -> np.ndarray:
    """The identity at rest (mouth closed, head straight, arms down): its reference picture."""
    image, _ = render_frame(identity, FaceState(0.0), np.zeros(3), REST_ANGLES, 0.0, size)
    return image


def atomic_write(path: Path, write, suffix: str = "") -> None:
    """Run write(tmp_path) then rename onto `path`, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
