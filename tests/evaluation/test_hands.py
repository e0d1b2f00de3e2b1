"""HKC / HKV on hand-made keypoints: exact values, absent hands, resolution independence."""

from __future__ import annotations

import numpy as np
import pytest

from omni.evaluation.hands import hand_keypoint_confidence, hand_keypoint_variance
from omni.pose import LEFT_HAND, LEFT_WRIST, NUM_KEYPOINTS, RIGHT_HAND, RIGHT_WRIST


def _empty(t: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((t, NUM_KEYPOINTS, 2), np.nan), np.zeros((t, NUM_KEYPOINTS))


def test_hkc_counts_missed_expected_hands_as_zero() -> None:
    _, conf = _empty(4)
    conf[:, LEFT_WRIST] = 0.9  # left wrist visible in all 4 frames
    conf[:2, LEFT_HAND] = 0.8  # ...but the hand is found in only 2
    conf[:, RIGHT_WRIST] = 0.1  # right hand out of view: ignored
    assert hand_keypoint_confidence(conf) == pytest.approx((0.8 + 0.8 + 0 + 0) / 4)
    conf[3, RIGHT_HAND] = 0.6  # a right hand detected without a visible wrist still counts
    assert hand_keypoint_confidence(conf) == pytest.approx((0.8 * 2 + 0.6) / 5)


def test_hkc_is_nan_without_hands_in_view() -> None:
    _, conf = _empty(3)
    assert np.isnan(hand_keypoint_confidence(conf))


def test_hkv_is_the_position_variance_in_percent_of_height() -> None:
    xy, conf = _empty(4)
    xs = np.array([0.1, 0.2, 0.1, 0.2])  # x moves by 0.1 of the width
    xy[:, LEFT_HAND, 0] = xs[:, None]
    xy[:, LEFT_HAND, 1] = 0.5  # y still
    conf[:, LEFT_HAND] = 0.9
    # width = 2 × height: 0.1 of the width is 20 % of the height -> variance of ±10 = 100
    assert hand_keypoint_variance(xy, conf, aspect=2.0) == pytest.approx(100.0)
    still = xy.copy()
    still[:, LEFT_HAND, 0] = 0.3
    assert hand_keypoint_variance(still, conf, aspect=2.0) == pytest.approx(0.0)


def test_hkv_ignores_undetected_frames_and_needs_two() -> None:
    xy, conf = _empty(3)
    xy[0, RIGHT_HAND] = 0.5
    conf[0, RIGHT_HAND] = 0.7
    assert np.isnan(hand_keypoint_variance(xy, conf, aspect=1.0))
    xy[2, RIGHT_HAND] = 0.6
    conf[2, RIGHT_HAND] = 0.7
    assert hand_keypoint_variance(xy, conf, aspect=1.0) == pytest.approx(2 * 25.0)


def test_shape_errors_say_what_was_expected() -> None:
    with pytest.raises(ValueError, match=r"\(T, 75\)"):
        hand_keypoint_confidence(np.zeros((3, 33)))
    with pytest.raises(ValueError, match="keypoints xy"):
        hand_keypoint_variance(np.zeros((3, 75)), np.zeros((3, 75)), aspect=1.0)
