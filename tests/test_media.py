"""A/V timing and robustness of omni.media on real and synthetic files."""

from __future__ import annotations

import numpy as np
import pytest

from omni import media

FPS = 25
SR = 16000


def _flash_and_click(seconds: float = 2.0, flash_frame: int = 17):
    n = round(seconds * FPS)
    frames = np.zeros((n, 64, 64, 3), np.uint8)
    frames[flash_frame] = 255
    audio = np.zeros(round(seconds * SR), np.float32)
    onset = round(flash_frame / FPS * SR)
    audio[onset : onset + 160] = 0.8  # a 10 ms click at the flash
    return frames, audio, flash_frame / FPS


def _click_time(audio: np.ndarray) -> float:
    return float(np.argmax(np.abs(audio) > 0.3)) / SR


def test_written_video_round_trips_click_against_flash(tmp_path):
    frames, audio, flash_t = _flash_and_click()
    path = media.write_video(tmp_path / "sync.mp4", frames, FPS, audio, SR)
    clip = media.read_video(path)
    seen_flash = clip.times[int(np.argmax(clip.frames.mean(axis=(1, 2, 3))))]
    heard = _click_time(media.read_audio(path, SR))
    assert abs(seen_flash - flash_t) < 1e-3
    # judged to a frame in lip-sync: the click must land within 10 ms of the flash
    assert abs(heard - seen_flash) < 0.010, f"audio {heard:.3f}s vs video {seen_flash:.3f}s"


def test_written_video_has_requested_length(tmp_path):
    frames, audio, _ = _flash_and_click(seconds=3.0)
    path = media.write_video(tmp_path / "len.mp4", frames, FPS, audio, SR)
    info = media.probe(path)
    assert info.num_frames == len(frames)
    assert info.has_audio and info.audio_sr == SR
    assert len(media.read_audio(path, SR)) == pytest.approx(3.0 * SR, abs=SR * 0.03)


def test_read_video_resamples_by_timestamps(footage):
    clip = media.read_video(footage("d18.mp4"), start_s=1.0, end_s=2.0, fps=25, size=(64, 64))
    assert clip.frames.shape == (25, 64, 64, 3)
    np.testing.assert_allclose(np.diff(clip.times), 1 / 25, atol=1e-9)
    assert clip.times[0] == pytest.approx(1.0)


def test_read_audio_aligns_to_video_start(footage):
    path = footage("d12.mp4")
    info = media.probe(path)
    full = media.read_audio(path, SR)
    part = media.read_audio(path, SR, start_s=2.0, end_s=3.0)
    assert len(part) == SR
    # seeking re-starts the decoder and resampler, so samples differ slightly; the timing must not
    around = full[2 * SR - 400 : 3 * SR + 400]
    lag = int(np.argmax(np.correlate(around, part, "valid"))) - 400
    assert abs(lag) <= 1, f"seeked audio is {lag} samples off the full decode"
    assert np.corrcoef(part, full[2 * SR : 3 * SR])[0, 1] > 0.9
    assert info.has_audio and info.fps == 25


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am text pretending to be a video\n", bytes(range(256)) * 40],
    ids=["empty", "text", "random"],
)
def test_unreadable_files_raise_media_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(media.MediaError):
        media.probe(path)


def test_missing_audio_stream_is_a_media_error(footage):
    with pytest.raises(media.MediaError, match="no audio stream"):
        media.read_audio(footage("d0.mp4"))


def _video_shorter_than_its_audio(path, video_s: float = 2.0, audio_s: float = 4.0):
    """An mp4 whose audio outlasts its video (the container's duration is the audio's): frame i
    is a flat grey of level 5 i."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=SR)
        audio.layout = "mono"
        for i in range(round(video_s * FPS)):
            image = np.full((64, 64, 3), 5 * i, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        tone = (0.1 * np.sin(np.arange(round(audio_s * SR)) / 10)).astype(np.float32)
        for at in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(
                tone[None, at : at + 1024], format="flt", layout="mono"
            )
            chunk.sample_rate, chunk.pts = SR, at
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    return path


def test_no_frames_are_made_up_past_the_end_of_the_video(tmp_path):
    # asked for more than the video has (a probe row ends at the container's duration, here the
    # audio's), the last frame was repeated to the end: 2 s of a frozen picture
    path = _video_shorter_than_its_audio(tmp_path / "long_audio.mp4")
    info = media.probe(path)
    assert info.duration_s == pytest.approx(4.0, abs=0.05)
    assert info.video_duration_s == pytest.approx(2.0)
    clip = media.read_video(path, 0.0, 4.0, fps=25)
    assert len(clip.frames) == 50 and clip.times[-1] == pytest.approx(1.96)
    levels = clip.frames.mean(axis=(1, 2, 3))
    assert (np.diff(levels) > 2).all()  # every frame its own, none repeated
    tail = media.read_video(path, 1.5, 4.0, fps=12.5)
    np.testing.assert_allclose(tail.times, 1.5 + np.arange(7) / 12.5)
    assert len(media.read_video(path, 0.0, 1.0, fps=25).frames) == 25  # ends by time: as before


def test_a_probe_row_ends_where_its_video_does(tmp_path):
    from omni.curation.probe import probe_row

    path = _video_shorter_than_its_audio(tmp_path / "long_audio.mp4")
    row = probe_row(path, tmp_path)
    assert row["status"] == "ok" and row["end_s"] == pytest.approx(2.0)
    assert row["duration_s"] == pytest.approx(4.0, abs=0.05)  # the file's, kept
    from omni.curation.captioners import clip_frames

    frames = clip_frames(str(path), 0.0, None, 4)  # the whole video: 0.25 .. 1.75 s, all there
    assert len(frames) == 4 and frames[3].mean() > frames[0].mean() + 100
