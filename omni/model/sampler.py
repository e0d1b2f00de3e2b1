"""ODE sampler for the flow-matching velocity, with multi-condition classifier-free guidance.

The network never owns the loop: `FlowSampler.sample(velocity, noise, cond)` takes any callable
velocity(x (B, ...), t (B,), cond: Conditions) -> (B, ...).

Guidance is a chain of conditions switched on one after another, e.g. [text, audio]:
    pass 0: text off, audio off   pass 1: text on   pass 2: text and audio on
    v = v0 + s_text (v1 - v0) + s_audio (v2 - v1)
which is a weighted sum of the passes, w0 = 1 - s_text, w1 = s_text - s_audio, w2 = s_audio.
Passes with weight 0 (e.g. every scale 1, or an audio scale annealed to 0) are not run; the rest
run as ONE batched forward. Each scale may be annealed from `start` to `end` over the steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from rich.progress import Progress
from torch import Tensor

from omni.model.conditions import CONDITION_NAMES, Conditions
from omni.model.flow import inference_times

VelocityFn = Callable[[Tensor, Tensor, Conditions], Tensor]


@dataclass
class GuidanceScale:
    """A guidance scale annealed from `start` (first step) to `end` (last step)."""

    start: float = 1.0
    """Scale at the first step (1 = no guidance for this condition)."""
    end: float | None = None
    """Scale at the last step; None = start."""
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    """How the scale moves from start to end: constant (start throughout), linear, or cosine."""

    def __post_init__(self) -> None:
        if self.schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"schedule must be constant, linear or cosine, got {self.schedule!r}")

    def at(self, progress: float) -> float:
        """Scale at progress in [0, 1] (0 = first step, 1 = last step)."""
        end = self.start if self.end is None else self.end
        if self.schedule == "constant":
            return self.start
        if self.schedule == "linear":
            return self.start + (end - self.start) * progress
        return end + (self.start - end) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class GuidanceTerm:
    """One link of the guidance chain: condition `name` switched on with scale `scale`."""

    name: str
    """A condition name (text, ref, audio, pose, motion)."""
    scale: GuidanceScale = field(default_factory=GuidanceScale)

    def __post_init__(self) -> None:
        if self.name not in CONDITION_NAMES:
            raise ValueError(
                f"guidance on unknown condition {self.name!r}; expected one of {CONDITION_NAMES}"
            )


@dataclass
class SamplerStats:
    """Work done by the last `sample` call."""

    forwards: int = 0
    """Calls of the velocity function (each one batched forward)."""
    rows: int = 0
    """Rows evaluated in total (batch size x passes, summed over calls)."""
    passes_skipped: int = 0
    """Guidance passes not run because their weight was 0."""


def guidance_weights(scales: Sequence[float]) -> list[float]:
    """Weights of passes 0..K for chain scales s_1..s_K: [1 - s_1, s_1 - s_2, ..., s_K]."""
    s = [1.0, *scales, 0.0]
    return [s[k] - s[k + 1] for k in range(len(scales) + 1)]


class FlowSampler:
    """Euler or Heun integration of the velocity from t = 1 (noise) to t = 0, with guidance."""

    def __init__(
        self,
        steps: int = 30,
        solver: Literal["euler", "heun"] = "euler",
        shift: float = 1.0,
        guidance: Sequence[GuidanceTerm] = (),
    ) -> None:
        if solver not in ("euler", "heun"):
            raise ValueError(f"solver must be 'euler' or 'heun', got {solver!r}")
        names = [g.name for g in guidance]
        if len(set(names)) != len(names):
            raise ValueError(f"each condition may appear once in the guidance chain, got {names}")
        self.steps, self.solver, self.shift = steps, solver, shift
        self.guidance = list(guidance)
        self.stats = SamplerStats()

    def scales_at(self, step: int) -> list[float]:
        progress = step / max(self.steps - 1, 1)
        return [g.scale.at(progress) for g in self.guidance]

    def guided_velocity(
        self, velocity: VelocityFn, x: Tensor, t: Tensor, cond: Conditions, step: int
    ) -> Tensor:
        """The guided velocity at one step: the needed passes in one batched call."""
        weights = guidance_weights(self.scales_at(step))
        needed = [k for k, w in enumerate(weights) if w != 0.0]
        self.stats.passes_skipped += len(weights) - len(needed)  # weights sum to 1: never all 0
        b = x.shape[0]
        passes = [self._pass_conditions(cond, k, b) for k in needed]
        batch = passes[0] if len(passes) == 1 else Conditions.cat(passes)
        n = len(needed)
        v = velocity(x.repeat(n, *([1] * (x.ndim - 1))), t.repeat(n), batch)  # (n B, ...)
        self.stats.forwards += 1
        self.stats.rows += n * b
        out = torch.zeros_like(x)
        for i, k in enumerate(needed):
            out = out + weights[k] * v[i * b : (i + 1) * b]
        return out

    def _pass_conditions(self, cond: Conditions, k: int, b: int) -> Conditions:
        """Pass k: the first k chain conditions on (where the row has them), the rest off."""
        flags = {}
        for j, term in enumerate(self.guidance):
            on = cond.is_active(term.name, b)
            flags[term.name] = on if j < k else torch.zeros_like(on)
        return cond.with_active(**flags)

    @torch.no_grad()
    def sample(
        self, velocity: VelocityFn, noise: Tensor, cond: Conditions, progress: bool = False
    ) -> Tensor:
        """Integrate from `noise` (B, ...) at t = 1 to data at t = 0."""
        for term in self.guidance:
            if getattr(cond, term.name) is None:
                raise ValueError(
                    f"guidance on {term.name!r} needs cond.{term.name}; got None. "
                    "Pass that condition or drop it from the guidance chain."
                )
        self.stats = SamplerStats()
        times = inference_times(self.steps, self.shift, device=noise.device).to(noise.dtype)
        x = noise
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("sampling", total=self.steps)
            for i in range(self.steps):
                t, t_next = times[i], times[i + 1]
                tb = t.expand(x.shape[0])
                v = self.guided_velocity(velocity, x, tb, cond, i)
                x_euler = x + (t_next - t) * v
                if self.solver == "heun" and t_next > 0:
                    v_next = self.guided_velocity(
                        velocity, x_euler, t_next.expand(x.shape[0]), cond, i
                    )
                    x = x + (t_next - t) * 0.5 * (v + v_next)
                else:
                    x = x_euler
                bar.advance(task)
        return x
