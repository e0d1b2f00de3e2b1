"""Fréchet distance: float64 scipy reference, identity, streaming == one-shot."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from omni.evaluation.frechet import (
    FrechetDistance,
    frechet_distance,
    frechet_distance_features,
    gaussian_stats,
)


def _scipy_reference(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("dim", [4, 32])
def test_matches_scipy_reference(dim: int) -> None:
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(300, dim))
    y = rng.normal(loc=0.3, scale=1.5, size=(250, dim)) @ rng.normal(size=(dim, dim)) / dim**0.5
    expected = _scipy_reference(x, y)
    got = frechet_distance_features(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert expected > 0.5  # the sets really differ


def test_identical_sets_give_zero() -> None:
    x = torch.randn(200, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance_features(x, x)) < 1e-8


def test_mean_shift_only_adds_squared_norm() -> None:
    x = torch.randn(500, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    shift = torch.arange(8, dtype=torch.float64) / 4
    assert frechet_distance_features(x + shift, x) == pytest.approx(float(shift.square().sum()))


def test_rejects_mismatched_dimensions() -> None:
    mu, sigma = gaussian_stats(torch.randn(10, 3))
    mu2, sigma2 = gaussian_stats(torch.randn(10, 4))
    with pytest.raises(ValueError, match="same dimension"):
        frechet_distance(mu, sigma, mu2, sigma2)
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(torch.randn(1, 3))


def test_streaming_metric_equals_one_shot() -> None:
    gen = torch.Generator().manual_seed(2)
    real = torch.randn(120, 6, generator=gen)
    fake = torch.randn(90, 6, generator=gen) * 1.3 + 0.2
    metric = FrechetDistance(num_features=6)
    for chunk in real.split(17):
        metric.update(chunk, real=True)
    for chunk in fake.split(25):
        metric.update(chunk, real=False)
    assert float(metric.compute()) == pytest.approx(
        _scipy_reference(fake.double().numpy(), real.double().numpy()), rel=1e-6
    )
    mean, cov, n = metric.stats(real=True)
    assert n == 120
    torch.testing.assert_close(mean, real.double().mean(0))
    torch.testing.assert_close(cov, torch.cov(real.double().T))


def test_streaming_metric_errors_are_actionable() -> None:
    metric = FrechetDistance(num_features=3)
    with pytest.raises(ValueError, match=r"expected features \(N, 3\)"):
        metric.update(torch.zeros(2, 4), real=True)
    metric.update(torch.zeros(1, 3), real=True)
    with pytest.raises(ValueError, match="at least 2 real samples, got 1"):
        metric.stats(real=True)
