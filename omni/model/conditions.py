"""`Conditions`: everything the MMDiT is conditioned on, with per-sample activity masks.

A condition is used for row b when its tensor is present and `active[name][b]` is True (a
missing entry in `active` means active for every row). The datamodule sets the masks per sample
(stage ratios); classifier-free guidance stacks copies of one `Conditions` with different masks
into one batch (`Conditions.cat`, `with_active`). An inactive condition takes its embedder's
null path inside the network, so rows never need different shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

CONDITION_NAMES = ("text", "ref", "audio", "pose", "motion")
_TENSOR_FIELDS = ("text", "text_mask", "text_pooled", "ref", "motion", "audio", "pose", "guidance")


@dataclass
class Conditions:
    """Condition tensors for a batch of B rows (all optional) plus per-row activity masks."""

    text: Tensor | None = None
    """(B, L, text_dim) text-encoder token features."""
    text_mask: Tensor | None = None
    """(B, L) bool, True for real tokens (padding False). None = all real."""
    text_pooled: Tensor | None = None
    """(B, pooled_text_dim) pooled text vector (HunyuanVideo's CLIP embedding), if the config has one."""
    ref: Tensor | None = None
    """(B, C, 1, h, w) clean latent of the reference image, packed at temporal index 0."""
    motion: Tensor | None = None
    """(B, C, M, h, w) clean latents of the previous segment's last frames (long videos)."""
    audio: Tensor | None = None
    """(B, T_pix, audio_dim) audio features per pixel frame of the segment (T_pix = 1 + 4k)."""
    pose: Tensor | None = None
    """(B, K, T_pix, H, W) keypoint heatmaps at pixel resolution."""
    guidance: Tensor | None = None
    """(B,) distilled-guidance scale (HunyuanVideo's guidance embedder), if the config has one."""
    active: dict[str, Tensor] = field(default_factory=dict)
    """name -> (B,) bool: whether each row uses that condition (names in CONDITION_NAMES)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.active) - set(CONDITION_NAMES))
        if unknown:
            raise ValueError(
                f"unknown condition names {unknown} in `active`; expected some of {CONDITION_NAMES}"
            )
        b = self.batch_size
        for name, flags in self.active.items():
            if flags.dtype != torch.bool or flags.ndim != 1 or (b is not None and len(flags) != b):
                raise ValueError(
                    f"active[{name!r}] must be a bool tensor of shape ({b},), "
                    f"got {flags.dtype} {tuple(flags.shape)}"
                )

    @property
    def batch_size(self) -> int | None:
        """B from the first present tensor (None if there is none)."""
        for name in _TENSOR_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return value.shape[0]
        for flags in self.active.values():
            return flags.shape[0]
        return None

    def is_active(self, name: str, batch: int, device: torch.device | None = None) -> Tensor:
        """(batch,) bool: rows that use condition `name` (False everywhere if it is absent)."""
        if name not in CONDITION_NAMES:
            raise ValueError(f"unknown condition {name!r}; expected one of {CONDITION_NAMES}")
        if getattr(self, name) is None:
            return torch.zeros(batch, dtype=torch.bool, device=device)
        flags = self.active.get(name)
        if flags is None:
            return torch.ones(batch, dtype=torch.bool, device=device)
        return flags.to(device) if device is not None else flags

    def with_active(self, **flags: bool | Tensor) -> Conditions:
        """A copy sharing the tensors, with the named conditions switched on/off (bool or (B,))."""
        b = self.batch_size
        if b is None:
            raise ValueError("with_active needs at least one condition tensor to know B")
        active = dict(self.active)
        for name, value in flags.items():
            if isinstance(value, bool):
                value = torch.full((b,), value, dtype=torch.bool)
            active[name] = value
        return dataclasses.replace(self, active=active)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Conditions:
        """Move tensors to `device`; cast floating tensors to `dtype` (masks stay bool)."""

        def move(x: Tensor | None) -> Tensor | None:
            if x is None:
                return None
            cast = dtype if dtype is not None and x.is_floating_point() else None
            return x.to(device=device, dtype=cast)

        moved = {name: move(getattr(self, name)) for name in _TENSOR_FIELDS}
        active = {k: v.to(device) for k, v in self.active.items()}
        return Conditions(**moved, active=active)

    @staticmethod
    def cat(items: Sequence[Conditions]) -> Conditions:
        """Stack rows of several `Conditions` with the same tensors present (e.g. CFG passes)."""
        if not items:
            raise ValueError("Conditions.cat needs at least one item")
        sizes = [c.batch_size for c in items]
        if any(s is None for s in sizes):
            raise ValueError("Conditions.cat: every item needs at least one condition tensor")
        out: dict[str, Tensor | None] = {}
        for name in _TENSOR_FIELDS:
            values = [getattr(c, name) for c in items]
            present = [v is not None for v in values]
            if any(present) and not all(present):
                raise ValueError(
                    f"Conditions.cat: {name!r} present in {sum(present)} of {len(items)} items; "
                    "expected all or none"
                )
            out[name] = torch.cat(values) if all(present) else None
        device = next(v.device for v in out.values() if v is not None)
        names = set().union(*(c.active for c in items))
        active = {
            name: torch.cat(
                [
                    c.active.get(name, torch.ones(s, dtype=torch.bool, device=device))
                    for c, s in zip(items, sizes, strict=True)
                ]
            )
            for name in names
        }
        return Conditions(**out, active=active)

    def select(self, rows: Tensor) -> Conditions:
        """The rows picked by `rows` (B,) bool or indices, tensors and activity masks alike."""
        picked = {
            name: None if getattr(self, name) is None else getattr(self, name)[rows]
            for name in _TENSOR_FIELDS
        }
        return Conditions(**picked, active={k: v[rows] for k, v in self.active.items()})

    def repeat(self, n: int) -> Conditions:
        """The batch repeated n times along B (row order: all rows, then all rows again, ...)."""
        return Conditions.cat([self] * n)
