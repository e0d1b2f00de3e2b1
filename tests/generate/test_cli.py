import csv

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

from omni.cli import main
from omni.media import probe, read_audio, read_video
from omni.pose import Keypoints, save_keypoints
from omni.provenance import file_sha256, verify

FAST = ["--steps", "1", "--cfg-text", "1", "--cfg-audio", "1"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, footage, fixtures_dir):
    root = tmp_path_factory.mktemp("inputs")
    frame = read_video(footage("talk_news_b.mp4"), max_frames=1).frames[0]
    Image.fromarray(frame).save(root / "ref.png")
    speech = read_audio(fixtures_dir / "audio" / "speech_en.wav", sr=44100, end_s=0.5)
    sf.write(root / "speech.wav", np.stack([speech, speech], 1), 44100)  # stereo 44.1 kHz
    return root


def _run(*args):
    return CliRunner().invoke(main, ["generate", *map(str, args)])


def test_generate_writes_video_with_audio_and_drift(model_dir, inputs, tmp_path):
    out = tmp_path / "out" / "talk.mp4"
    result = _run(
        "--model", model_dir, "--ref", inputs / "ref.png", "--audio", inputs / "speech.wav",
        "--text", "a woman talks", "--out", out, "--resolution", "48x32", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = probe(out)
    # 48x32 is below the smallest side the watermark is found at: enlarged x4 (nearest)
    assert (info.width, info.height, info.num_frames, info.has_audio) == (192, 128, 12, True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["talk.drift.json", "talk.mp4"]
    report = verify(out)  # the provenance record of this model and run (the mark: test_pipeline)
    assert report.record.watermark
    assert report.record.checkpoint_sha256 == file_sha256(model_dir / "model.safetensors")
    assert report.record.conditions["active"] == "text+ref+audio"
    assert report.record.conditions["audio"] == "speech.wav" and report.record.watermark


def test_no_watermark_is_recorded(model_dir, inputs, tmp_path):
    out = tmp_path / "plain.mp4"
    args = ["--ref", inputs / "ref.png", "--out", out, "--seconds", "0.2", "--no-watermark"]
    assert _run("--model", model_dir, *args, *FAST).exit_code == 0
    report = verify(out)
    assert not report.marked and report.record.watermark is False
    assert probe(out).width == 32  # unmarked small videos keep their size


@pytest.mark.parametrize(
    "args,message",
    [
        (["--ref", "missing.png"], "does not exist"),
        (["--audio", "missing.wav"], "does not exist"),
        (["--resolution", "30x30"], "impossible"),
        (["--out", "{tmp}/v.avi"], ".mp4"),
    ],
)
def test_bad_input_fails_clearly_and_leaves_no_output(model_dir, inputs, tmp_path, args, message):
    base = {"--ref": inputs / "ref.png", "--out": tmp_path / "v.mp4"}
    for key, value in zip(args[::2], args[1::2], strict=True):
        base[key] = value.format(tmp=tmp_path) if "{tmp}" in value else tmp_path / value
    if "--resolution" in args:
        base["--resolution"] = "30x30"
    flat = [x for kv in base.items() for x in kv]
    result = _run("--model", model_dir, *flat, *FAST)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_usage_errors(model_dir, inputs, tmp_path):
    assert _run("--ref", inputs / "ref.png", "--out", tmp_path / "v.mp4").exit_code == 2
    both = _run("--model", model_dir, "--ckpt", "x.ckpt", "--ref", "a", "--out", "b.mp4")
    assert both.exit_code == 2 and "exactly one" in both.output
    assert _run("--model", model_dir).exit_code == 2


def test_batch_runs_every_job_accounts_for_failures_and_resumes(model_dir, inputs, tmp_path):
    jobs = tmp_path / "jobs.csv"
    with jobs.open("w", newline="") as f:
        csv.writer(f).writerows(
            [
                ["ref", "audio", "seconds", "seed", "out"],
                [inputs / "ref.png", inputs / "speech.wav", "", "1", "a.mp4"],
                [inputs / "ref.png", "missing.wav", "", "", "b.mp4"],
                [inputs / "ref.png", "", "0.2", "2", "c.mp4"],
            ]
        )
    first = _run("--model", model_dir, "--batch", jobs, "--no-face-check", *FAST)
    assert first.exit_code == 1 and "1 of 3 jobs failed" in first.output
    status = list(csv.DictReader((tmp_path / "jobs.status.csv").open()))
    assert [r["status"] for r in status] == ["done", "failed", "done"]
    assert "missing.wav" in status[1]["reason"]
    assert probe(tmp_path / "c.mp4").num_frames == 5
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "b.drift.json").exists()
    before = (tmp_path / "a.mp4").stat().st_mtime_ns
    again = _run("--model", model_dir, "--batch", jobs, "--no-face-check", *FAST)
    status = list(csv.DictReader((tmp_path / "jobs.status.csv").open()))
    assert [r["status"] for r in status] == ["skipped", "failed", "skipped"]
    assert (tmp_path / "a.mp4").stat().st_mtime_ns == before
    assert again.exit_code == 1


def test_pose_only_driving_from_a_keypoints_file(model_dir, inputs, tmp_path):
    n = 15  # 0.5 s at 30 fps: resampled to 25 fps, the video lasts as long as the pose
    xy = np.tile(np.linspace(0.2, 0.8, n, dtype=np.float32)[:, None, None], (1, 75, 2))
    kp = save_keypoints(tmp_path / "kp.npz", Keypoints(xy, np.ones((n, 75))), np.arange(n) / 30)
    out = tmp_path / "dance.mp4"
    result = _run(
        "--model", model_dir, "--ref", inputs / "ref.png", "--pose", kp, "--out", out,
        "--no-watermark", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert probe(out).num_frames == 13  # ceil(0.5 s x 25 fps): frames starting before 0.5 s
    assert verify(out).record.conditions["active"] == "text+ref+pose"
