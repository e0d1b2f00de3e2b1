"""`apply_filter`: flags and reasons per condition, thresholds per lip-sync method."""

from __future__ import annotations

import pandas as pd

from omni.curation.filter import Thresholds, apply_filter


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
    assert out.loc[1, "reject_reason"] == "audio: sync_conf 1 (needs >= 3)"
    assert out["eligible_text_ref"].all()  # a weak condition keeps what a strong one rejects
    strict = apply_filter(df, Thresholds(min_sync_conf_syncnet=5.0))
    assert strict["eligible_audio"].tolist() == [True, False, False]
