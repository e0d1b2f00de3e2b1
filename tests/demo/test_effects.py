"""Effect sizes and the measures behind them, checked on values and on true synthetic clips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from omni.demo import effects, synth
from omni.manifest import read_manifest
from omni.media import read_audio, read_video


def test_paired_effect_values():
    own = np.array([0.9, 0.8, 0.7, 0.95, 0.85])
    other = own - np.array([0.5, 0.6, 0.4, 0.5, 0.5])
    e = effects.paired_effect("audio", "r0", own, other)
    assert e.n == 5 and e.difference == pytest.approx(0.5)
    assert e.own == pytest.approx(own.mean()) and e.other == pytest.approx(other.mean())
    d = own - other
    assert e.cohen_dz == pytest.approx(d.mean() / d.std(ddof=1))
    assert 0.4 <= e.ci_low < 0.5 < e.ci_high <= 0.6 and e.significant
    assert e.dz_low < e.cohen_dz < e.dz_high


def test_paired_effect_direction_nans_and_no_effect():
    # lower is better: an error that is smaller for the own condition is a positive effect
    e = effects.paired_effect(
        "pose",
        "err",
        np.array([0.1, 0.2, np.nan]),
        np.array([0.3, 0.5, 0.4]),
        higher_is_better=False,
    )
    assert e.n == 2 and e.difference == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    null = effects.paired_effect("none", "x", x, rng.permutation(x))
    assert null.ci_low < 0 < null.ci_high and not null.significant
    few = effects.paired_effect("few", "x", np.array([1.0, 1.1]), np.array([0.0, 0.0]))
    assert few.ci_low > 0 and not few.significant  # fewer than MIN_SAMPLES: never "holds"
    single = effects.paired_effect("one", "x", np.array([1.0]), np.array([0.0]))
    assert single.n == 1 and math.isnan(single.ci_low) and math.isnan(single.cohen_dz)
    with pytest.raises(ValueError, match="one length"):
        effects.paired_effect("bad", "x", np.zeros(2), np.zeros(3))


def test_colour_similarity_and_keypoint_error():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((8, 8, 3), np.uint8)
    blue[..., 2] = 200
    half = red.copy()
    half[:4] = blue[:4]
    assert effects.colour_similarity(red[None], red) == pytest.approx(1.0)
    assert effects.colour_similarity(red[None], blue) == pytest.approx(0.0)
    assert effects.colour_similarity(half[None], red) == pytest.approx(0.5)
    a = np.zeros((3, 33, 2))
    b = a.copy()
    b[..., 0] += 0.1
    b[0, 11] = np.nan
    assert effects.keypoint_error(b, a) == pytest.approx(0.1)
    assert math.isnan(effects.keypoint_error(np.full_like(a, np.nan), a))
    assert effects.upscale(np.zeros((2, 32, 48, 3), np.uint8)).shape == (2, 128, 192, 3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world")
    mix = {"face": 0.6, "body": 0.4}
    synth.make_demo_dataset(
        out, n_clips=5, seconds=2.0, size=128, held_out=0, mix=mix, progress=False
    )
    return read_manifest(out / "all.parquet")


@pytest.mark.slow
def test_measures_tell_own_from_other_on_true_clips(world):
    """The real clips are perfect 'generations': each measure must prefer the matching condition."""
    pytest.importorskip("omni.curation.lipsync", reason="landmark lip sync not in this build")
    import cv2

    faces = world.df[world.df.synth_kind == "face"].reset_index(drop=True)
    waves = [read_audio(world.resolve(s)) for s in faces.source]
    refs = [cv2.imread(world.resolve(r))[..., ::-1] for r in faces.synth_reference]
    for i, row in faces.iterrows():
        j = (i + 1) % len(faces)
        frames = read_video(world.resolve(row.source)).frames
        small = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in frames])
        own = effects.lip_sync_r0(small, waves[i], 16000, 25.0)
        other = effects.lip_sync_r0(small, waves[j], 16000, 25.0)
        assert own > 0.5 and own > other + 0.4, (own, other)
        if row.synth_identity != faces.synth_identity[j]:
            assert (
                effects.colour_similarity(frames, refs[i])
                > effects.colour_similarity(frames, refs[j]) + 0.3
            )


def test_keypoint_error_prefers_the_driving_pose(world):
    pytest.importorskip("omni.pose", reason="pose estimator not in this build")
    bodies = world.df[world.df.synth_kind == "body"].reset_index(drop=True)
    assert len(bodies) == 2
    truths = [synth.load_truth(world.resolve(p)).keypoints for p in bodies.synth_truth]
    for i, row in bodies.iterrows():
        video = read_video(world.resolve(row.source))
        fps = 1 / np.median(np.diff(video.times[::2]))
        estimated = effects.body_keypoints(video.frames[::2], fps)
        own = effects.keypoint_error(estimated, truths[i][::2])
        other = effects.keypoint_error(estimated, truths[1 - i][::2])
        assert own < 0.05 and other > 2 * own, (own, other)


def test_truth_errors_only_count_where_the_renderings_differ():
    truth = np.zeros((2, 32, 32, 3), np.uint8)
    other = truth.copy()
    other[:, :4, :4] = 255  # the condition changes a 4x4 patch
    video = truth.copy()
    video[:, 10:, 10:] = 100  # an error both renderings share does not count
    own_err, other_err = effects.truth_errors(video, truth, other)
    assert own_err == pytest.approx(0.0) and other_err == pytest.approx(255.0**2)
    video[:, :4, :4] = 255  # a video that follows the other condition
    assert effects.truth_errors(video, truth, other) == pytest.approx((255.0**2, 0.0))
    big = np.repeat(np.repeat(video, 4, axis=1), 4, axis=2)  # compared at 32 px whatever the size
    assert effects.truth_errors(big, truth, other) == pytest.approx((255.0**2, 0.0))
    assert all(math.isnan(x) for x in effects.truth_errors(video, truth, truth))


def test_truth_match_cancels_what_the_renderings_look_like():
    truth = np.zeros((2, 32, 32, 3), np.uint8)
    other = truth.copy()
    other[:, :4, :4] = 255
    grey = np.full_like(truth, 100)  # ignores the condition: closer to the dark rendering
    assert effects.truth_errors(grey, truth, other)[0] < effects.truth_errors(grey, truth, other)[1]
    matching, mismatching = effects.truth_match(grey, grey, truth, other)
    assert matching == pytest.approx(mismatching)  # no effect for a generator that ignores it
    assert effects.truth_match(truth, other, truth, other) == pytest.approx((0.0, 255.0**2))
    assert effects.truth_match(other, truth, truth, other) == pytest.approx((255.0**2, 0.0))


def test_counterfactual_renders_only_change_the_swapped_condition(world):
    """The re-rendered clip equals the video (up to h264); another clip's audio changes only the
    mouth of a face, another clip's pose only the body of a figure."""
    data = Path(world.resolve(world.df.source[0])).parent.parent
    df = world.df
    for kind, swap in (("face", "audio_from"), ("body", "pose_from")):
        rows = df[df.synth_kind == kind].reset_index(drop=True)
        clip, partner = rows.clip_id[0], rows.clip_id[1]
        video = read_video(world.resolve(rows.source[0])).frames[:10].astype(float)
        same = synth.render_counterfactual(data, clip, num_frames=10).astype(float)
        other = synth.render_counterfactual(data, clip, num_frames=10, **{swap: partner})
        assert np.abs(video - same).mean() < 4  # h264
        changed = (np.abs(other.astype(float) - same) > 8).any(-1).mean()
        assert 0.002 < changed < (0.1 if kind == "face" else 0.4), changed
