import dataclasses
import json

import numpy as np
import pytest
import torch

from omni.generate.pipeline import (
    GenerationResult,
    Guidance,
    OmniPipeline,
    VideoDefaults,
    drift_path,
    save_video,
)
from omni.media import probe, read_audio, read_video
from omni.pose import Keypoints
from omni.provenance import file_sha256, verify

NO_CFG = Guidance(text=1.0, audio=1.0)


@pytest.fixture(scope="module")
def face(footage) -> np.ndarray:
    return read_video(footage("talk_news_a.mp4"), max_frames=1).frames[0]


@pytest.fixture(scope="module")
def speech(fixtures_dir) -> np.ndarray:
    return read_audio(fixtures_dir / "audio" / "speech_en.wav", sr=16000, end_s=3.0)


def _pipe(model_dir, **defaults) -> OmniPipeline:
    return OmniPipeline.from_pretrained(model_dir, VideoDefaults(**defaults), device="cpu")


def _spy(pipe: OmniPipeline) -> list[tuple]:
    """Record (noisy latent shape, conditions) of every model forward."""
    calls = []
    inner = pipe.model.velocity

    def velocity(x, t, cond):
        calls.append((tuple(x.shape), cond))
        return inner(x, t, cond)

    pipe.model.velocity = velocity
    return calls


def _keypoints(n: int) -> Keypoints:
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    xy = np.stack([0.3 + 0.4 * t + 0 * np.arange(75), 0.5 + 0 * t + 0 * np.arange(75)], -1)
    return Keypoints(xy, np.ones((n, 75), np.float32))


def test_long_video_is_chained_by_motion_frames(causal_model_dir, face, speech):
    pipe = _pipe(causal_model_dir, segment_frames=9, height=32, width=32)
    calls = _spy(pipe)
    result = pipe(face, audio=speech, audio_sr=16000, seconds=0.97, steps=2, cfg=NO_CFG)
    assert len(result.frames) == 24  # 0.97 s at 25 fps, to the nearest frame
    assert [(s.start, s.keep) for s in result.segments] == [(0, 9), (9, 9), (18, 6)]
    assert len(calls) == 3 * 2  # one forward per step and segment
    assert all(shape == (1, 4, 3, 8, 8) for shape, _ in calls)  # 9 frames -> 3 latent frames
    motions = [cond.motion for _, cond in calls[::2]]
    assert motions[0] is None
    # segment 2 sees the last 5 frames of segment 1 as 2 clean latent frames of the causal VAE
    expected = pipe.model.encode_video(
        torch.from_numpy(result.frames[4:9]).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]
    )
    assert motions[1].shape == (1, 4, 2, 8, 8)
    torch.testing.assert_close(motions[1], expected)
    assert bool(calls[2][1].active["motion"].all())
    # each segment's audio features are its own frames' (frame 9.. for segment 2)
    feats = pipe.model.audio_features(speech, 16000, 25.0, 27)
    torch.testing.assert_close(calls[2][1].audio[0], torch.from_numpy(feats[9:18]))


def test_same_seed_same_video_other_seed_other_video(model_dir, face, speech):
    pipe = _pipe(model_dir)
    a = pipe(face, audio=speech, audio_sr=16000, seconds=0.4, steps=2, seed=3)
    b = pipe(face, audio=speech, audio_sr=16000, seconds=0.4, steps=2, seed=3)
    c = pipe(face, audio=speech, audio_sr=16000, seconds=0.4, steps=2, seed=4)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert np.abs(a.frames.astype(int) - c.frames).mean() > 1.0


@pytest.mark.parametrize(
    "audio,pose,expected",
    [
        (False, False, ("text", "ref")),
        (True, False, ("text", "ref", "audio")),
        (False, True, ("text", "ref", "pose")),  # pose-only driving: audio off
        (True, True, ("text", "ref", "audio", "pose")),
    ],
)
def test_conditions_follow_the_paper_rule(model_dir, face, speech, audio, pose, expected):
    pipe = _pipe(model_dir)
    calls = _spy(pipe)
    result = pipe(
        face,
        audio=speech if audio else None,
        audio_sr=16000,
        pose=_keypoints(9) if pose else None,
        seconds=0.36,
        steps=1,
        cfg=NO_CFG,
    )
    assert result.conditions == expected
    ((_, cond),) = calls
    for name in ("text", "ref", "audio", "pose"):
        on = name in expected
        assert bool(cond.is_active(name, 1).all()) == on, name
    if pose:
        assert cond.pose.shape == (1, 17, 9, 32, 32)


