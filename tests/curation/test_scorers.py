"""Scorers on real footage: one decode feeds all; values are what the footage shows."""

from __future__ import annotations

import numpy as np
import pytest

from omni.curation.score import score_task
from omni.curation.scorers import (
    DEFAULT_SCORERS,
    SCORERS,
    Clip,
    ScoreConfig,
    decode_clip,
    motion_amplitude,
    pose_jitter,
    scorer_version,
    speech_activity,
)
from omni.pose import load_keypoints


def _task(path, tmp_path, scorers=DEFAULT_SCORERS, start=0.0, end=2.4, **options) -> dict:
    config = ScoreConfig(keypoints_dir=str(tmp_path / "kp"), **options)
    return {
        "versions": {n: scorer_version(n, config) for n in scorers},
        "clip_id": "c1",
        "path": str(path),
        "start_s": start,
        "end_s": end,
        "scorers": list(scorers),
        "config": config.__dict__,
    }


def test_default_scorers_on_a_talking_head(footage, tmp_path):
    out = score_task(_task(footage("talk_news_b.mp4"), tmp_path))
    assert out["score_error"] is None
    assert out["face_present"] == 1.0 and out["face_count"] == 1.0
    assert 0.05 < out["face_area"] < 0.6 and out["face_yaw"] < 30
    assert out["sync_method"] == "cavity" and abs(out["sync_offset"]) <= 2
    assert out["speech_activity"] > 0.5 and out["aesthetic"] is None
    kp, times = load_keypoints(out["keypoints_path"])
    assert len(kp) == 3 and np.allclose(np.diff(times), 1.0)  # sparse pass: 1 fps
    assert out["pose_visibility"] < 0.5 and out["pose_jitter"] is None  # no dense pass
    assert out["pose_hands"] == 0.0  # hands are out of frame in this shot
    assert all(out[f"{n}_version"] for n in DEFAULT_SCORERS)


def test_a_visible_body_gets_dense_keypoints(footage, tmp_path):
    out = score_task(_task(footage("s13.mp4"), tmp_path, ("pose",), end=1.0))
    kp, times = load_keypoints(out["keypoints_path"])
    assert len(kp) == 13 and np.allclose(np.diff(times), 2 / 25)  # dense pass: 12.5 fps
    assert out["pose_visibility"] > 0.8 and 0 <= out["pose_jitter"] < 0.01


def test_the_sparse_pass_scores_each_frame_on_its_own(footage):
    # frames a second apart: a full body, then a head-and-shoulders crop of it. Smoothed as
    # video (pose version 4), the crop's visibility stayed near the full body's (> 0.9)
    import cv2

    from omni.media import read_video
    from omni.pose import NUM_BODY

    full = read_video(footage("s13.mp4"), size=(240, 360), max_frames=1).frames[0]
    head = cv2.resize(full[:120, 40:200], (240, 360))
    clip = Clip("c", np.stack([full, head]), np.array([0.0, 1.0]), None, 1.0)
    visibility = clip.sparse_pose.conf[:, :NUM_BODY].mean(axis=1)
    assert visibility[0] > 0.9 and visibility[1] < 0.75


def test_dense_pose_rate_is_an_option_and_part_of_the_version(footage, tmp_path):
    assert scorer_version("pose", ScoreConfig()) == "5"
    assert scorer_version("pose", ScoreConfig(dense_pose_fps=6.25)) == "5+dense6.25fps"
    with pytest.raises(ValueError, match="dense_pose_fps"):
        ScoreConfig(dense_pose_fps=0)
    task = _task(footage("s13.mp4"), tmp_path, ("pose",), end=1.0, dense_pose_fps=6.25)
    out = score_task(task)
    kp, times = load_keypoints(out["keypoints_path"])
    assert len(kp) == 7 and np.allclose(np.diff(times), 4 / 25)  # every 4th frame
    assert out["pose_version"] == "5+dense6.25fps" and out["pose_visibility"] > 0.8


def test_lipsync_method_sets_the_version_and_the_mesh_rate(footage, tmp_path):
    # resumed manifests re-score lip-sync when the method changes; mesh keeps version 2's numbers
    assert scorer_version("lipsync", ScoreConfig()) == "3"
    assert scorer_version("lipsync", ScoreConfig(lipsync="mesh")) == "2"
    with pytest.raises(ValueError, match="lipsync"):
        ScoreConfig(lipsync="syncnet")
    task = _task(footage("talk_news_b.mp4"), tmp_path, ("face", "lipsync"), end=1.6, lipsync="mesh")
    out = score_task(task)
    assert out["sync_method"] == "landmark" and out["lipsync_version"] == "2"
    assert abs(out["sync_offset"]) <= 2 and out["sync_conf"] > 0.15
    clip = decode_clip(task["path"], "c1", 0.0, 1.6, ScoreConfig())
    have = np.flatnonzero(~np.isnan(clip.faces.landmarks[:, 0, 0]))  # cavity: mesh keyframes
    assert have.tolist() == list(range(0, 40, 5))


