"""`omni test --generated --real` end to end on real footage: sync, pairing, plug-ins, resume."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from omni import media
from omni.evaluation import run as run_module
from omni.evaluation.extractors import EvalOptions
from omni.evaluation.run import evaluate_folders

FPS = 25


PLUGIN = """
def mean_brightness(frames):
    return frames.reshape(len(frames), -1).mean(axis=1)
"""


@pytest.fixture(scope="module")
def speech(footage) -> tuple[np.ndarray, np.ndarray]:
    """The 5 s of a real speaker at 25 fps, 320², with its own audio."""
    path = footage("talk_news_a.mp4")
    frames = media.read_video(path, fps=FPS, max_frames=5 * FPS, size=(320, 320)).frames
    return frames, media.read_audio(path, sr=16000, end_s=5.0)


def test_own_audio_beats_shifted_audio(speech, tmp_path: Path) -> None:
    frames, own = speech
    hop = 16000 // FPS
    late = np.concatenate([np.zeros(4 * hop, np.float32), own])[: len(own)]  # 4 frames late
    gen = tmp_path / "generated"
    for name, audio in (("own", own), ("late", late), ("shifted", np.roll(own, 40 * hop))):
        media.write_video(gen / f"{name}.mp4", frames, FPS, audio=audio, sr=16000)
    metrics = evaluate_folders(gen, None, tmp_path / "out", EvalOptions(hands=False))

    rows = {v["name"]: v["generated"] for v in metrics["videos"]}
    assert rows["own"]["audio"] == "own"
    # in sync as given (lag 0), the own track correlates best with the mouth
    corr = {name: row["landmark_sync_corr"] for name, row in rows.items()}
    assert corr["own"] > 0.15 and corr["own"] > corr["late"] + 0.1
    assert corr["own"] > corr["shifted"] + 0.1
    # the 4-frame delay moves the best lag by 4 (positive = audio late), within one frame
    shift = rows["late"]["landmark_sync_offset"] - rows["own"]["landmark_sync_offset"]
    assert abs(shift - 4) <= 1
    assert metrics["metrics"]["landmark_sync_corr"]["videos"] == 3
    for name in ("fid", "fvd", "sync_c", "sync_d", "iqa", "ase"):
        assert metrics["metrics"][name]["status"] == "unavailable"
        assert metrics["metrics"][name]["enable_with"].startswith("--")
    assert "hkc" not in metrics["metrics"]  # not asked for
    # the face track's bundled mediapipe models are recorded (hashes of the files themselves)
    bundled = {k: w for k, w in metrics["weights"].items() if k.startswith("mediapipe/")}
    assert set(bundled) == {
        "mediapipe/face_detection_short_range",
        "mediapipe/face_detection_full_range_sparse",
        "mediapipe/face_landmark",
    }
    for record in bundled.values():
        assert record["sha256"] == hashlib.sha256(Path(record["path"]).read_bytes()).hexdigest()
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk["metrics"]["landmark_sync_dist"]["value"] == pytest.approx(
        np.mean([r["landmark_sync_dist"] for r in rows.values()])
    )


def test_pairs_by_name_accounts_for_every_file_and_resumes(
    footage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gen, real = tmp_path / "gen", tmp_path / "real"
    clip = media.read_video(footage("d12.mp4"), fps=FPS, max_frames=20, size=(128, 128))
    for folder, names in ((gen, ("a", "only_gen")), (real, ("a", "only_real"))):
        for name in names:
            media.write_video(folder / f"{name}.mp4", clip.frames, FPS)
    (gen / "broken.mp4").write_text("not a video")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "brightness_plugin.py").write_text(PLUGIN)  # a user's own module
    monkeypatch.syspath_prepend(tmp_path / "plugins")
    (real / "broken.mp4").write_bytes(b"")
    options = EvalOptions(
        hands=False,
        landmark_sync=False,
        scorers=("iqa=brightness_plugin:mean_brightness",),
    )
    metrics = evaluate_folders(gen, real, tmp_path / "out", options)

    names = [v["name"] for v in metrics["videos"]]
    assert names == ["a", "broken"]
    row = metrics["videos"][0]["generated"]
    assert row["frames"] == 20 and row["audio"] == "none"
    expected = media.read_video(gen / "a.mp4").frames.mean()
    assert row["iqa"] == pytest.approx(expected, rel=1e-6)
    assert metrics["metrics"]["iqa"]["version"] == options.scorers[0]
    assert metrics["metrics"]["iqa"]["higher_is_better"] is True
    assert metrics["metrics"]["iqa"]["videos"] == 1
    assert metrics["metrics"]["ase"]["status"] == "unavailable"
    skipped = {(s.get("side"), Path(s["file"]).name): s["reason"] for s in metrics["skipped"]}
    assert set(skipped) == {
        (None, "only_gen.mp4"),
        (None, "only_real.mp4"),
        ("generated", "broken.mp4"),
        ("real", "broken.mp4"),
    }
    assert "not a readable media file" in skipped[("generated", "broken.mp4")]
    assert "empty" in skipped[("real", "broken.mp4")]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/jpeg;base64" in html and "only_real.mp4" in html

    # a second run finds every result in the cache: nothing is decoded again
    def fail(*args, **kwargs):
        raise AssertionError("re-scored a cached video")

    monkeypatch.setattr(run_module, "score_video", fail)
    again = evaluate_folders(gen, real, tmp_path / "out", options)
    assert again["videos"][0] == metrics["videos"][0]


def test_folder_errors_say_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / "gen").mkdir()
    with pytest.raises(ValueError, match="no videos"):
        evaluate_folders(tmp_path / "gen", None, tmp_path / "out", EvalOptions())
    with pytest.raises(ValueError, match="not a directory"):
        evaluate_folders(tmp_path / "absent", None, tmp_path / "out", EvalOptions())
