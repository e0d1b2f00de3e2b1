import numpy as np
import pytest

from omni.generate.drift import drift_report, mean_rgb, ref_similarity


def _picture(seed: int, h: int = 64, w: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
    return np.kron(base, np.ones((8, 8, 1), np.uint8))  # blocky, so SSIM is meaningful


def test_mean_rgb():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    frames[..., 0] = 200
    frames[1, ..., 2] = 100
    np.testing.assert_allclose(mean_rgb(frames), [200, 0, 50])


def test_similarity_is_one_for_the_reference_and_lower_for_other_pictures():
    ref = _picture(0)
    assert ref_similarity(np.stack([ref, ref]), ref) == pytest.approx(1.0)
    other = ref_similarity(_picture(1)[None], ref)
    assert other < 0.5
    noisy = np.clip(ref.astype(int) + np.random.default_rng(2).integers(-30, 30, ref.shape), 0, 255)
    assert other < ref_similarity(noisy.astype(np.uint8)[None], ref) < 1.0


def test_report_measures_drift_per_segment():
    ref = _picture(0)
    darker = (ref * 0.5).astype(np.uint8)
    report = drift_report([np.stack([ref] * 3), np.stack([darker] * 2)], ref, fps=25, starts=[0, 3])
    first, second = report["segments"]
    assert first["ssim_to_ref"] == pytest.approx(1.0)
    assert first["colour_distance_to_ref"] == pytest.approx(0.0)
    assert second["start_s"] == pytest.approx(3 / 25) and second["frames"] == 2
    expected = np.linalg.norm(mean_rgb(darker) - mean_rgb(ref))
    assert second["colour_distance_to_ref"] == pytest.approx(expected, abs=1e-3)
    assert report["change_first_to_last"]["colour_distance"] == pytest.approx(expected, abs=1e-2)
    assert report["change_first_to_last"]["ssim_to_ref"] < 0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="share H, W"):
        ref_similarity(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))
