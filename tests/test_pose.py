"""The shared pose estimator: layout, real footage, side files, heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

from omni import pose
from omni.media import read_video


@pytest.fixture(scope="module")
def standing(footage):
    clip = read_video(footage("s13.mp4"), fps=12.5, size=(240, 360), max_frames=6)
    return clip, pose.estimate_keypoints(clip.frames)


def test_full_body_keypoints_on_real_footage(standing):
    _, kp = standing
    assert kp.xy.shape == (6, pose.NUM_KEYPOINTS, 2) and kp.conf.shape == (6, 75)
    nose, l_ankle = kp.xy[:, 0], kp.xy[:, 27]
    assert np.nanmean(kp.conf[:, : pose.NUM_BODY]) > 0.8  # a standing person, fully in frame
    assert (nose[:, 1] < 0.25).all() and (l_ankle[:, 1] > 0.75).all()  # head top, feet bottom
    # the person faces the camera: their left wrist is on the image's right
    assert (kp.xy[:, pose.LEFT_WRIST, 0] > kp.xy[:, pose.RIGHT_WRIST, 0]).all()
    seen = kp.conf[:, pose.LEFT_HAND.start] > 0
    assert seen.any()
    hand_wrist = kp.xy[seen, pose.LEFT_HAND.start]
    assert np.abs(hand_wrist - kp.xy[seen, pose.LEFT_WRIST]).max() < 0.08  # attached to its arm


def test_hands_are_found_from_the_body_on_every_arm_in_view(footage):
    # s13 at 12.5 fps: both hands are in view on all 30 frames. mediapipe Hands' palm detector
    # (omni.pose before keypoints version 2) found 50 of these 60 hands; from the body, 58
    clip = read_video(footage("s13.mp4"), fps=12.5, size=(320, 480), max_frames=30)
    kp = pose.estimate_keypoints(clip.frames)
    found = 0
    for hand, wrist in ((pose.LEFT_HAND, pose.LEFT_WRIST), (pose.RIGHT_HAND, pose.RIGHT_WRIST)):
        seen = kp.conf[:, hand.start] > 0
        found += int(seen.sum())
        conf = kp.conf[seen, hand]
        assert (conf == conf[:, :1]).all() and (conf >= 0.5).all() and (conf <= 1).all()
        gap = np.linalg.norm(kp.xy[seen, hand.start] - kp.xy[seen, wrist], axis=-1)
        assert (gap < 0.05).all()  # each hand sits on its own arm's wrist
        assert np.isnan(kp.xy[~seen, hand]).all()
    assert found >= 55


def test_body_keypoints_do_not_depend_on_the_hands(standing):
    clip, with_hands = standing
    body = pose.estimate_keypoints(clip.frames, hands=False)
    np.testing.assert_array_equal(body.xy[:, : pose.NUM_BODY], with_hands.xy[:, : pose.NUM_BODY])
    np.testing.assert_array_equal(
        body.conf[:, : pose.NUM_BODY], with_hands.conf[:, : pose.NUM_BODY]
    )
    assert (body.conf[:, pose.NUM_BODY :] == 0).all() and (
        with_hands.conf[:, pose.NUM_BODY :] > 0
    ).any()


def test_a_hand_graph_without_presence_scores_is_a_clear_error():
    from mediapipe.framework import calculator_pb2

    config = calculator_pb2.CalculatorGraphConfig()
    config.node.add(
        name="somegraph__Projection", calculator="X", output_stream=["left_hand_landmarks"]
    )
    with pytest.raises(RuntimeError, match="presence score for left_hand_landmarks"):
        pose._presence_stream(config, "left")


def test_missing_person_is_nan_with_zero_confidence():
    kp = pose.estimate_keypoints(np.full((2, 64, 64, 3), 127, np.uint8))
    assert np.isnan(kp.xy).all() and (kp.conf == 0).all()
    with pytest.raises(ValueError, match="uint8"):
        pose.estimate_keypoints(np.zeros((2, 64, 64, 3), np.float32))


def test_side_file_round_trip(tmp_path, standing):
    clip, kp = standing
    path = pose.save_keypoints(tmp_path / "kp" / "a.npz", kp, clip.times)
    loaded, times = pose.load_keypoints(path)
    np.testing.assert_array_equal(loaded.xy, kp.xy)
    np.testing.assert_array_equal(loaded.conf, kp.conf)
    np.testing.assert_allclose(times, clip.times)
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]
    with pytest.raises(ValueError, match=r"\(6,\)"):
        pose.save_keypoints(tmp_path / "b.npz", kp, clip.times[:3])


def test_resample_interpolates_and_keeps_gaps():
    xy = np.zeros((3, 75, 2), np.float32)
    xy[:, 0, 0] = [0.0, 0.5, 1.0]
    xy[1, 1] = np.nan
    kp = pose.Keypoints(xy, np.ones((3, 75)))
    out = pose.resample_keypoints(kp, np.array([0.0, 1.0, 2.0]), np.array([0.25, 1.5, 3.0]))
    np.testing.assert_allclose(out.xy[:, 0, 0], [0.125, 0.75, 1.0])
    assert np.isnan(out.xy[:2, 1]).all() and (out.conf[:2, 1] == 0).all()
    assert not np.isnan(out.xy[2, 1]).any()


def test_heatmap_peaks_sit_on_the_joints():
    xy = np.full((2, 75, 2), np.nan, np.float32)
    conf = np.zeros((2, 75), np.float32)
    xy[0, 0], conf[0, 0] = (0.25, 0.75), 0.9  # nose, frame 0
    xy[1, pose.RIGHT_HAND.start + 4], conf[1, pose.RIGHT_HAND.start + 4] = (0.5, 0.5), 1.0
    maps = pose.render_heatmaps(pose.Keypoints(xy, conf), height=32, width=16, sigma=1.0)
    assert maps.shape == (len(pose.HEATMAP_GROUPS), 2, 32, 16) and maps.dtype == np.float32
    nose = maps[0, 0]
    assert np.unravel_index(nose.argmax(), nose.shape) in {(23, 3), (24, 4), (23, 4), (24, 3)}
    assert nose.max() == pytest.approx(0.9 * np.exp(-0.25), rel=1e-4)  # half-pixel from centres
    hand = list(pose.HEATMAP_GROUPS).index("right_hand")
    assert maps[hand, 1].max() > 0.5 and maps[hand, 0].max() == 0 and maps[0, 1].max() == 0


def test_drawn_keypoints_follow_the_bones_and_skip_unseen_joints():
    image = np.zeros((100, 200, 3), np.uint8)
    xy = np.full((pose.NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros(pose.NUM_KEYPOINTS, np.float32)
    xy[11], xy[12], conf[[11, 12]] = (0.25, 0.5), (0.75, 0.5), 0.9  # shoulders: one bone
    xy[13], conf[13] = (0.25, 0.9), 0.2  # an elbow pose barely sees: no bone to it
    hand = pose.RIGHT_HAND.start
    xy[hand], xy[hand + 1], conf[[hand, hand + 1]] = (0.1, 0.1), (0.1, 0.3), 0.7  # wrist-thumb
    out = pose.draw_keypoints(image, xy, conf)
    assert (image == 0).all() and out.shape == image.shape  # a copy
    # the middle of the shoulder line (anti-aliased: the brightest of the rows around it)
    assert np.abs(out[48:53, 100].astype(int).max(axis=0) - pose.BODY_COLOUR).max() < 40
    assert not out[70:85, 50].any()  # nothing toward the unseen elbow
    assert np.abs(out[20, 18:23].astype(int).max(axis=0) - pose.RIGHT_HAND_COLOUR).max() < 40
    assert not out[:, 160:].any() and not out[90:].any()
    with pytest.raises(ValueError, match="one frame"):
        pose.draw_keypoints(image, xy[None], conf[None])


def _body(kp: pose.Keypoints) -> tuple[np.ndarray, np.ndarray]:
    return kp.xy[:, : pose.NUM_BODY], kp.conf[:, : pose.NUM_BODY]


def test_smoothing_follows_the_frame_times(footage):
    # s13 at 12.5 fps: mediapipe's smoothing assumes 1/30 s between frames unless told; with the
    # real times the keypoints sit closer to those of the same video tracked at 25 fps
    clip = read_video(footage("s13.mp4"), fps=25, size=(240, 360), max_frames=40)
    with pose.PoseEstimator(hands=False) as estimator:
        reference = estimator(clip.frames, clip.times)[::2]
        estimator.reset()
        timed = estimator(clip.frames[::2], clip.times[::2])
        estimator.reset()
        untimed = estimator(clip.frames[::2])
    ref_xy, ref_conf = _body(reference)
    seen = ref_conf > 0.5

    def error(kp: pose.Keypoints) -> float:
        return float(np.median(np.linalg.norm(_body(kp)[0] - ref_xy, axis=-1)[seen]))

    assert error(timed) < 0.85 * error(untimed), (error(timed), error(untimed))  # 0.70 here
    with pytest.raises(ValueError, match="increase"):
        pose.estimate_keypoints(clip.frames[:2], hands=False, times=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"\(2,\)"):
        pose.estimate_keypoints(clip.frames[:2], hands=False, times=[1.0])


def test_unsmoothed_frames_keep_their_own_visibility(footage):
    # a full body, then a head-and-shoulders crop of it: smoothed, the crop's visibility stays
    # near the first frame's (mediapipe's low-pass filter keeps 90 % of the previous value)
    import cv2

    full = read_video(footage("s13.mp4"), size=(240, 360), max_frames=1).frames[0]
    head = cv2.resize(full[:120, 40:200], (240, 360))
    frames = np.stack([full, head])
    with pose.PoseEstimator(smooth=True) as smoothed, pose.PoseEstimator(smooth=False) as plain:
        held = _body(smoothed(frames, [0.0, 1.0]))[1].mean(axis=1)
        own = _body(plain(frames, [0.0, 1.0]))[1].mean(axis=1)
        plain.reset()
        alone = _body(plain(head[None]))[1].mean()
    assert held[0] == own[0] > 0.9
    assert held[1] > 0.9 and own[1] < 0.75 and abs(own[1] - alone) < 0.1


def test_an_unsmoothed_estimator_resets_exactly_without_a_restart(footage, monkeypatch):
    standing = read_video(footage("s13.mp4"), fps=1, size=(240, 360), max_frames=3).frames
    talking = read_video(footage("talk_news_b.mp4"), fps=1, size=(256, 256), max_frames=3).frames
    with pose.PoseEstimator(smooth=False) as estimator:
        first = estimator(standing)
        monkeypatch.setattr(type(estimator._graph), "reset", lambda self: pytest.fail("restart"))
        estimator.reset()
        estimator(talking)
        estimator.reset()
        again = estimator(standing)
    np.testing.assert_array_equal(again.conf, first.conf)
    np.testing.assert_array_equal(again.xy, first.xy)
    assert (first.conf[:, pose.NUM_BODY :] > 0).any()  # the hands' tracking was reset too
