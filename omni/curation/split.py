"""`omni curate split`: scene cuts, then clips of bounded length.

Two detectors: `fast` (default) thresholds the mean HSV difference of consecutive frames of a
64-px-wide decode; `scenedetect` runs PySceneDetect's ContentDetector (its weighted HSV change
score with a minimum scene length and flash filter) on its PyAV backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import cv2
import numpy as np
import pyarrow as pa

from omni.curation.probe import clip_id_for
from omni.manifest import STATUS_ERROR, register_columns

SPLIT_VERSION = "1"
register_columns(
    pa.field("parent_id", pa.string()),
    pa.field("scene", pa.int64()),
    pa.field("split_version", pa.string()),
)


@dataclass
class SplitConfig:
    """How sources become clips."""

    min_len: float = 2.0
    """Shortest clip kept, seconds; shorter scene remainders are left out (the source row says so)."""
    max_len: float = 10.0
    """Longest clip, seconds; longer scenes are cut into equal pieces no longer than this."""
    margin: float = 0.2
    """Seconds dropped on each side of a cut (fades and the frames around a cut are unusable)."""
    threshold: float | None = None
    """Cut threshold; None: the detector's default (`DEFAULT_THRESHOLDS`). fast: mean absolute
    HSV difference of consecutive frames (0..255); scenedetect: ContentDetector's threshold."""
    width: int = 64
    """Width of the low-resolution decode used by the fast detector."""
    detector: Literal["fast", "scenedetect"] = "fast"
    """Cut detector (see the module docstring)."""

    def __post_init__(self) -> None:
        if self.detector not in DEFAULT_THRESHOLDS:
            raise ValueError(
                f"detector must be one of {sorted(DEFAULT_THRESHOLDS)}, got {self.detector!r}"
            )
        if self.threshold is None:
            self.threshold = DEFAULT_THRESHOLDS[self.detector]

    @property
    def version(self) -> str:
        return SPLIT_VERSION if self.detector == "fast" else f"{SPLIT_VERSION}+{self.detector}"


DEFAULT_THRESHOLDS = {"fast": 30.0, "scenedetect": 27.0}


def detect_cuts(
    path: str, start_s: float, end_s: float | None, config: SplitConfig
) -> tuple[list[float], float]:
    """Times of scene cuts in [start_s, end_s) and the time just after the last frame."""
    if config.detector == "scenedetect":
        return scenedetect_cuts(path, start_s, end_s, config)
    from omni.media import iter_frames, probe

    info = probe(path)
    w, h = info.width or 64, info.height or 64
    if info.rotation in (90, 270):
        w, h = h, w
    size = (config.width, max(2, round(config.width * h / w)))
    cuts, previous, last_t, step = [], None, start_s, 1.0 / (info.fps or 25.0)
    for t, frame in iter_frames(path, start_s, end_s, size=size):
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(np.float32)
        if previous is not None and np.abs(hsv - previous).mean() > config.threshold:
            cuts.append(t)
        previous, last_t = hsv, t
    return cuts, last_t + step


def scenedetect_cuts(
    path: str, start_s: float, end_s: float | None, config: SplitConfig
) -> tuple[list[float], float]:
    """PySceneDetect's ContentDetector cuts in [start_s, end_s) and the end of the range.

    Its times count frames at the nominal rate from the first frame (omni's timeline for
    constant-rate files; approximate for variable-rate ones).
    """
    from scenedetect import ContentDetector, SceneManager, open_video

    from omni.media import MediaError, probe

    info = probe(path)
    try:
        video = open_video(str(path), backend="pyav")
        if start_s > 0:
            video.seek(start_s)
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=config.threshold))
        manager.detect_scenes(video, end_time=end_s)
        scenes = manager.get_scene_list(start_in_scene=True)
    except MediaError:
        raise
    except Exception as err:  # PySceneDetect / PyAV raise many types for unreadable input
        raise MediaError(f"{path}: scene detection failed ({type(err).__name__}: {err})") from err
    if not scenes:
        return [], end_s if end_s is not None else info.duration_s
    cuts = [scene[0].seconds for scene in scenes[1:]]
    return cuts, scenes[-1][1].seconds


def clips_between(
    cuts: list[float], start: float, end: float, config: SplitConfig
) -> list[tuple[float, float]]:
    """Clip (start, end) pairs: scenes between cuts, margins trimmed, long scenes divided."""
    bounds = [start, *cuts, end]
    clips = []
    for a, b in pairwise(bounds):
        a = a + (config.margin if a > start else 0.0)
        b = b - (config.margin if b < end else 0.0)
        length = b - a
        if length < config.min_len:
            continue
        pieces = int(np.ceil(length / config.max_len - 1e-9))
        edges = np.linspace(a, b, pieces + 1)
        clips += [(float(x), float(y)) for x, y in pairwise(edges)]
    return clips


def split_row(row: dict, path: str, config: SplitConfig) -> list[dict]:
    """The clip rows of one source row (or the source row itself, with the reason, when none)."""
    from omni.media import MediaError

    if row.get("status") != "ok":
        return [row]
    start = float(row.get("start_s") or 0.0)
    end = row.get("end_s")
    try:
        cuts, last = detect_cuts(path, start, end, config)
    except MediaError as err:
        return [{**row, "status": STATUS_ERROR, "error": str(err), "split_version": config.version}]
    end = min(float(end), last) if end is not None and not np.isnan(end) else last
    clips = clips_between(cuts, start, end, config)
    if not clips:
        reason = f"no scene of at least {config.min_len:g} s (source {end - start:.2f} s, {len(cuts)} cuts)"
        return [{**row, "status": STATUS_ERROR, "error": reason, "split_version": config.version}]
    fps = row.get("fps") or 25.0
    return [
        {
            **row,
            "clip_id": clip_id_for(row["source"], a),
            "parent_id": row["clip_id"],
            "scene": i,
            "start_s": a,
            "end_s": b,
            "num_frames": round((b - a) * fps),
            "split_version": config.version,
        }
        for i, (a, b) in enumerate(clips)
    ]
