"""The one pose estimator of omni: mediapipe pose (model_complexity=1) + hands, fully offline.

Curation (pose scores and keypoint side files), generation (pose from a driving video) and
evaluation (HKC/HKV) all call `estimate_keypoints`, so a keypoint means the same thing everywhere.

Keypoint layout, K = 75 per frame:
    0..32   body, mediapipe pose landmarks (0 nose, 11/12 shoulders, 15/16 wrists, 23/24 hips, ...)
    33..53  the person's left hand, mediapipe hand landmarks (33 = wrist, 37 = thumb tip, ...)
    54..74  the person's right hand
`xy` is normalised to [0, 1] by the frame's width and height (it may stray slightly outside for
joints the model extrapolates off-frame); missing joints are NaN with `conf` 0. Body confidence is
mediapipe's per-landmark visibility; a hand's 21 points share the hand landmark model's presence
score (`PoseEstimator`: hands are found from the body).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

NUM_BODY = 33
NUM_HAND = 21
NUM_KEYPOINTS = NUM_BODY + 2 * NUM_HAND
LEFT_HAND = slice(NUM_BODY, NUM_BODY + NUM_HAND)
RIGHT_HAND = slice(NUM_BODY + NUM_HAND, NUM_KEYPOINTS)
LEFT_WRIST, RIGHT_WRIST = 15, 16  # body landmarks the hands are attached to
KEYPOINTS_VERSION = 2  # 2: hands found from the body, conf = hand presence score

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
    """mediapipe pose (model_complexity=1) with the hands found from the body, in video mode;
    create one per process and reuse. Its graph runs on the calling thread (`omni.mpgraph`).

    The graph is mediapipe Holistic's without its face part: pose landmarks, then for each arm
    whose wrist pose sees (visibility ≥ `WRIST_SEEN`) a hand region from the wrist, index and pinky
    landmarks, refined by mediapipe's hand re-crop model and tracked between frames, where the
    hand landmark model runs. A hand is therefore always attached to its own arm, and small hands
    of full-body shots are found where the palm detector of mediapipe Hands misses them (s13:
    91 against 73 hands in 50 frames, dance: 44 against 15, at the same cost; docs/curation.md). Hands
    are found only with a body. A hand's 21 points share the hand landmark model's presence
    score (≥ 0.5 when the hand is kept).
    """

    def __init__(
        self, hands: bool = True, min_confidence: float = 0.5, smooth: bool = True
    ) -> None:
        from omni.mpgraph import on_calling_thread

        self._graph = on_calling_thread(_pose_graph(hands))(
            graph_config=_graph_config(hands),
            side_inputs={
                "model_complexity": 1,
                "smooth_landmarks": smooth,
                "enable_segmentation": False,
                "smooth_segmentation": True,
                "use_prev_landmarks": True,
            },
            calculator_params={
                "poselandmarkcpu__posedetectioncpu__TensorsToDetectionsCalculator"
                ".min_score_thresh": min_confidence,
                "poselandmarkcpu__poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation"
                "__ThresholdingCalculator.threshold": min_confidence,
                **({_wrist_gate(i): WRIST_SEEN for i in (1, 2)} if hands else {}),
            },
            outputs=["pose_landmarks", *(_HAND_STREAMS if hands else ())],
        )
        self.hands = hands
        self.smooth = smooth
        self._next_us = 0  # the graph's timestamps must increase from frame to frame

    def close(self) -> None:
        self._graph.close()

    def reset(self) -> None:
        """Forget the tracked person before frames of another clip (keeps the loaded models).

        With smoothing, mediapipe's filters are cleared only by restarting the graph (~60 ms);
        without, a blank frame ends the tracking of body and hands, exactly as a restart does
        (tests/test_pose.py), for ~13 ms."""
        if self.smooth:
            self._graph.reset()
        else:
            self._graph.process_at(np.zeros((64, 64, 3), np.uint8), self._next_us)
            self._next_us += _DEFAULT_STEP_US

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __call__(self, frames: np.ndarray, times=None) -> Keypoints:
        """frames (T, H, W, 3) uint8 RGB, consecutive video frames -> Keypoints (T, 75).

        `times` (T,) are the frames' times in seconds, increasing: the smoothing filters work in
        real time (mediapipe's own `process` spaces frames 1/30 s apart, which over-smooths
        frames further apart: at 12.5 fps the keypoints lagged twice as far behind the same
        video's 25 fps keypoints; docs/curation.md). Without `times` frames are 1/30 s apart.
        A call's frames follow the previous call's (a later clip's times may start anywhere).
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}"
            )
        stamps = self._timestamps(len(frames), times)
        xy = np.full((len(frames), NUM_KEYPOINTS, 2), np.nan, np.float32)
        conf = np.zeros((len(frames), NUM_KEYPOINTS), np.float32)
        for t, frame in enumerate(frames):
            result = self._graph.process_at(np.ascontiguousarray(frame), int(stamps[t]))
            body = result.pose_landmarks
            if body is None:
                continue
            points = np.array([(p.x, p.y, p.visibility) for p in body.landmark], np.float32)
            xy[t, :NUM_BODY] = points[:, :2]
            conf[t, :NUM_BODY] = points[:, 2]
            if not self.hands:
                continue
            for part, landmarks, score in (
                (LEFT_HAND, result.left_hand_landmarks, self._graph.presence(result, "left")),
                (RIGHT_HAND, result.right_hand_landmarks, self._graph.presence(result, "right")),
            ):
                if landmarks is not None and score is not None:
                    xy[t, part] = [(p.x, p.y) for p in landmarks.landmark]
                    conf[t, part] = score
        return Keypoints(xy, conf)

    def _timestamps(self, n: int, times) -> np.ndarray:
        """Graph timestamps (µs) of `n` frames at `times`, shifted to follow the previous frames."""
        if times is None:
            stamps = np.arange(n, dtype=np.int64) * _DEFAULT_STEP_US
        else:
            stamps = np.round(np.asarray(times, np.float64) * 1e6).astype(np.int64)
            if stamps.shape != (n,):
                raise ValueError(f"times must be ({n},) seconds, got shape {stamps.shape}")
            if n > 1 and not (np.diff(stamps) > 0).all():
                raise ValueError("times must increase from frame to frame")
        if n:
            stamps += max(0, self._next_us - int(stamps[0]))
            self._next_us = int(stamps[-1]) + _DEFAULT_STEP_US
        return stamps


