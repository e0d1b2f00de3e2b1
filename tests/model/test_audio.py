import numpy as np
import pytest

from omni.model.audio import MelFeatures, Wav2Vec2Features, audio_features


def _burst(sr: int, fps: float, frame: int, seconds: float = 2.0) -> np.ndarray:
    """Silence with a 1 kHz tone filling exactly video frame `frame`."""
    wave = np.zeros(int(seconds * sr), dtype=np.float32)
    a, b = round(frame / fps * sr), round((frame + 1) / fps * sr)
    wave[a:b] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(b - a) / sr)
    return wave


@pytest.mark.parametrize(("sr", "fps"), [(16000, 25.0), (44100, 30.0), (22050, 23.976)])
def test_mel_energy_lands_in_the_frame_that_contains_it(sr, fps):
    feats = audio_features(_burst(sr, fps, 17), sr, fps, 40)
    assert feats.shape == (40, 160) and feats.dtype == np.float32
    energy = feats.mean(axis=1)
    assert int(np.argmax(energy)) == 17
    # neighbours only see the window's spill (<= half a 25 ms STFT window), far frames are silent
    assert energy[17] - energy[16] > 0.3 and energy[17] - energy[18] > 0.3
    assert np.allclose(energy[:10], energy[0]) and energy[0] < energy[17] - 1


def test_short_audio_is_padded_with_silence_and_stereo_is_averaged():
    sr, fps = 16000, 25.0
    wave = _burst(sr, fps, 3, seconds=0.2)  # 5 frames of audio for 10 frames of video
    feats = audio_features(np.stack([wave, wave]), sr, fps, 10)
    assert feats.shape == (10, 160)
    torch_like = audio_features(wave, sr, fps, 10)
    np.testing.assert_allclose(feats, torch_like, atol=1e-6)
    assert feats[8].mean() < feats[3].mean() - 1


def test_high_fps_sub_windows_shorter_than_the_hop_still_filled():
    mel = MelFeatures(sub_frames=4, hop_s=0.01)
    feats = mel(_burst(16000, 60.0, 30), 16000, 60.0, 60)
    assert feats.shape == (60, 320) and np.isfinite(feats).all()
    assert int(np.argmax(feats.mean(axis=1))) == 30


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_frames >= 1"):
        audio_features(np.zeros(100), 16000, 25.0, 0)
    with pytest.raises(ValueError, match=r"\(N,\) or \(channels, N\)"):
        audio_features(np.zeros((1, 2, 3)), 16000, 25.0, 2)


def test_wav2vec2_from_local_dir_gives_one_row_per_video_frame(tiny_wav2vec2):
    enc = Wav2Vec2Features(tiny_wav2vec2, layers=(1, 3))
    assert enc.dim == 32
    wave = np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    feats = enc(wave, 44100, 25.0, 25)
    assert feats.shape == (25, 32) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert feats.std(axis=0).mean() > 1e-3  # varies over time
    # timing: with the CNN features (layer 0, local receptive field: layer-norm feature encoder)
    # and no global normalisation,
    # audio after 0.5 s cannot change frames ending before ~0.3 s, and does change later frames
    local = Wav2Vec2Features(tiny_wav2vec2, layers=(0,))
    local.normalize = False
    changed = wave.copy()
    changed[22050:] = 0
    before, after = local(wave, 44100, 25.0, 25), local(changed, 44100, 25.0, 25)
    np.testing.assert_allclose(after[:6], before[:6], atol=1e-5)
    assert np.abs(after[15:] - before[15:]).max() > 1e-3
    assert Wav2Vec2Features(tiny_wav2vec2).dim == 48  # default: every transformer layer


def test_wav2vec2_missing_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"has no config\.json"):
        Wav2Vec2Features(tmp_path / "nope")
