"""One video through the metric networks: SyncNet on real speech, HKC/HKV, FID/FVD features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omni import media
from omni.evaluation import run as run_module
from omni.evaluation.extractors import EvalOptions, load_extractors
from omni.evaluation.run import evaluate_folders
from omni.evaluation.scoring import score_video
from omni.evaluation.video import array_video

FPS = 25


def test_syncnet_path_on_real_speech(footage, syncnet_file: Path) -> None:
    path = footage("talk_news_a.mp4")
    frames = media.read_video(path, fps=FPS, max_frames=30, size=(256, 256)).frames
    audio = media.read_audio(path, sr=16000, end_s=30 / FPS)
    ex = load_extractors(EvalOptions(syncnet=syncnet_file, hands=False, landmark_sync=False))
    assert ex.weights["syncnet"]["sha256"] and "sync_c" not in ex.unavailable

    result = score_video(array_video("a", frames, FPS, audio), ex)
    row = result.row
    assert row["sync_windows"] == 30 - 5  # syncnet_python: min(frames, samples / 640) - 5
    assert np.isfinite([row["sync_c"], row["sync_d"]]).all()
    assert row["sync_c"] >= 0 and row["sync_d"] > 0 and abs(row["sync_offset"]) <= 15
    curve = result.curves["syncnet"]
    assert curve.shape == (31,) and curve.min() == pytest.approx(row["sync_d"])

    silent = score_video(array_video("b", frames, FPS, None), ex)
    assert "sync_c" not in silent.row and silent.row["audio"] == "none"
    assert any("no audio" in note for note in silent.row["notes"])


def test_hands_on_a_full_body_clip(footage) -> None:
    src = footage("s13.mp4")  # full body, standing, hands in view
    frames = media.read_video(src, fps=FPS, max_frames=12, size=(360, 540)).frames
    ex = load_extractors(EvalOptions(landmark_sync=False))
    assert {k for k in ex.weights if k.startswith("mediapipe/")} == {
        "mediapipe/pose_detection",
        "mediapipe/pose_landmark_full",
        "mediapipe/hand_recrop",
        "mediapipe/hand_landmark_full",
    }
    row = score_video(array_video("s13", frames, FPS), ex).row
    assert 0 < row["hkc"] <= 1
    assert row["hkv"] >= 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two 2048-d eigendecompositions; minutes on a shared 2-core CPU
def test_fid_and_fvd_end_to_end(footage, tmp_path: Path, inception_file, i3d_file) -> None:
    clip = media.read_video(footage("d12.mp4"), fps=FPS, max_frames=32, size=(96, 96)).frames
    gen, real = tmp_path / "gen", tmp_path / "real"
    for name, shift in (("a", 0), ("b", 16)):
        frames = np.roll(clip, shift, axis=0)
        media.write_video(real / f"{name}.mp4", frames, FPS)
        media.write_video(gen / f"{name}.mp4", (frames * 0.5).astype(np.uint8), FPS)  # darker
    options = EvalOptions(
        inception=inception_file,
        i3d=i3d_file,
        fid_stride=4,
        hands=False,
        landmark_sync=False,
    )
    metrics = evaluate_folders(gen, real, tmp_path / "out", options)["metrics"]
    assert metrics["fid"]["status"] == "ok" and metrics["fid"]["value"] > 0
    assert metrics["fid"]["generated_samples"] == metrics["fid"]["real_samples"] == 16
    assert metrics["fvd"]["real_samples"] == 4 and metrics["fvd"]["value"] > 0

    # the cached features give the set statistics: real against itself is ~0
    fvd = run_module._frechet(
        [{"name": n, "real": p, "generated": p} for n, p in _cached(tmp_path / "out", "real")],
        "fvd",
        400,
    )
    assert abs(fvd.value()) < 1e-6 * metrics["fvd"]["value"]


def _cached(out: Path, side: str) -> list[tuple[str, Path]]:
    return [(p.stem.rsplit("-", 1)[0], p) for p in sorted((out / ".cache" / side).glob("*.npz"))]
