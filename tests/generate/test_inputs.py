import numpy as np
import pytest
from PIL import Image

from omni.generate.inputs import (
    DrivingPose,
    fit_image,
    fit_pose_length,
    has_face,
    load_audio,
    load_pose,
    load_reference,
)
from omni.media import read_video, write_video
from omni.pose import Keypoints, save_keypoints

SPEECH = "audio/speech_en.wav"


def test_reference_from_image_video_and_array(tmp_path, footage):
    frame = read_video(footage("d12.mp4"), max_frames=1).frames[0]
    png = tmp_path / "ref.png"
    Image.fromarray(frame).save(png)
    np.testing.assert_array_equal(load_reference(png), frame)
    np.testing.assert_array_equal(load_reference(footage("d12.mp4")), frame)
    gray = load_reference(frame[..., 0])
    assert gray.shape == frame.shape and (gray[..., 1] == frame[..., 0]).all()


@pytest.mark.parametrize("content", [b"", b"not a picture"])
def test_unreadable_reference_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "ref.png"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable image"):
        load_reference(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_reference(tmp_path / "missing.jpg")
    video = tmp_path / "ref.mp4"
    video.write_bytes(content)
    with pytest.raises(ValueError, match="neither an image"):
        load_reference(video)


def test_fit_image_covers_and_centre_crops():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = 255  # the centre square survives a crop to a square
    out = fit_image(image, (32, 32))
    assert out.shape == (32, 32, 3)
    assert out.mean() > 250
    assert fit_image(image, (20, 60)).shape == (20, 60, 3)


def test_face_is_found_in_a_portrait_and_not_in_a_flat_picture(footage):
    frame = read_video(footage("talk_news_a.mp4"), max_frames=1).frames[0]
    assert has_face(frame)
    assert not has_face(np.full((256, 256, 3), 128, np.uint8))


def test_audio_any_format_rate_and_channels(tmp_path, fixtures_dir):
    wav = load_audio(fixtures_dir / SPEECH, sr=16000)
    assert wav.sr == 16000 and wav.seconds == pytest.approx(60.0, abs=0.05)
    # a video's AAC track (stereo 44.1 kHz) decodes to the same speech at the model's rate
    clip = wav.wave[: 16000 * 2]
    stereo = np.stack([clip, clip])
    mp4 = write_video(tmp_path / "a.mp4", np.zeros((50, 16, 16, 3), np.uint8), 25, stereo, sr=16000)
    track = load_audio(mp4, sr=22050)
    assert track.sr == 22050 and track.seconds == pytest.approx(2.0, abs=0.03)
    back = load_audio(track.wave, sr=16000, source_sr=22050).wave
    n = min(len(back), len(clip))
    assert np.corrcoef(back[800 : n - 800], clip[800 : n - 800])[0, 1] > 0.95
    mono = load_audio(np.stack([clip, 0 * clip]), sr=16000, source_sr=16000)
    np.testing.assert_allclose(mono.wave, clip / 2, atol=1e-6)


def test_bad_audio_is_a_clear_error(tmp_path, footage):
    with pytest.raises(ValueError, match="does not exist"):
        load_audio(tmp_path / "none.wav", 16000)
    with pytest.raises(ValueError, match="could not be read"):
        load_audio(footage("d0.mp4"), 16000)  # a video without an audio track
    with pytest.raises(ValueError, match="sample rate"):
        load_audio(np.zeros(100, np.float32), 16000)


def _keypoints(n: int) -> Keypoints:
    xy = np.tile(np.linspace(0.1, 0.9, n, dtype=np.float32)[:, None, None], (1, 75, 2))
    return Keypoints(xy, np.ones((n, 75), np.float32))


def test_pose_from_keypoints_file_is_resampled_to_the_output_rate(tmp_path):
    kp = _keypoints(30)
    path = save_keypoints(tmp_path / "kp.npz", kp, np.arange(30) / 30.0)  # 1 s at 30 fps
    pose = load_pose(path, fps=25, size=(64, 64))
    assert pose.num_frames == 25
    # frame k is at k/25 s: linear in time, so x follows the source's ramp
    expected = 0.1 + 0.8 * (np.arange(25) / 25.0 * 30) / 29
    np.testing.assert_allclose(pose.keypoints.xy[:, 0, 0], expected, atol=1e-5)
    assert load_pose(path, fps=25, size=(64, 64), max_seconds=0.5).num_frames == 13


def test_pose_from_a_driving_video(footage):
    pose = load_pose(footage("s13.mp4"), fps=5, size=(64, 32), max_seconds=1.0)
    assert pose.num_frames == 5
    body = pose.keypoints.conf[:, :33]
    assert (body.max(axis=1) > 0.5).all()  # a full-body person is found in every frame
    nose = pose.keypoints.xy[:, 0]
    assert ((nose > 0) & (nose < 1)).all()


def test_bad_pose_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "kp.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="could not be read"):
        load_pose(bad, 25, (32, 32))
    with pytest.raises(ValueError, match="does not exist"):
        load_pose(tmp_path / "none.mp4", 25, (32, 32))


def test_short_pose_is_held_or_trimmed_with_a_warning():
    pose = DrivingPose(_keypoints(10))
    held, n, warning = fit_pose_length(pose, 16, "hold")
    assert n == 16 and held.num_frames == 16 and "held" in warning
    np.testing.assert_array_equal(held.keypoints.xy[10:], np.repeat(pose.keypoints.xy[9:], 6, 0))
    trimmed, n, warning = fit_pose_length(pose, 16, "trim")
    assert n == 10 and trimmed.num_frames == 10 and "trimmed" in warning
    cut, n, warning = fit_pose_length(pose, 4, "hold")
    assert n == 4 and cut.num_frames == 4 and warning is None
