"""`omni curate split`: scene cuts on a low-resolution decode, then clips of bounded length."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

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
    threshold: float = 30.0
    """Cut when the mean absolute HSV difference of consecutive frames (0..255) exceeds this."""
    width: int = 64
    """Width of the low-resolution decode used for cut detection."""


def detect_cuts(
    path: str, start_s: float, end_s: float | None, config: SplitConfig
) -> tuple[list[float], float]:
    """Times of scene cuts in [start_s, end_s) and the time just after the last frame."""
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
        return [{**row, "status": STATUS_ERROR, "error": str(err), "split_version": SPLIT_VERSION}]
    end = min(float(end), last) if end is not None and not np.isnan(end) else last
    clips = clips_between(cuts, start, end, config)
    if not clips:
        reason = f"no scene of at least {config.min_len:g} s (source {end - start:.2f} s, {len(cuts)} cuts)"
        return [{**row, "status": STATUS_ERROR, "error": reason, "split_version": SPLIT_VERSION}]
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
            "split_version": SPLIT_VERSION,
        }
        for i, (a, b) in enumerate(clips)
    ]
