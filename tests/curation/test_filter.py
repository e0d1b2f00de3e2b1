"""`apply_filter`: flags and reasons per condition, thresholds per lip-sync method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from omni.curation.filter import Thresholds, apply_filter, reason_counts


def test_sync_confidence_threshold_follows_the_method():
    df = pd.DataFrame(
        {
            "clip_id": ["a", "b", "c"],
            "status": ["ok"] * 3,
            "has_audio": [True] * 3,
            "sync_offset": [0, 0, 0],
            "sync_conf": [1.0, 1.0, 4.0],
            "sync_method": ["landmark", "syncnet", "syncnet"],
        }
    )
    out = apply_filter(df, Thresholds())
    assert out["eligible_audio"].tolist() == [True, False, True]
    assert (
        out.loc[1, "reject_reason"] == "audio: sync_conf 1 (needs >= 3); pose: needs eligible_audio"
    )
    assert out["eligible_text_ref"].all()  # a weak condition keeps what a strong one rejects
    strict = apply_filter(df, Thresholds(min_sync_conf_syncnet=5.0))
    assert strict["eligible_audio"].tolist() == [True, False, False]


def test_every_condition_not_met_says_why():
    df = pd.DataFrame(
        {
            "clip_id": ["body out of sync", "no audio", "head", "broken"],
            "status": ["ok", "ok", "ok", "error"],
            "has_audio": [True, False, True, None],
            "speech_activity": [0.9, None, 0.9, None],
            "sync_offset": [5, None, 0, None],
            "sync_conf": [0.3, None, 0.4, None],
            "pose_visibility": [0.95, 0.4, 0.42, None],
            "pose_jitter": [0.003, None, None, None],
        }
    )
    out = apply_filter(df, Thresholds()).set_index("clip_id")
    assert out["eligible_text_ref"].tolist() == [True, True, True, False]
    assert not out["eligible_audio"]["body out of sync"] and out["eligible_audio"]["head"]
    assert not out["eligible_pose"].any()
    # its own pose checks pass: only the weaker condition keeps it out of pose training
    assert out.loc["body out of sync", "reject_reason"] == (
        "audio: abs_sync_offset 5 (needs <= 2); pose: needs eligible_audio"
    )
    # without an audio stream, its null audio scores are not listed one by one
    assert out.loc["no audio", "reject_reason"] == (
        "audio: no audio stream; pose: needs eligible_audio; "
        "pose: pose_visibility 0.4 (needs >= 0.5); pose: pose_jitter null (needs <= 0.02)"
    )
    assert out.loc["head", "reject_reason"] == (
        "pose: pose_visibility 0.42 (needs >= 0.5); pose: pose_jitter null (needs <= 0.02)"
    )
    assert out.loc["broken", "reject_reason"] == "status error"
    # the report's pass-rate table counts them per condition
    counts = reason_counts(out)
    assert counts["audio"] == {"abs_sync_offset": 1, "no audio stream": 1}
    assert counts["pose"] == {"needs eligible_audio": 2, "pose_visibility": 2, "pose_jitter": 2}
    assert not counts["text_ref"]


def test_pose_thumbnails_show_the_keypoints(tmp_path, footage):
    import base64
    import io
    import shutil

    from PIL import Image

    from omni import pose
    from omni.curation.report import _thumbnail
    from omni.manifest import Manifest

    shutil.copy(footage("s13.mp4"), tmp_path / "s13.mp4")
    xy = np.full((3, pose.NUM_KEYPOINTS, 2), np.nan, np.float32)
    conf = np.zeros((3, pose.NUM_KEYPOINTS), np.float32)
    xy[:, 11], xy[:, 12], conf[:, [11, 12]] = (0.1, 0.5), (0.9, 0.5), 1.0  # a line across
    pose.save_keypoints(tmp_path / "kp.npz", pose.Keypoints(xy, conf), np.array([0.0, 1.0, 2.0]))
    row = pd.Series(
        {
            "clip_id": "a",
            "source": "s13.mp4",
            "start_s": 0.0,
            "end_s": 4.0,
            "keypoints_path": "kp.npz",
        }
    )
    m = Manifest(pd.DataFrame([row]), str(tmp_path))

    def image(uri):
        data = base64.b64decode(uri.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)

    plain, drawn = image(_thumbnail(m, row)), image(_thumbnail(m, row, keypoints=True))
    h, w = drawn.shape[:2]
    changed = np.abs(drawn - plain).sum(-1) > 60  # (h, w)
    line = changed[h // 2 - 2 : h // 2 + 3, round(0.15 * w) : round(0.85 * w)].any(axis=0)
    assert line.mean() > 0.9  # the shoulder line runs across the middle
    assert changed[: h // 3].mean() < 0.01 and changed[-h // 3 :].mean() < 0.01
    outdated = row.copy()
    outdated["keypoints_path"] = "missing.npz"
    assert np.array_equal(image(_thumbnail(m, outdated, keypoints=True)), plain)