def test_guidance_passes_batched_in_one_forward_and_zero_weight_passes_skipped(
    model_dir, face, speech
):
    pipe = _pipe(model_dir)
    calls = _spy(pipe)

    def rows(cfg: Guidance) -> list[int]:
        calls.clear()
        pipe(face, audio=speech, audio_sr=16000, seconds=0.36, steps=3, cfg=cfg)
        return [shape[0] for shape, _ in calls]

    assert rows(Guidance(text=2.0, audio=3.0, schedule="constant")) == [3, 3, 3]
    assert rows(Guidance(text=1.0, audio=3.0, schedule="constant")) == [2, 2, 2]  # no uncond pass
    assert rows(NO_CFG) == [1, 1, 1]
    # annealed to 1: the last step needs only the fully conditioned pass
    assert rows(Guidance(text=2.0, audio=3.0, text_end=1.0, audio_end=1.0, schedule="linear")) == [
        3,
        3,
        1,
    ]


def test_every_condition_changes_the_video(model_dir, face, speech):
    pipe = _pipe(model_dir)
    base = dict(seconds=0.36, steps=2, seed=0, cfg=NO_CFG, audio_sr=16000)
    plain = pipe(face, **base).frames.astype(int)
    talk = pipe(face, audio=speech, **base).frames
    posed = pipe(face, pose=_keypoints(9), **base).frames
    other = pipe(255 - face, **base).frames
    for frames in (talk, posed):
        assert np.abs(plain - frames).mean() > 0.5
    # reference tokens reach the noisy ones only through attention: a small but real change
    assert np.abs(plain - other).mean() > 0.01


def test_video_length_and_audio_sync_after_writing(model_dir, face, tmp_path):
    sr, fps = 16000, 25.0
    clicks = np.zeros(int(1.3 * sr), np.float32)
    for t in (0.2, 0.6, 1.0):
        clicks[int(t * sr) : int(t * sr) + 80] = 0.8  # 5 ms clicks at known times
    pipe = _pipe(model_dir)
    result = pipe(face, audio=clicks, audio_sr=sr, steps=1, cfg=NO_CFG)
    assert len(result.frames) == round(1.3 * fps)  # --seconds defaults to the audio's length
    out = save_video(result, tmp_path / "v.mp4")
    info = probe(out)
    assert info.num_frames == len(result.frames)
    heard = read_audio(out, sr=sr)  # on the video timeline of the written file
    assert abs(len(heard) / sr - len(result.frames) / fps) <= 1 / fps
    corr = np.correlate(np.abs(heard[: len(clicks)]), np.abs(clicks), mode="full")
    lag = (np.argmax(corr) - (len(clicks) - 1)) / sr
    assert abs(lag) < 0.002  # in sync to well under a frame (40 ms)
    drift = json.loads(drift_path(out).read_text())
    assert drift["num_frames"] == len(result.frames) and len(drift["segments"]) == 4
    assert list(tmp_path.glob("*.part")) == []


def test_short_pose_is_held_or_trimmed_with_a_warning(model_dir, face, speech):
    pipe = _pipe(model_dir)
    args = dict(audio=speech, audio_sr=16000, pose=_keypoints(5), seconds=0.4, steps=1, cfg=NO_CFG)
    held = pipe(face, pose_fit="hold", **args)
    assert len(held.frames) == 10 and any("held" in w for w in held.warnings)
    trimmed = pipe(face, pose_fit="trim", **args)
    assert len(trimmed.frames) == 5 and any("trimmed" in w for w in trimmed.warnings)
    assert len(trimmed.audio) == round(5 / 25 * 16000)


def test_reference_without_a_face_warns(model_dir):
    result = _pipe(model_dir)(np.full((48, 48, 3), 90, np.uint8), seconds=0.04, steps=1)
    assert any("no face" in w for w in result.warnings)


