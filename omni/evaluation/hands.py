"""HKC and HKV: hand-keypoint confidence and variance, from omni.pose's keypoints (K = 75).

OmniHuman reports both without a formula; these are ours, stated exactly:
- HKC (hand keypoint confidence, higher is better): the mean confidence of the 21 keypoints of
  each hand over the frames where that hand should be seen — its body wrist is visible
  (confidence ≥ `wrist_visible`) or the hand was detected. An expected hand that was not
  detected counts 0, so malformed or blurred hands lower the score; hands out of the picture
  do not. NaN when no hand is in view in any frame.
- HKV (hand keypoint variance, motion richness): per hand keypoint, the variance over time of
  its x and y position (summed) over the frames where the hand was detected, averaged over
  keypoints. Positions are in percent of the frame height (x and y alike), so the value does
  not depend on the resolution: HKV = 100 means a typical spread of 10 % of the frame height.
  Keypoints seen in fewer than 2 frames are left out; NaN when none remains.
"""

from __future__ import annotations

import numpy as np

from omni.pose import LEFT_HAND, LEFT_WRIST, NUM_KEYPOINTS, RIGHT_HAND, RIGHT_WRIST

HANDS_VERSION = "omni-pose-hkc-hkv/3"  # 2: hands from the body; 3: smoothed at the video fps
_HANDS = ((LEFT_HAND, LEFT_WRIST), (RIGHT_HAND, RIGHT_WRIST))


def _check(xy: np.ndarray | None, conf: np.ndarray) -> None:
    if conf.ndim != 2 or conf.shape[1] != NUM_KEYPOINTS:
        raise ValueError(f"expected keypoint confidences (T, {NUM_KEYPOINTS}), got {conf.shape}")
    if xy is not None and xy.shape != (*conf.shape, 2):
        raise ValueError(f"expected keypoints xy {(*conf.shape, 2)}, got {xy.shape}")


def hand_keypoint_confidence(conf: np.ndarray, wrist_visible: float = 0.5) -> float:
    """HKC of one video from keypoint confidences (T, 75); see the module docstring."""
    conf = np.nan_to_num(np.asarray(conf, np.float64))
    _check(None, conf)
    values = []
    for hand, wrist in _HANDS:
        hand_conf = conf[:, hand].mean(axis=1)  # (T,)
        expected = (conf[:, wrist] >= wrist_visible) | (hand_conf > 0)
        values.append(hand_conf[expected])
    values = np.concatenate(values)
    return float(values.mean()) if len(values) else float("nan")


def hand_keypoint_variance(xy: np.ndarray, conf: np.ndarray, aspect: float) -> float:
    """HKV of one video from keypoints xy (T, 75, 2) in [0, 1] and conf (T, 75).

    aspect = width / height of the frames (x is normalised by the width, y by the height).
    """
    xy = np.asarray(xy, np.float64)
    conf = np.asarray(conf, np.float64)
    _check(xy, conf)
    scale = np.array([100.0 * aspect, 100.0])  # → percent of the frame height
    variances = []
    for hand, _ in _HANDS:
        points = xy[:, hand] * scale  # (T, 21, 2)
        seen = (conf[:, hand] > 0) & np.isfinite(points).all(axis=-1)  # (T, 21)
        for k in range(points.shape[1]):
            track = points[seen[:, k], k]
            if len(track) >= 2:
                variances.append(track.var(axis=0).sum())
    return float(np.mean(variances)) if variances else float("nan")
