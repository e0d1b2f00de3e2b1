"""A drawn figure facing the camera (framed half-body by `world`), posed by a seeded motion, with
true keypoints.

Local units: the pelvis centre is the origin, y points down, one unit is the torso length. The
figure has volume (shirt torso, sleeves, trousers, shoes, hands, a drawn head) because mediapipe
pose does not find stick figures. Its joints are returned in mediapipe pose's 33-landmark layout so
estimated keypoints compare index by index with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omni.demo.draw import Canvas, Color, Pose2D, capsule, ellipse
from omni.demo.face import FaceState, Look, draw_head

HEAD_SCALE = (
    0.34  # face half-width in body units (a big cartoon head: its mouth must read at 32 px)
)
NECK = np.array([0.0, -1.0])
HEAD = np.array([0.0, -1.38])
UPPER_ARM, FOREARM, THIGH, SHIN = 0.55, 0.5, 0.7, 0.66
# Body extent in units above / below the pelvis (hair top, shoe soles).
TOP, BOTTOM = 1.38 + HEAD_SCALE * 1.45, 0.08 + THIGH + SHIN + 0.12
VIEW_BOTTOM = 0.4
"""Half-body framing: the frame shows the figure from the hair down to the upper thighs (units
below the pelvis), so the face is big enough for lip sync and the arms gesture across the frame."""


@dataclass(frozen=True)
class Motion:
    """A pose sequence: each joint angle is offset + amplitude * sin(2 pi f t + phase)."""

    offset: np.ndarray  # (7,) shoulder L/R, elbow L/R, hip L/R, torso lean (radians)
    amplitude: np.ndarray  # (7,)
    freq: np.ndarray  # (7,) Hz
    phase: np.ndarray  # (7,)
    sway: float  # sideways drift amplitude in units

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Motion:
        offset = np.array(
            [*rng.uniform(0.25, 0.9, 2), *rng.uniform(0.2, 1.2, 2), *rng.uniform(0.04, 0.14, 2), 0]
        )
        amplitude = np.array(
            [
                *rng.uniform(0.3, 0.9, 2),
                *rng.uniform(0.2, 0.8, 2),
                *rng.uniform(0.0, 0.12, 2),
                rng.uniform(0.02, 0.1),
            ]
        )
        return cls(
            offset=offset,
            amplitude=amplitude,
            freq=rng.uniform(0.25, 0.9, 7),
            phase=rng.uniform(0, 2 * np.pi, 7),
            sway=float(rng.uniform(0.0, 0.25)),
        )

    def angles(self, t: float) -> np.ndarray:
        """(7,) joint angles at time t seconds."""
        return self.offset + self.amplitude * np.sin(2 * np.pi * self.freq * t + self.phase)


@dataclass(frozen=True)
class Outfit:
    shirt: Color
    trousers: Color
    shoes: Color


def _direction(angle: float) -> np.ndarray:
    """Unit vector at `angle` from straight down, turning towards +x."""
    return np.array([np.sin(angle), np.cos(angle)])


def skeleton(angles: np.ndarray) -> dict[str, np.ndarray]:
    """Joint positions in body units for the 7 angles (the person's left is on the image right)."""
    sh_l, sh_r, el_l, el_r, hip_l, hip_r, lean = angles
    c, s = np.cos(lean), np.sin(lean)
    tilt = np.array([[c, -s], [s, c]])  # the upper body leans about the pelvis
    joints = {"neck": tilt @ NECK, "head": tilt @ HEAD}
    for side, sign, shoulder, elbow in (("left", 1, sh_l, el_l), ("right", -1, sh_r, el_r)):
        sh = tilt @ np.array([sign * 0.42, -0.9])
        el = sh + UPPER_ARM * _direction(sign * (shoulder + lean))
        wr = el + FOREARM * _direction(sign * (shoulder + elbow + lean))
        joints |= {f"{side}_shoulder": sh, f"{side}_elbow": el, f"{side}_wrist": wr}
    for side, sign, hip in (("left", 1, hip_l), ("right", -1, hip_r)):
        hp = np.array([sign * 0.2, 0.05])
        kn = hp + THIGH * _direction(sign * hip)
        an = kn + SHIN * _direction(sign * hip * 0.3)
        joints |= {f"{side}_hip": hp, f"{side}_knee": kn, f"{side}_ankle": an}
    return joints


def draw_body(
    canvas: Canvas,
    joints: dict[str, np.ndarray],
    look: Look,
    outfit: Outfit,
    face: FaceState,
    pose: Pose2D,
    head_turn: float = 0.0,
) -> None:
    """Paint the figure: legs, torso, arms, neck, head."""
    for side in ("left", "right"):
        hip, knee, ankle = (joints[f"{side}_{j}"] for j in ("hip", "knee", "ankle"))
        canvas.fill(capsule(hip, knee, 0.14), outfit.trousers, pose)
        canvas.fill(capsule(knee, ankle, 0.12), outfit.trousers, pose)
        toe = 1 if side == "left" else -1
        canvas.fill(ellipse(ankle[0] + toe * 0.08, ankle[1] + 0.06, 0.17, 0.08), outfit.shoes, pose)
    sl, sr = joints["left_shoulder"], joints["right_shoulder"]
    torso = np.array(
        [
            sr + np.array([-0.05, -0.05]),
            sl + np.array([0.05, -0.05]),
            [0.3, -0.1],
            [0.34, 0.15],
            [-0.34, 0.15],
            [-0.3, -0.1],
        ]
    )
    canvas.fill(torso, outfit.shirt, pose)
    canvas.fill(
        capsule(joints["neck"], joints["head"] * 0.7 + joints["neck"] * 0.3, 0.1), look.skin, pose
    )
    for side in ("left", "right"):
        sh, el, wr = (joints[f"{side}_{j}"] for j in ("shoulder", "elbow", "wrist"))
        canvas.fill(capsule(sh, el, 0.11), outfit.shirt, pose)
        canvas.fill(capsule(el, wr, 0.085), look.skin, pose)
        canvas.fill(ellipse(*(wr + 0.06 * (wr - el) / FOREARM), 0.1, 0.1), look.skin, pose)
    head = pose.apply(joints["head"][None])[0]
    draw_head(canvas, look, face, Pose2D(pose.scale * HEAD_SCALE, pose.angle + head_turn, *head))


# mediapipe pose landmark index -> (joint name) or (head-local point in face units)
_FACE_POINTS = {
    0: (0.0, 0.25),  # nose
    1: (0.3, -0.22),
    2: (0.4, -0.22),
    3: (0.5, -0.22),  # left eye inner / centre / outer (person's left = image right)
    4: (-0.3, -0.22),
    5: (-0.4, -0.22),
    6: (-0.5, -0.22),
    7: (0.98, 0.05),  # left ear
    8: (-0.98, 0.05),
    9: (0.3, 0.65),  # mouth left
    10: (-0.3, 0.65),
}
_BODY_POINTS = {
    11: "left_shoulder",
    12: "right_shoulder",
    13: "left_elbow",
    14: "right_elbow",
    15: "left_wrist",
    16: "right_wrist",
    23: "left_hip",
    24: "right_hip",
    25: "left_knee",
    26: "right_knee",
    27: "left_ankle",
    28: "right_ankle",
}


def keypoints(joints: dict[str, np.ndarray], pose: Pose2D, head_turn: float = 0.0) -> np.ndarray:
    """(33, 2) pixel positions in mediapipe pose order; hand and foot tips follow the limb ends."""
    out = np.zeros((33, 2))
    head = pose.apply(joints["head"][None])[0]
    head_pose = Pose2D(pose.scale * HEAD_SCALE, pose.angle + head_turn, *head)
    face = head_pose.apply(np.array(list(_FACE_POINTS.values())))
    out[list(_FACE_POINTS)] = face
    for index, name in _BODY_POINTS.items():
        out[index] = pose.apply(joints[name][None])[0]
    for side, sign, base in (("left", 1, 17), ("right", -1, 18)):
        el, wr = joints[f"{side}_elbow"], joints[f"{side}_wrist"]
        along = (wr - el) / FOREARM
        across = np.array([-along[1], along[0]]) * sign
        tips = [
            wr + 0.14 * along - 0.05 * across,
            wr + 0.16 * along,
            wr + 0.06 * along + 0.08 * across,
        ]
        out[[base, base + 2, base + 4]] = pose.apply(np.array(tips))  # pinky, index, thumb
        an = joints[f"{side}_ankle"]
        out[29 + (sign < 0)] = pose.apply((an + np.array([-sign * 0.05, 0.1]))[None])[0]  # heel
        out[31 + (sign < 0)] = pose.apply((an + np.array([sign * 0.22, 0.08]))[None])[
            0
        ]  # foot index
    return out
