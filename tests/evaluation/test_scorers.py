"""Plug-in scorers: import specs, factories with an argument, frame-weighted means."""

from __future__ import annotations

import numpy as np
import pytest

from omni.evaluation.scorers import ScoreMean, parse_scorer

PLUGIN = """
import numpy as np

def per_frame(frames):
    return frames.reshape(len(frames), -1).mean(axis=1)

def per_chunk(frames):
    return float(len(frames))

def scaled(factor):
    return lambda frames: np.full(len(frames), float(factor))

def wrong_shape(frames):
    return np.zeros(len(frames) + 1)

def distortion(frames):
    return np.ones(len(frames))

distortion.higher_is_better = False
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "omni_test_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(tmp_path)
    return "omni_test_plugin"


def test_per_frame_and_per_chunk_scores_are_frame_weighted(plugin: str) -> None:
    frames = np.zeros((5, 2, 2, 3), np.uint8)
    frames[3:] = 100
    mean = ScoreMean(parse_scorer(f"IQA={plugin}:per_frame"))
    mean.add(frames[:3])
    mean.add(frames[3:])
    assert mean.scorer.name == "iqa" and mean.scorer.higher_is_better is True
    assert parse_scorer(f"iqa={plugin}:distortion").higher_is_better is False
    assert mean.value() == pytest.approx(40.0)
    chunked = ScoreMean(parse_scorer(f"ase={plugin}:per_chunk"))
    chunked.add(frames[:4])
    chunked.add(frames[4:])
    assert chunked.value() == pytest.approx((4 * 4 + 1 * 1) / 5)


def test_factory_argument_and_errors(plugin: str) -> None:
    mean = ScoreMean(parse_scorer(f"ase={plugin}:scaled:2.5"))
    mean.add(np.zeros((3, 2, 2, 3), np.uint8))
    assert mean.value() == 2.5
    assert np.isnan(ScoreMean(parse_scorer(f"x={plugin}:per_frame")).value())
    bad = ScoreMean(parse_scorer(f"x={plugin}:wrong_shape"))
    with pytest.raises(ValueError, match=r"one score per frame \(2,\)"):
        bad.add(np.zeros((2, 2, 2, 3), np.uint8))
    for spec in ("iqa", "iqa=module", "=m:f"):
        with pytest.raises(ValueError, match="NAME=module:attr"):
            parse_scorer(spec)
    with pytest.raises(ValueError, match="cannot import"):
        parse_scorer(f"iqa={plugin}:absent")


def test_stride_scores_every_nth_frame_across_chunks(plugin: str) -> None:
    frames = np.arange(7, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    mean = ScoreMean(parse_scorer(f"iqa={plugin}:per_frame"), stride=3)
    for start in range(0, 7, 2):  # chunks of 2: frames 0, 3 and 6 fall in different chunks
        mean.add(frames[start : start + 2])
    assert mean.frames == 3 and mean.value() == pytest.approx((0 + 3 + 6) / 3)
