"""Fréchet distance between Gaussians fitted to features (FID, FVD), and its streaming accumulator.

d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½

The trace term is computed from the eigenvalues of the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½ (which
has the same spectrum as Σ₁Σ₂), in float64. Tests check it against scipy's `sqrtm` reference.
FID and FVD both use this one function (torchmetrics' FID accumulates the Inception features).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from torchmetrics import Metric

Tensor = torch.Tensor


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got {tuple(features.shape)}")
    x = features.double()
    return x.mean(0), torch.cov(x.T, correction=1).reshape(x.shape[1], x.shape[1])


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); mu (D,), sigma (D, D)."""
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"both Gaussians must have the same dimension, got mean {tuple(mu1.shape)} vs "
            f"{tuple(mu2.shape)}, covariance {tuple(sigma1.shape)} vs {tuple(sigma2.shape)}"
        )
    mu1, mu2, s1, s2 = (t.detach().double().cpu().numpy() for t in (mu1, mu2, sigma1, sigma2))
    # Σ₁ = V Λ Vᵀ, so Σ₁^½ Σ₂ Σ₁^½ has the spectrum of Λ^½ Vᵀ Σ₂ V Λ^½ (symmetric PSD);
    # scipy's LAPACK drivers do the 2048² case several times faster than a general eig
    values, vectors = scipy.linalg.eigh((s1 + s1.T) / 2)
    half = np.sqrt(np.clip(values, 0, None))
    inner = half[:, None] * (vectors.T @ s2 @ vectors) * half[None, :]
    eig = scipy.linalg.eigh((inner + inner.T) / 2, eigvals_only=True)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()  # tiny negatives are rounding noise
    mean_term = np.square(mu1 - mu2).sum()
    return float(mean_term + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def frechet_distance_features(x: Tensor, y: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features x (N, D) and y (M, D)."""
    return frechet_distance(*gaussian_stats(x), *gaussian_stats(y))


class FrechetDistance(Metric):
    """Streaming Fréchet distance: feeds (N, D) feature batches, keeps only sums (D + D² floats).

    States are float64 sums reduced by `sum` across processes, so a Lightning test loop on many
    GPUs gives the same value as one process over the whole set.
    """

    full_state_update = False
    higher_is_better = False

    def __init__(self, num_features: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_features = num_features
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(num_features, dtype=torch.float64), "sum")
            self.add_state(
                f"{side}_outer",
                torch.zeros(num_features, num_features, dtype=torch.float64),
                "sum",
            )
            self.add_state(f"{side}_n", torch.zeros((), dtype=torch.long), "sum")

    def update(self, features: Tensor, real: bool) -> None:
        """features: (N, D) for N samples of the real or the generated set."""
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(
                f"expected features (N, {self.num_features}), got {tuple(features.shape)}"
            )
        side = "real" if real else "fake"
        x = features.double()
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + x.sum(0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + x.T @ x)
        setattr(self, f"{side}_n", getattr(self, f"{side}_n") + x.shape[0])

    def stats(self, real: bool) -> tuple[Tensor, Tensor, int]:
        """(mean, covariance, count) of one side from the running sums."""
        side = "real" if real else "fake"
        n = int(getattr(self, f"{side}_n"))
        if n < 2:
            raise ValueError(
                f"the Fréchet distance needs at least 2 {side} samples, got {n}: "
                "score more (or longer) videos"
            )
        mean = getattr(self, f"{side}_sum") / n
        outer = getattr(self, f"{side}_outer")
        cov = (outer - n * torch.outer(mean, mean)) / (n - 1)
        return mean, cov, n

    def value(self) -> float:
        """The distance from this process's current states (inside `sync_context` for all)."""
        mu_r, sigma_r, _ = self.stats(real=True)
        mu_f, sigma_f, _ = self.stats(real=False)
        return frechet_distance(mu_f, sigma_f, mu_r, sigma_r)

    def compute(self) -> Tensor:
        return torch.tensor(self.value(), dtype=torch.float64)
