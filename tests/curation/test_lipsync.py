"""Landmark lip-sync: pure functions on synthetic signals, and shifts of real speech found."""

from __future__ import annotations

import numpy as np
import pytest

from omni.curation.lipsync import audio_envelope, landmark_sync, mouth_signal
from omni.media import read_audio, read_video, write_video

FPS, SR, HOP = 25, 16000, 640  # 640 audio samples per video frame
METHODS = ("cavity", "mesh")


def test_known_lag_is_recovered_exactly():
    rng = np.random.default_rng(0)
    speech = np.convolve(rng.random(140), np.ones(3) / 3, mode="same")
    mouth = speech[10:130]
    for lag in (-6, 0, 4):
        result = landmark_sync(mouth, speech[10 - lag : 130 - lag], max_offset=15)
        assert result.offset == -lag or result.offset == lag
    late = landmark_sync(mouth, speech[10 - 4 : 130 - 4])  # envelope[t] = mouth[t - 4]: audio late
    assert late.offset == 4 and late.dist < 0.2 and late.conf > 0.5
    assert late.curve.shape == (31,)


def test_no_face_or_no_sound_gives_no_score():
    env = np.random.default_rng(1).random(100)
    mouth = np.full(100, np.nan)
    mouth[:30] = 1.0
    assert landmark_sync(mouth, env) is None
    assert landmark_sync(np.random.default_rng(2).random(100), np.zeros(100)) is None
    with pytest.raises(ValueError, match="one length"):
        landmark_sync(np.zeros(10), np.zeros(11))


def test_envelope_follows_speech_band_bursts():
    t = np.arange(SR * 2) / SR
    audio = np.where((t >= 0.4) & (t < 0.8), np.sin(2 * np.pi * 1000 * t), 0.0)
    env = audio_envelope(audio, SR, FPS, 60)  # runs past the audio's end: silence
    assert env.shape == (60,)
    assert env[12:18].min() > 0.5 and env[:8].max() < 0.05 and env[25:].max() < 0.05
    hum = audio_envelope(np.sin(2 * np.pi * 50 * t), SR, FPS, 50)  # below the speech band
    assert hum[5:45].max() < 0.05


def _shifted(audio: np.ndarray, frames: int) -> np.ndarray:
    """Audio delayed by `frames` video frames (advanced when negative), same length."""
    n = frames * HOP
    if n >= 0:
        return np.concatenate([np.zeros(n, np.float32), audio])[: len(audio)]
    return np.concatenate([audio[-n:], np.zeros(-n, np.float32)])


def _speech(footage, name: str, tmp_path, shifts: tuple[int, ...], method: str) -> dict:
    """Write the clip with its audio shifted (by omni.media.write_video), score each file."""
    src = footage(name)
    clip = read_video(src, fps=FPS, size=(512, 512))
    audio = read_audio(src, SR, 0.0, len(clip.frames) / FPS)
    files = {
        s: write_video(tmp_path / f"{s}.mp4", clip.frames, FPS, _shifted(audio, s), SR)
        for s in shifts
    }
    # the video track of every file is the same encode, so its mouth is measured once
    mouth = mouth_signal(read_video(files[shifts[0]], fps=FPS).frames, method)
    out = {}
    for s, path in files.items():
        env = audio_envelope(read_audio(path, SR, 0.0, len(mouth) / FPS), SR, FPS, len(mouth))
        out[s] = landmark_sync(mouth, env)
    return {"mouth": mouth, "audio": audio, "sync": out}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "name", [pytest.param("talk_news_a.mp4", marks=pytest.mark.slow), "talk_news_b.mp4"]
)
def test_shifted_speech_is_found_within_one_frame(footage, tmp_path, name, method):
    result = _speech(footage, name, tmp_path, (-3, 3), method)
    assert not np.isnan(result["mouth"]).any()
    for shift, sync in result["sync"].items():
        assert abs(sync.offset - shift) <= 1, (shift, sync.offset)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["d12.mp4", "d20.mp4"])
def test_shift_is_found_relative_to_the_own_offset(footage, tmp_path, name, method):
    # d12's and d20's own tracks do not peak at lag 0 (d12 correlates weakly with its mouth, d20's
    # best lag is ~7 frames), but a shift of the track must still move the detected lag by the shift.
    sync = _speech(footage, name, tmp_path, (-3, 0, 3), method)["sync"]
    assert abs(sync[3].offset - sync[0].offset - 3) <= 1
    assert abs(sync[-3].offset - sync[0].offset + 3) <= 1


# The mesh signal with the full-range detector every 10th frame (facetrack.DETECT_EVERY) puts
# talk_news_b's own audio at -2 frames at this 512-px decode (-1 with detection on every frame);
# the default cavity signal finds -1 (docs/curation.md, "Landmark lip-sync, measured").
MESH_OWN_OFFSET = pytest.mark.xfail(reason="mesh: talk_news_b own offset -2 at 512 px", strict=True)


@pytest.mark.parametrize("method", ["cavity", pytest.param("mesh", marks=MESH_OWN_OFFSET)])
def test_own_audio_ranks_above_another_clips_audio(footage, method):
    clips = {}
    for name in ("talk_news_a.mp4", "talk_news_b.mp4"):
        video = read_video(footage(name), fps=FPS, size=(512, 512))
        clips[name] = (mouth_signal(video.frames, method), read_audio(footage(name), SR, 0.0, 4.8))
    for name, (mouth, _) in clips.items():
        n = min(len(mouth), 120)
        scores = {
            other: landmark_sync(mouth[:n], audio_envelope(audio, SR, FPS, n))
            for other, (_, audio) in clips.items()
        }
        other = next(o for o in clips if o != name)
        assert abs(scores[name].offset) <= 1
        assert scores[name].conf > scores[other].conf and scores[name].dist < scores[other].dist
