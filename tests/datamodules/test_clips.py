import numpy as np
import pandas as pd
import pytest

from datamodules.grey_clips import rows
from omni.datamodules.buckets import make_buckets
from omni.datamodules.clips import choose_window, cover_crop, load_clips
from omni.manifest import write_manifest

BUCKETS = make_buckets(32, [1.0, 1.5])


def test_load_clips_counts_every_exclusion(tmp_path):
    table = [*rows(["ok", "short"]), {**rows(["bad"])[0], "status": "error"}]
    table[1]["end_s"] = 8 / 25  # 8 frames: less than a 9-frame window + reference
    path = write_manifest(pd.DataFrame(table), tmp_path / "m.parquet")
    clips = load_clips([str(path)], num_frames=9, fps=25.0, buckets=BUCKETS)
    assert clips.df["clip_id"].tolist() == ["ok"]
    assert clips.total_rows == 3
    assert clips.excluded == {"status=error": 1, "shorter than 9+1 frames (window + reference)": 1}
    assert clips.df["path"][0] == str(tmp_path / "ok.mp4")
    assert clips.df["bucket"][0] == 1  # 48x32 is closest to the 1.5 bucket
    assert clips.df["n_frames"][0] == 30


def test_missing_eligibility_policy_and_empty_caption(tmp_path):
    table = rows(["a", "b"], eligible_text_ref=None, eligible_audio=None)
    table[1]["caption"] = ""
    path = write_manifest(pd.DataFrame(table), tmp_path / "m.parquet")
    strict = load_clips([str(path)], 9, 25.0, BUCKETS, missing_eligibility="ineligible")
    assert not strict.eligible.any()
    lenient = load_clips([str(path)], 9, 25.0, BUCKETS, missing_eligibility="eligible")
    # text needs a caption; pose needs a keypoints file; both clips have audio
    assert lenient.eligible.tolist() == [[True, True, True, False], [False, True, True, False]]
    with pytest.raises(ValueError, match="eligible_text_ref"):
        load_clips([str(path)], 9, 25.0, BUCKETS, missing_eligibility="error")


def test_manifest_by_fsspec_url(tmp_path):
    path = write_manifest(pd.DataFrame(rows(["a"])), tmp_path / "m.parquet")
    clips = load_clips([f"file://{path}"], 9, 25.0, BUCKETS)
    assert clips.df["path"][0].endswith("a.mp4")


def test_window_and_reference_never_overlap():
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(10, 40))
        start, ref = choose_window(n, 9, rng)
        assert 0 <= start <= n - 9 and 0 <= ref < n
        assert not start <= ref < start + 9
    assert choose_window(10, 9, None) == (0, 9)
    assert choose_window(30, 9, None) == (10, 9)


def test_cover_crop_keeps_aspect():
    (w, h), (x0, y0) = cover_crop(1920, 1080, (32, 32))
    assert h == 32 and w == 57 and x0 == 12 and y0 == 0
