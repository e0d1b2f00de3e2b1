"""FID extractor: loads a random state dict in torch-fidelity's layout from a local file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni.evaluation.frechet import frechet_distance
from omni.evaluation.inception import INCEPTION_FILE, fid_metric, load_inception

NAME = "Mixed_7c.branch_pool.conv.weight"


def test_loads_random_weights(inception_file: Path) -> None:
    metric = fid_metric(inception_file)
    saved = torch.load(inception_file, weights_only=True)
    loaded = metric.inception.state_dict()
    assert set(saved) == set(loaded) and len(saved) > 300
    torch.testing.assert_close(loaded[NAME], saved[NAME])
    extractor = load_inception(inception_file)  # the same network, without the metric around it
    torch.testing.assert_close(extractor.state_dict()[NAME], saved[NAME])


@pytest.mark.slow
def test_extracts_and_accumulates_features(inception_file: Path) -> None:
    metric = fid_metric(inception_file)
    gen = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (2, 3, 64, 80), dtype=torch.uint8, generator=gen)
    seen = []
    metric.inception.register_forward_hook(lambda module, args, out: seen.append(out))
    metric.update(real, real=True)
    metric.update(real[:1], real=False)
    assert int(metric.real_features_num_samples) == 2
    assert int(metric.fake_features_num_samples) == 1
    features = seen[0].double()
    assert features.shape == (2, 2048)
    torch.testing.assert_close(metric.real_features_sum, features.sum(0))
    torch.testing.assert_close(metric.fake_features_sum, features[0])
    assert not torch.allclose(features[0], features[1])  # the weights are not degenerate


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 2048-d eigendecompositions; minutes on a shared 2-core CPU
def test_fid_matches_torchmetrics_compute(inception_file: Path) -> None:
    metric = fid_metric(inception_file)
    gen = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (3, 3, 64, 80), dtype=torch.uint8, generator=gen)
    fake = (real.float() * 0.3).to(torch.uint8)  # darker: a different distribution
    metric.update(real, real=True)
    metric.update(fake, real=False)
    value = float(metric.compute())
    assert value > 0
    stats = {}
    for side in ("real", "fake"):
        n = int(getattr(metric, f"{side}_features_num_samples"))
        mean = getattr(metric, f"{side}_features_sum") / n
        outer = getattr(metric, f"{side}_features_cov_sum")
        stats[side] = (mean, (outer - n * torch.outer(mean, mean)) / (n - 1))
    assert value == pytest.approx(frechet_distance(*stats["fake"], *stats["real"]), rel=1e-3)


def test_missing_or_wrong_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--inception: expected .*no such file"):
        fid_metric(tmp_path / INCEPTION_FILE)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="does not have the parameters"):
        fid_metric(wrong)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="weights_only=True"):
        fid_metric(text)
