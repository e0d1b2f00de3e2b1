"""Scene cuts: both detectors find a hard cut between two real clips, within a frame."""

from __future__ import annotations

import numpy as np
import pytest

from omni.curation.split import SplitConfig, detect_cuts, split_row
from omni.media import read_video, write_video


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory, footage):
    """2.0 s of one speaker, then 2.0 s of another: a hard cut at 2.0 s."""
    a = read_video(footage("talk_news_b.mp4"), 0, 2.0, fps=25, size=(128, 128)).frames
    b = read_video(footage("d0.mp4"), 0, 2.0, fps=25, size=(128, 128)).frames
    path = tmp_path_factory.mktemp("cut") / "cut.mp4"
    write_video(path, np.concatenate([a, b]), 25)
    return path


@pytest.mark.parametrize("detector", ["fast", "scenedetect"])
def test_hard_cut_is_found(cut_video, detector):
    config = SplitConfig(min_len=1.0, max_len=10.0, margin=0.2, detector=detector)
    cuts, end = detect_cuts(str(cut_video), 0.0, None, config)
    assert len(cuts) == 1 and abs(cuts[0] - 2.0) <= 0.04 + 1e-6
    assert abs(end - 4.0) <= 0.04 + 1e-6
    rows = split_row({"clip_id": "x", "source": "cut.mp4", "status": "ok", "fps": 25.0},
                     str(cut_video), config)  # fmt: skip
    assert [(round(r["start_s"], 2), round(r["end_s"], 2)) for r in rows] == [
        (0.0, 1.8),
        (2.2, 4.0),
    ]
    assert rows[0]["split_version"] == config.version
    assert (config.version == "1") == (detector == "fast")


def test_unknown_detector_and_unreadable_file(tmp_path):
    with pytest.raises(ValueError, match="detector must be one of"):
        SplitConfig(detector="magic")
    (tmp_path / "bad.mp4").write_text("not a video")
    row = {"clip_id": "x", "source": "bad.mp4", "status": "ok"}
    out = split_row(row, str(tmp_path / "bad.mp4"), SplitConfig(detector="scenedetect"))
    assert out[0]["status"] == "error" and out[0]["error"]
