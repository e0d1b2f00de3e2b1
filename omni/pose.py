"""The one pose estimator of omni: mediapipe pose (model_complexity=1) + hands, fully offline.

Curation (pose scores and keypoint side files), generation (pose from a driving video) and
evaluation (HKC/HKV) all call `estimate_keypoints`, so a keypoint means the same thing everywhere.

Keypoint layout, K = 75 per frame:
    0..32   body, mediapipe pose landmarks (0 nose, 11/12 shoulders, 15/16 wrists, 23/24 hips, ...)
    33..53  the person's left hand, mediapipe hand landmarks (33 = wrist, 37 = thumb tip, ...)
    54..74  the person's right hand
`xy` is normalised to [0, 1] by the frame's width and height (it may stray slightly outside for
joints the model extrapolates off-frame); missing joints are NaN with `conf` 0. Body confidence is
mediapipe's per-landmark visibility; a hand's 21 points share that hand's detection score.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_BODY = 33
NUM_HAND = 21
NUM_KEYPOINTS = NUM_BODY + 2 * NUM_HAND
LEFT_HAND = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_HAND, NUM_KEYPOINTS)
LEFT_WRIST, RIGHT_WRIST = 15, 16  # body landmarks the hands are attached to
KEYPOINTS_VERSION = 1

# Heatmap channels of `render_heatmaps`: one per major body joint, then grouped parts.
HEATMAP_GROUPS: dict[str, list[int]] = {
    "nose": [0],
    "left_shoulder": [11],
    "right_shoulder": [12],
    "left_elbow": [13],
    "right_elbow": [14],
    "left_wrist": [15],
    "right_wrist": [16],
    "left_hip": [23],
    "right_hip": [24],
    "left_knee": [25],
    "right_knee": [26],
    "left_ankle": [27],
    "right_ankle": [28],
    "face": list(range(1, 11)),  # eyes, ears, mouth corners
    "feet": [29, 30, 31, 32],  # heels and toes
    "left_hand": list(range(LEFT_HAND.start, LEFT_HAND.stop)),
    "right_hand": list(range(RIGHT_HAND.start, RIGHT_HAND.stop)),
}


@dataclass
class Keypoints:
    """Per-frame keypoints: `xy` (T, K, 2) in [0, 1], `conf` (T, K) in [0, 1]; NaN/0 where missing."""

    xy: np.ndarray
    conf: np.ndarray

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, dtype=np.float32)
        self.conf = np.asarray(self.conf, dtype=np.float32)
        if self.xy.ndim != 3 or self.xy.shape[2] != 2 or self.conf.shape != self.xy.shape[:2]:
            raise ValueError(
                f"keypoints must be xy (T, K, 2) and conf (T, K), got {self.xy.shape} and "
                f"{self.conf.shape}"
            )

    def __len__(self) -> int:
        return self.xy.shape[0]

    def __getitem__(self, index) -> Keypoints:
        """Frames `index` (a slice or an index array) of these keypoints."""
        return Keypoints(self.xy[index], self.conf[index])


class PoseEstimator:
    """mediapipe Pose (model_complexity=1) + Hands in video mode; create one per process and reuse.
    Their graphs run on the calling thread (`omni.mpgraph`).

    Hands run only on frames where pose sees a wrist (hands are then tracked between frames), which
    keeps head-and-shoulder footage cheap. Each hand is attached to the nearer body wrist;
    mediapipe's handedness label (which assumes a mirrored selfie image) is used only when the
    body is not found.
    """

    def __init__(self, hands: bool = True, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        from omni.mpgraph import on_calling_thread

        self._pose = on_calling_thread(mp.solutions.pose.Pose)(
            static_image_mode=False,
            model_complexity=1,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._hands = (
            on_calling_thread(mp.solutions.hands.Hands)(
                static_image_mode=False,
                max_num_hands=2,
                model_complexity=1,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
            if hands
            else None
        )

    def close(self) -> None:
        self._pose.close()
        if self._hands is not None:
            self._hands.close()

    def reset(self) -> None:
        """Forget the tracked person before frames of another clip (keeps the loaded models)."""
        self._pose.reset()
        if self._hands is not None:
            self._hands.reset()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, frames: np.ndarray) -> Keypoints:
        """frames (T, H, W, 3) uint8 RGB, consecutive video frames -> Keypoints (T, 75)."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}"
            )
        xy = np.full((len(frames), NUM_KEYPOINTS, 2), np.nan, np.float32)
        conf = np.zeros((len(frames), NUM_KEYPOINTS), np.float32)
        for t, frame in enumerate(frames):
            frame = np.ascontiguousarray(frame)
            body = self._pose.process(frame).pose_landmarks
            if body is not None:
                points = np.array([(p.x, p.y, p.visibility) for p in body.landmark], np.float32)
                xy[t, :NUM_BODY] = points[:, :2]
                conf[t, :NUM_BODY] = points[:, 2]
            wrist_seen = body is None or conf[t, [LEFT_WRIST, RIGHT_WRIST]].max() >= 0.3
            if self._hands is not None and wrist_seen:
                self._add_hands(frame, xy[t], conf[t])
        return Keypoints(xy, conf)

    def _add_hands(self, frame: np.ndarray, xy: np.ndarray, conf: np.ndarray) -> None:
        result = self._hands.process(frame)
        if not result.multi_hand_landmarks:
            return
        taken: set[str] = set()
        hands = sorted(
            zip(result.multi_hand_landmarks, result.multi_handedness, strict=True),
            key=lambda h: -h[1].classification[0].score,
        )
        for landmarks, handedness in hands:
            points = np.array([(p.x, p.y) for p in landmarks.landmark], np.float32)
            score = handedness.classification[0].score
            side = _hand_side(points[0], xy, conf, handedness.classification[0].label, taken)
            if side is None:
                continue
            taken.add(side)
            part = LEFT_HAND if side == "left" else RIGHT_HAND
            xy[part] = points
            conf[part] = score