_DEFAULT_STEP_US = 33333  # mediapipe's `SolutionBase.process` spaces frames this far apart


_HAND_STREAMS = ("left_hand_landmarks", "right_hand_landmarks")
WRIST_SEEN = 0.3
"""A hand is looked for where its body wrist's visibility reaches this (mediapipe's own gate is
0.1, which on head-and-shoulder shots runs the hand models on wrists out of the picture)."""


def _wrist_gate(i: int) -> str:
    """The option of the wrist-visibility gate of the `i`-th hand subgraph (1, 2: one per arm)
    in mediapipe's expanded graph; a name mediapipe does not have is an error at start-up."""
    return (
        f"handlandmarksleftandrightcpu__handlandmarksfromposecpu_{i}"
        "__handvisibilityfromhandlandmarksfrompose__ThresholdingCalculator.threshold"
    )


_GRAPH_NODES = ("PoseLandmarkCpu", "HandLandmarksLeftAndRightCpu")


def _graph_config(hands: bool):
    """mediapipe Holistic's graph config (bundled in the wheel) with only its pose node, and its
    left-and-right hands node when `hands`."""
    import mediapipe as mp
    from mediapipe.framework import calculator_pb2

    path = Path(mp.__file__).parent / "modules/holistic_landmark/holistic_landmark_cpu.binarypb"
    config = calculator_pb2.CalculatorGraphConfig.FromString(path.read_bytes())
    nodes = [n for n in config.node if n.calculator in _GRAPH_NODES[: 1 + hands]]
    if len(nodes) != 1 + hands:
        raise RuntimeError(f"{path}: no {' and '.join(_GRAPH_NODES)} nodes in mediapipe's graph")
    del config.node[:]
    config.node.extend(nodes)
    made = {s.split(":")[-1] for n in nodes for s in n.output_stream}
    used = {s.split(":")[-1] for n in nodes for s in n.input_side_packet}
    outputs = [s for s in config.output_stream if s.split(":")[-1] in made]
    sides = [s for s in config.input_side_packet if s.split(":")[-1] in used]
    del config.output_stream[:], config.input_side_packet[:]
    config.output_stream.extend(outputs)
    config.input_side_packet.extend(sides)
    return config


@cache
def _pose_graph(hands: bool) -> type:
    """The mediapipe solution class running `_graph_config`; with hands it also observes the hand
    landmark model's presence score, a stream inside mediapipe's hand subgraph."""
    from mediapipe.python.solution_base import PacketDataType, SolutionBase

    class PoseGraph(SolutionBase):
        def _initialize_graph_interface(self, *args, **kwargs):
            config = super()._initialize_graph_interface(*args, **kwargs)
            if hands:
                self.presence_streams = {s: _presence_stream(config, s) for s in ("left", "right")}
                for stream in self.presence_streams.values():
                    self._output_stream_type_info[stream] = PacketDataType.FLOAT
            return config

        def presence(self, result, side: str) -> float | None:
            return getattr(result, self.presence_streams[side])

        def process_at(self, image: np.ndarray, timestamp_us: int):
            """`process` at a chosen timestamp (mediapipe's own adds 1/30 s per frame)."""
            self._simulated_timestamp = timestamp_us
            return self.process(image)

    return PoseGraph


