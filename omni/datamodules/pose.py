"""Pose heatmaps for a sample window, rendered from the clip's stored keypoints (omni.pose).

Keypoints are stored normalised to the clip's upright frame; the sample's frames are resized to
cover the bucket and centre-cropped, so the keypoints go through the same resize and crop before
`render_heatmaps` draws them at the bucket's resolution.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from omni.datamodules.buckets import upright_size
from omni.datamodules.clips import cover_crop
from omni.datamodules.remote import local_path
from omni.pose import HEATMAP_GROUPS, Keypoints, load_keypoints, render_heatmaps, resample_keypoints

NUM_CHANNELS = len(HEATMAP_GROUPS)


@lru_cache(maxsize=64)
def _keypoints(path: str) -> tuple[Keypoints, np.ndarray]:
    return load_keypoints(local_path(path))


def crop_keypoints(kp: Keypoints, upright: tuple[int, int], size: tuple[int, int]) -> Keypoints:
    """Keypoints normalised to an upright (w, h) frame -> normalised to its bucket crop (H, W)."""
    (w, h), (x0, y0) = cover_crop(*upright, size)
    height, width = size
    scale = np.array([w / width, h / height], np.float32)
    offset = np.array([x0 / width, y0 / height], np.float32)
    return Keypoints(kp.xy * scale - offset, kp.conf)


def window_keypoints(row: dict, t0: float, num_frames: int, size: tuple[int, int]) -> Keypoints:
    """The clip's keypoints at the window's frame times, in the bucket crop's coordinates."""
    kp, times = _keypoints(row["keypoints"])
    window_times = t0 + np.arange(num_frames) / float(row["fps_t"])
    kp = resample_keypoints(kp, times, window_times)
    upright = upright_size(int(row["width"]), int(row["height"]), int(row["rotation"] or 0))
    return crop_keypoints(kp, upright, size)


def window_heatmaps(
    row: dict, t0: float, num_frames: int, size: tuple[int, int], sigma: float, render: bool
) -> torch.Tensor:
    """(K', T, H, W) float32 heatmaps of the window; zeros when pose is off for this sample."""
    if not render:
        return torch.zeros(NUM_CHANNELS, num_frames, *size)
    kp = window_keypoints(row, t0, num_frames, size)
    return torch.from_numpy(render_heatmaps(kp, size[0], size[1], sigma))
