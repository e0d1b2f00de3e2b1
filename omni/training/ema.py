"""Exponential moving average of the trained weights, for validation, sampling and export.

Only parameters that train are averaged (a frozen text encoder or VAE is its own average), kept
in fp32 whatever the training precision. `swapped()` puts the averages into the live model for a
block of code (validation, sample videos) and restores the trained weights after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    """ema <- decay * ema + (1 - decay) * param, after each optimiser step.

    `warmup` ramps the decay as min(decay, (1 + n) / (10 + n)) over the first updates, so the
    average is not dominated by the initial weights of a short run.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: p.detach().float().clone()
            for name, p in module.named_parameters()
            if p.requires_grad
        }

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    def _pairs(self, module: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        params = dict(module.named_parameters())
        missing = [n for n in self.shadow if n not in params]
        if missing:
            raise ValueError(f"EMA tracks parameters the model does not have: {missing[:5]}")
        names = list(self.shadow)
        return [self.shadow[n] for n in names], [params[n] for n in names]

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        shadow, params = self._pairs(module)
        if not shadow:
            return
        weight = 1.0 - self.current_decay()
        device = shadow[0].device
        if params[0].device != device:
            self.to(params[0].device)
            shadow, params = self._pairs(module)
        torch._foreach_lerp_(shadow, [p.detach().float() for p in params], weight)
        self.updates += 1

    def to(self, device: torch.device | str) -> EMA:
        self.shadow = {n: t.to(device) for n, t in self.shadow.items()}
        return self

    @contextmanager
    def swapped(self, module: nn.Module) -> Iterator[None]:
        """Run the enclosed code with the averaged weights in `module`."""
        shadow, params = self._pairs(module)
        backup = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, s in zip(params, shadow, strict=True):
                p.copy_(s.to(device=p.device, dtype=p.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for p, b in zip(params, backup, strict=True):
                    p.copy_(b)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        unknown = set(state["shadow"]) - set(self.shadow)
        missing = set(self.shadow) - set(state["shadow"])
        if unknown or missing:
            raise ValueError(
                "EMA weights in the checkpoint do not match the trained parameters: "
                f"unexpected {sorted(unknown)[:5]}, missing {sorted(missing)[:5]}"
            )
        self.updates = int(state["updates"])
        device = next(iter(self.shadow.values())).device if self.shadow else "cpu"
        self.shadow = {n: t.float().to(device) for n, t in state["shadow"].items()}