def _presence_stream(config, side: str) -> str:
    """The hand landmark model's presence-score stream of the `side` hand in an expanded config:
    it sits in the hand landmark subgraph whose node writes `<side>_hand_landmarks`."""
    target = f"{side}_hand_landmarks"
    for node in config.node:
        if any(s.split(":")[-1] == target for s in node.output_stream):
            stream = node.name.rsplit("__", 1)[0] + "__hand_presence_score"
            if any(s.split(":")[-1] == stream for n in config.node for s in n.output_stream):
                return stream
    raise RuntimeError(
        f"no hand presence score for {target} in mediapipe's hand graph (omni.pose reads it "
        "from mediapipe 0.10.21's HandLandmarkCpu subgraph)"
    )


def estimate_keypoints(frames: np.ndarray, hands: bool = True, times=None) -> Keypoints:
    """Keypoints of the main person in consecutive frames (T, H, W, 3) uint8 -> (T, 75);
    `times` (T,) the frames' times in seconds (`PoseEstimator.__call__`)."""
    with PoseEstimator(hands=hands) as estimator:
        return estimator(frames, times)


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


BODY_COLOUR, LEFT_HAND_COLOUR, RIGHT_HAND_COLOUR = (255, 160, 0), (0, 220, 90), (40, 140, 255)


def draw_keypoints(
    image: np.ndarray, xy: np.ndarray, conf: np.ndarray, min_conf: float = 0.5
) -> np.ndarray:
    """A copy of an RGB image (H, W, 3) uint8 with one frame's keypoints drawn: xy (75, 2) in
    [0, 1], conf (75,). Bones are mediapipe's pose and hand connections, the body orange, the
    person's left hand green, the right hand blue; a bone is drawn where both its joints reach
    `min_conf` (body) or were found (hands)."""
    import cv2
    import mediapipe as mp

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    xy, conf = np.asarray(xy, np.float32), np.asarray(conf, np.float32)
    if xy.shape != (NUM_KEYPOINTS, 2) or conf.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"one frame's keypoints: xy ({NUM_KEYPOINTS}, 2), conf ({NUM_KEYPOINTS},)")
    thickness = max(1, round(max(h, w) / 250))
    pixels = np.nan_to_num(xy * [w, h], nan=-1.0).round().astype(np.int32)
    groups = (
        (0, mp.solutions.pose.POSE_CONNECTIONS, BODY_COLOUR, min_conf),
        (LEFT_HAND.start, mp.solutions.hands.HAND_CONNECTIONS, LEFT_HAND_COLOUR, 1e-6),
        (RIGHT_HAND.start, mp.solutions.hands.HAND_CONNECTIONS, RIGHT_HAND_COLOUR, 1e-6),
    )
    for offset, bones, colour, floor in groups:
        seen = (conf >= floor) & np.isfinite(xy).all(axis=1)
        for a, b in bones:
            a, b = a + offset, b + offset
            if seen[a] and seen[b]:
                cv2.line(out, tuple(pixels[a]), tuple(pixels[b]), colour, thickness, cv2.LINE_AA)
        joints = range(offset, offset + (NUM_BODY if offset == 0 else NUM_HAND))
        for j in joints:
            if seen[j]:
                cv2.circle(out, tuple(pixels[j]), thickness, colour, -1, cv2.LINE_AA)
    return out


def draw_side_file(image: np.ndarray, path: str | os.PathLike, t: float) -> np.ndarray:
    """`draw_keypoints` with the frame of a keypoints side file nearest to time `t` (seconds on
    the video timeline); the image unchanged if there is no usable side file."""
    found = side_file_or_none(path)
    if found is None:
        return image
    kp, times = found
    i = int(np.abs(times - t).argmin())
    return draw_keypoints(image, kp.xy[i], kp.conf[i])


def side_file_or_none(path: str | os.PathLike) -> tuple[Keypoints, np.ndarray] | None:
    """`load_keypoints`, or None for a missing, unreadable, outdated or empty side file: for
    views that draw keypoints where they can."""
    try:
        kp, times = load_keypoints(path)
    except (OSError, ValueError, KeyError):
        return None
    return (kp, times) if len(times) else None


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