def _hand_side(
    wrist: np.ndarray, xy: np.ndarray, conf: np.ndarray, label: str, taken: set[str]
) -> str | None:
    free = [s for s in ("left", "right") if s not in taken]
    if not free:
        return None
    body_wrists = {"left": LEFT_WRIST, "right": RIGHT_WRIST}
    seen = [s for s in free if conf[body_wrists[s]] > 0.1]
    if seen:
        return min(seen, key=lambda s: float(np.linalg.norm(xy[body_wrists[s]] - wrist)))
    mirrored = "right" if label == "Left" else "left"  # mediapipe labels a mirrored image
    return mirrored if mirrored in free else free[0]


def estimate_keypoints(frames: np.ndarray, hands: bool = True) -> Keypoints:
    """Keypoints of the main person in consecutive frames (T, H, W, 3) uint8 -> (T, 75)."""
    with PoseEstimator(hands=hands) as estimator:
        return estimator(frames)


def save_keypoints(path: str | os.PathLike, kp: Keypoints, times: np.ndarray) -> Path:
    """Write keypoints and their frame times (seconds on the video timeline) as .npz, atomically."""
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (len(kp),):
        raise ValueError(f"times must be ({len(kp)},) to match the keypoints, got {times.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz.part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f, xy=kp.xy, conf=kp.conf, times=times, version=np.int64(KEYPOINTS_VERSION)
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_keypoints(path: str | os.PathLike) -> tuple[Keypoints, np.ndarray]:
    """Read a keypoints side file -> (Keypoints, times (T,) seconds)."""
    with np.load(path) as data:
        version = int(data["version"]) if "version" in data else None
        if version != KEYPOINTS_VERSION:
            raise ValueError(
                f"{path}: keypoints file version {version}, expected {KEYPOINTS_VERSION}; "
                "re-run `omni curate score --scorers pose` to rewrite it"
            )
        return Keypoints(data["xy"], data["conf"]), data["times"].astype(np.float64)


def resample_keypoints(kp: Keypoints, times: np.ndarray, new_times: np.ndarray) -> Keypoints:
    """Keypoints at `new_times`: positions linearly interpolated, confidence from the nearer frame.

    A joint missing in either neighbouring frame stays missing, so gaps are never bridged.
    """
    times, new_times = np.asarray(times, np.float64), np.asarray(new_times, np.float64)
    if len(times) != len(kp) or len(times) == 0:
        raise ValueError(f"need one time per keypoint frame, got {len(times)} for {len(kp)}")
    after = np.searchsorted(times, new_times, side="right")
    lo = np.clip(after - 1, 0, len(times) - 1)  # last frame at or before each new time
    hi = np.clip(after, 0, len(times) - 1)  # first frame after it
    span = np.where(times[hi] > times[lo], times[hi] - times[lo], 1.0)
    w = np.clip((new_times - times[lo]) / span, 0.0, 1.0)[:, None, None]  # (T', 1, 1)
    xy = (1 - w) * kp.xy[lo] + w * kp.xy[hi]  # NaN in either neighbour stays NaN
    nearer = np.where(w[:, 0, 0] < 0.5, lo, hi)
    conf = np.where(np.isnan(xy).any(-1), 0.0, kp.conf[nearer])
    return Keypoints(xy, conf)


def render_heatmaps(kp: Keypoints, height: int, width: int, sigma: float = 2.0) -> np.ndarray:
    """Gaussian keypoint heatmaps (K', T, H, W) float32 in [0, 1], K' = len(HEATMAP_GROUPS) = 17.

    Channels follow `HEATMAP_GROUPS`: 13 single body joints, then face, feet, left hand and right
    hand, each the pixel-wise max over its joints. A peak's height is the joint's confidence;
    missing joints draw nothing. `sigma` is in output pixels.
    """
    if height <= 0 or width <= 0 or sigma <= 0:
        raise ValueError(f"need positive height, width, sigma; got {height}, {width}, {sigma}")
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width  # pixel centres in [0, 1]
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    out = np.zeros((len(HEATMAP_GROUPS), len(kp), height, width), np.float32)
    for channel, joints in enumerate(HEATMAP_GROUPS.values()):
        xy = kp.xy[:, joints]  # (T, J, 2)
        conf = np.where(np.isnan(xy).any(-1), 0.0, np.clip(kp.conf[:, joints], 0, 1))  # (T, J)
        xy = np.nan_to_num(xy, nan=-10.0)
        gx = np.exp(-(((xs[None, None] - xy[..., :1]) * width) ** 2) / (2 * sigma**2))  # (T,J,W)
        gy = np.exp(-(((ys[None, None] - xy[..., 1:]) * height) ** 2) / (2 * sigma**2))  # (T,J,H)
        for j in range(len(joints)):  # max over joints, one (T, H, W) at a time to bound memory
            peak = conf[:, j, None, None] * gy[:, j, :, None] * gx[:, j, None, :]  # (T, H, W)
            np.maximum(out[channel], peak, out=out[channel])
    return out