def test_overlapped_scoring_equals_sequential(footage, tmp_path, monkeypatch):
    import omni.curation.score

    scorers = ("face", "lipsync", "pose", "quality", "motion", "speech")
    task = _task(footage("talk_news_b.mp4"), tmp_path, scorers, start=0.5, end=2.1)
    out = {}
    for overlap in (True, False):
        monkeypatch.setattr(omni.curation.score, "OVERLAP", overlap)
        out[overlap] = score_task(task)
    assert out[True] == out[False] and list(out[True]) == list(out[False])
    assert out[True]["score_error"] is None and out[True]["face_present"] == 1.0
    config = ScoreConfig()
    clips = [
        decode_clip(task["path"], "c", 0.5, 2.1, config, overlap=o, faces=o, pose=o)
        for o in (True, False)
    ]
    assert "faces" in clips[0].__dict__ and "sparse_pose" in clips[0].__dict__  # while decoding
    assert "sparse_pose" not in clips[1].__dict__
    assert clips[0].sparse_pose_index.tolist() == [0, 25]
    for field in ("xy", "conf"):
        assert np.array_equal(
            getattr(clips[0].sparse_pose, field), getattr(clips[1].sparse_pose, field), True
        )
    assert len(clips[0].frames) == 40 and len(clips[0].audio) == 40 * 640
    assert np.array_equal(clips[0].audio, clips[1].audio)
    assert np.array_equal(clips[0].frames, clips[1].frames)
    assert np.array_equal(clips[0].times, clips[1].times)
    for field in ("count", "box", "score", "landmarks"):
        assert np.array_equal(getattr(clips[0].faces, field), getattr(clips[1].faces, field), True)
    # open end (to the end of the file): the same frames and audio as the plain decode
    ends = [decode_clip(task["path"], "c", 4.0, None, config, overlap=o) for o in (True, False)]
    assert len(ends[0].frames) == len(ends[1].frames) > 0
    assert np.array_equal(ends[0].audio, ends[1].audio)


def test_decode_failure_is_a_reason(tmp_path):
    (tmp_path / "bad.mp4").write_text("text")
    out = score_task(_task(tmp_path / "bad.mp4", tmp_path))
    assert out["status"] == "error" and out["error"].startswith("decode:")


def test_pure_measures():
    xy = np.zeros((5, 2, 2))
    xy[:, 0, 0] = [0.0, 0.1, 0.2, 0.3, 0.4]  # constant speed: no jitter
    xy[:, 1, 0] = [0.0, 0.1, 0.0, 0.1, 0.0]  # zig-zag: 0.2 per step²
    conf = np.ones((5, 2))
    assert pose_jitter(xy[:, :1], conf[:, :1]) == pytest.approx(0.0, abs=1e-12)
    assert pose_jitter(xy[:, 1:], conf[:, 1:]) == pytest.approx(0.2)
    assert pose_jitter(xy, np.zeros((5, 2))) is None
    t = np.arange(16000 * 2) / 16000
    burst = np.where(t < 0.5, np.sin(2 * np.pi * 800 * t), 0.0)
    assert speech_activity(burst, 16000, 25) == pytest.approx(0.25, abs=0.03)
    assert speech_activity(np.zeros(16000), 16000, 25) == 0.0


def test_motion_is_the_shift_per_frame():
    import cv2

    texture = cv2.GaussianBlur(np.random.default_rng(0).random((140, 200)) * 255, (0, 0), 2)
    frames = np.stack([texture[20:120, 20 + 2 * t : 180 + 2 * t] for t in range(5)])  # 2 px/frame
    assert motion_amplitude(frames) == pytest.approx(2 / 160, rel=0.15)
    assert motion_amplitude(np.stack([frames[0]] * 3)) == pytest.approx(0.0, abs=1e-3)
    assert motion_amplitude(frames[:1]) is None
    # the scorer: pairs starting every 4th frame (motion_stride), grey only for their frames
    moving = np.stack([texture[20:120, 2 * t : 160 + 2 * t] for t in range(10)]).astype(np.uint8)
    clip = Clip("c", np.repeat(moving[..., None], 3, axis=-1), np.arange(10) / 25, None, 25.0)
    out = SCORERS["motion"]()(clip, ScoreConfig())["motion"]
    assert out == pytest.approx(2 / 160, rel=0.15)
    assert sorted(clip._gray) == [0, 1, 4, 5, 8, 9]
    assert np.array_equal(clip.gray([4]), moving[4:5].astype(np.float32))


@pytest.mark.slow
def test_ray_engine_gives_the_same_manifest(footage, tmp_path):
    from click.testing import CliRunner

    from omni.curation.cli import curate
    from omni.manifest import read_manifest

    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("d0.mp4", "talk_news_b.mp4"):
        (raw / name).write_bytes(footage(name).read_bytes())
    (raw / "bad.mp4").write_text("x")
    runner = CliRunner()
    args = ["--scorers", "quality,motion,speech"]
    assert (
        runner.invoke(curate, ["probe", str(raw), "--out", str(tmp_path / "p.parquet")]).exit_code
        == 0
    )
    for engine, workers in (("local", "1"), ("ray", "2")):
        result = runner.invoke(
            curate,
            ["score", str(tmp_path / "p.parquet"), "--out", str(tmp_path / f"{engine}.parquet"),
             "--engine", engine, "--workers", workers, *args],
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    local = read_manifest(tmp_path / "local.parquet").df
    ray = read_manifest(tmp_path / "ray.parquet").df
    assert local.equals(ray) and local["sharpness"].notna().sum() == 2