@pytest.mark.parametrize("resolution", [(30, 32), (32, 4), (0, 32)])
def test_impossible_resolution_is_refused(model_dir, face, resolution):
    with pytest.raises(ValueError, match="multiples of 8"):
        _pipe(model_dir)(face, resolution=resolution, steps=1)


def test_weights_of_another_preset_are_refused(model_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    config = json.loads((model_dir / "config.json").read_text())
    config["mmdit"]["num_dual_blocks"] = 3
    (other / "config.json").write_text(json.dumps(config))
    (other / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="do not match"):
        OmniPipeline.from_pretrained(other)
    with pytest.raises(ValueError, match="not an omni model directory"):
        OmniPipeline.from_pretrained(tmp_path / "missing")


def test_result_is_a_dataclass_with_frames_and_audio(model_dir, face, speech):
    result = _pipe(model_dir)(face, audio=speech, audio_sr=16000, seconds=0.2, steps=1)
    assert isinstance(result, GenerationResult)
    assert result.frames.dtype == np.uint8 and result.frames.shape == (5, 32, 32, 3)
    assert result.audio.shape == (round(0.2 * 16000),) and result.sr == 16000
    np.testing.assert_array_equal(result.audio, speech[: len(result.audio)])


def test_progress_is_reported_per_segment_and_forward(model_dir, face):
    seen = []
    pipe = _pipe(model_dir)
    pipe(
        face,
        seconds=0.72,
        steps=2,
        solver="heun",
        cfg=NO_CFG,
        on_progress=lambda *a: seen.append(a),
    )
    # 18 frames = 2 segments of 9; Heun: 2 forwards per step except the last -> 3 per segment
    assert seen == [(s, 2, k, 3) for s in range(2) for k in (1, 2, 3)]


def test_saved_video_carries_a_detectable_watermark_and_the_record(model_dir, footage, tmp_path):
    pipe = _pipe(model_dir)
    result = pipe(np.zeros((32, 32, 3), np.uint8), seconds=1.6, steps=1, check_face=False)
    # an untrained model draws clipped noise, which hides a chroma mark: use real footage
    real = read_video(footage("talk_news_a.mp4"), size=(32, 32), max_frames=40).frames
    out = save_video(dataclasses.replace(result, frames=real), tmp_path / "v.mp4")
    report = verify(out)
    assert report.marked and report.consistent
    assert (report.record.seed, report.record.conditions["active"]) == (0, "text+ref")
    assert report.record.checkpoint_sha256 == file_sha256(model_dir / "model.safetensors")
    assert (probe(out).width, probe(out).height) == (128, 128)  # 32 px enlarged x4 to be marked
    assert json.loads(drift_path(out).read_text())["upscaled_for_watermark"] == 4


def test_a_failed_write_leaves_no_json_behind(model_dir, tmp_path):
    result = _pipe(model_dir)(
        np.zeros((32, 32, 3), np.uint8), seconds=0.04, steps=1, check_face=False
    )
    odd = dataclasses.replace(result, frames=np.zeros((1, 33, 33, 3), np.uint8))  # h264 needs even
    with pytest.raises(ValueError, match="even"):
        save_video(odd, tmp_path / "v.mp4", watermark=False)
    assert list(tmp_path.iterdir()) == []


def test_exported_generation_settings_are_the_default(tmp_path, model_dir, face):
    from omni.model.omni_model import GenerationDefaults, OmniModel

    model = OmniModel.from_pretrained(model_dir)
    model.config.generation = GenerationDefaults(fps=12.5, segment_frames=5, height=24, width=40)
    directory = model.save_pretrained(tmp_path / "exported")
    assert OmniModel.from_pretrained(directory).config.generation.fps == 12.5
    pipe = OmniPipeline.from_pretrained(directory, device="cpu")
    result = pipe(face, seconds=0.4, steps=1, cfg=NO_CFG)
    assert result.fps == 12.5
    assert result.frames.shape[1:3] == (24, 40)  # exported height, width
    assert len(result.frames) == 5  # 0.4 s at 12.5 fps
    told = OmniPipeline.from_pretrained(directory, VideoDefaults(height=32, width=32), device="cpu")
    assert told.defaults.height == 32 and told.defaults.fps == 25.0  # explicit defaults win
