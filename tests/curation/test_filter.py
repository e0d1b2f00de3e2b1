"""`apply_filter`: flags and reasons per condition, thresholds per lip-sync method."""

from __future__ import annotations

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
