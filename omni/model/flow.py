"""Flow matching maths: the straight path between data and noise, its velocity, and timesteps.

Convention (as HunyuanVideo / SD3): t = 0 is data, t = 1 is noise,
    x_t = (1 - t) * x0 + t * eps,        v = dx_t/dt = eps - x0,
so a sampler integrates from t = 1 down to t = 0 with x <- x + (t_next - t) * v.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class PathSample:
    """A point on the path: x_t for data x0 and noise eps at time t, and the velocity target."""

    x_t: Tensor
    t: Tensor
    x0: Tensor
    noise: Tensor
    target: Tensor


def _expand(t: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against `like` (B, ...)."""
    if t.ndim != 1 or t.shape[0] != like.shape[0]:
        raise ValueError(f"t must have shape (B,) = ({like.shape[0]},), got {tuple(t.shape)}")
    return t.reshape(-1, *([1] * (like.ndim - 1))).to(like.dtype)


def sample_path(x0: Tensor, noise: Tensor, t: Tensor) -> PathSample:
    """x_t = (1 - t) x0 + t eps and its velocity target eps - x0. x0, noise: (B, ...); t: (B,)."""
    if x0.shape != noise.shape:
        raise ValueError(f"x0 and noise must match: got {tuple(x0.shape)} and {tuple(noise.shape)}")
    tt = _expand(t, x0)
    x_t = (1 - tt) * x0 + tt * noise
    return PathSample(x_t=x_t, t=t, x0=x0, noise=noise, target=noise - x0)


def x0_from_velocity(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    """The data end of the straight line through x_t with velocity v: x0 = x_t - t v."""
    return x_t - _expand(t, x_t) * v


def noise_from_velocity(x_t: Tensor, v: Tensor, t: Tensor) -> Tensor:
    """The noise end of the straight line through x_t with velocity v: eps = x_t + (1 - t) v."""
    return x_t + (1 - _expand(t, x_t)) * v


def shift_time(t: Tensor, shift: float) -> Tensor:
    """Warp t towards noise for shift > 1: t' = s t / (1 + (s - 1) t) (SD3's resolution shift).

    A larger image keeps more signal at the same t, so more steps must sit near t = 1.
    """
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def resolution_shift(num_tokens: int, base_tokens: int = 1024, base_shift: float = 1.0) -> float:
    """Shift for a sequence of `num_tokens`: base_shift * sqrt(num_tokens / base_tokens).

    The noise level that destroys a given amount of signal grows with the number of pixels as
    its square root (SD3, Esser et al. 2024, eq. 23); base_shift applies at base_tokens.
    """
    if num_tokens <= 0 or base_tokens <= 0:
        raise ValueError(
            f"token counts must be positive, got num_tokens={num_tokens}, base_tokens={base_tokens}"
        )
    return base_shift * math.sqrt(num_tokens / base_tokens)


@dataclass
class TimestepSampler:
    """Training timesteps: logit-normal t = sigmoid(N(mean, std)), then `shift_time`.

    shift=None uses `resolution_shift(num_tokens, base_tokens, base_shift)`.
    """

    mean: float = 0.0
    """Mean of the normal before the sigmoid (0 centres t at 0.5)."""
    std: float = 1.0
    """Std of the normal before the sigmoid."""
    shift: float | None = None
    """Fixed shift; None = resolution-dependent."""
    base_tokens: int = 1024
    """Token count at which the resolution shift equals base_shift."""
    base_shift: float = 1.0
    """Shift at base_tokens."""

    def shift_for(self, num_tokens: int) -> float:
        if self.shift is not None:
            return self.shift
        return resolution_shift(num_tokens, self.base_tokens, self.base_shift)

    def sample(
        self,
        batch: int,
        num_tokens: int,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> Tensor:
        """(batch,) timesteps in (0, 1) for sequences of `num_tokens` noisy video tokens."""
        z = torch.randn(batch, generator=generator, device=device) * self.std + self.mean
        return shift_time(torch.sigmoid(z), self.shift_for(num_tokens))


def inference_times(steps: int, shift: float = 1.0, device: torch.device | str = "cpu") -> Tensor:
    """(steps + 1,) times from 1 to 0, uniform then shifted like the training timesteps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1, device=device), shift)
