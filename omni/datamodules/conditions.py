"""Omni-condition dropout: which conditions are active for each training sample.

The paper's rule (DESIGN.md, "Training stages"): each condition is active with a per-stage
probability, only on clips eligible for it, and activating a condition activates every weaker
one. The conditions, weakest first, are text < reference < audio < pose.

A sample draws each condition independently with its ratio; a drawn condition then switches on
every weaker condition the clip is eligible for. So the probability that a condition is active on
an eligible clip is 1 - prod(1 - ratio) over itself and the stronger conditions
(`effective_rates`), which is what the docs table lists for each stage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields

import numpy as np

CONDITIONS: tuple[str, ...] = ("text", "ref", "audio", "pose")
"""Condition names, weakest first (the order of the activation rule)."""

ELIGIBILITY_COLUMNS: dict[str, str] = {
    "text": "eligible_text_ref",
    "ref": "eligible_text_ref",
    "audio": "eligible_audio",
    "pose": "eligible_pose",
}
"""Manifest column that decides whether a clip may use each condition."""


@dataclass(frozen=True)
class ConditionRatios:
    """Per-sample probability that each condition is drawn (set per stage in its YAML)."""

    text: float = 0.0
    """Probability of keeping the caption (otherwise the null text)."""
    ref: float = 0.0
    """Probability of packing the reference image tokens into the sequence."""
    audio: float = 0.0
    """Probability of the audio cross-attention input (paper: 50% beat 10% and 100%)."""
    pose: float = 0.0
    """Probability of adding the pose-guider features (paper: 50% chosen among 20/50/80%)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"ratio for {f.name!r} must be a probability in [0, 1], got {value}"
                )

    @classmethod
    def from_dict(cls, ratios: dict[str, float]) -> ConditionRatios:
        unknown = sorted(set(ratios) - set(CONDITIONS))
        if unknown:
            raise ValueError(
                f"unknown condition(s) {unknown} in ratios; expected keys from {list(CONDITIONS)}"
            )
        return cls(**{k: float(v) for k, v in ratios.items()})

    def as_array(self) -> np.ndarray:
        """(4,) ratios in `CONDITIONS` order."""
        return np.array([getattr(self, name) for name in CONDITIONS], dtype=np.float64)

    def used(self) -> tuple[str, ...]:
        """Conditions this stage can ever activate (ratio > 0 or implied by a stronger one)."""
        r = self.as_array()
        implied = np.maximum.accumulate(r[::-1])[::-1] > 0
        return tuple(name for name, on in zip(CONDITIONS, implied, strict=True) if on)


def close_downward(drawn: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Apply "activating a condition activates every weaker one", within eligibility.

    drawn, eligible: (..., 4) bool in `CONDITIONS` order -> active (..., 4) bool.
    """
    if drawn.shape != eligible.shape or drawn.shape[-1] != len(CONDITIONS):
        raise ValueError(
            f"drawn and eligible must both be (..., {len(CONDITIONS)}), "
            f"got {drawn.shape} and {eligible.shape}"
        )
    hits = drawn & eligible
    # a condition is on if it or any stronger condition was drawn (reverse cumulative OR)
    stronger_or_self = np.flip(np.logical_or.accumulate(np.flip(hits, -1), axis=-1), -1)
    return stronger_or_self & eligible


def draw_active(
    ratios: ConditionRatios, eligible: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw one sample's active conditions: eligible (4,) bool -> active (4,) bool."""
    drawn = rng.random(len(CONDITIONS)) < ratios.as_array()
    return close_downward(drawn, np.asarray(eligible, dtype=bool))


def effective_rates(ratios: ConditionRatios) -> dict[str, float]:
    """Probability that each condition is active on a clip eligible for all of them."""
    r = ratios.as_array()
    off = np.flip(np.cumprod(np.flip(1.0 - r)))  # P(neither it nor any stronger one drawn)
    return {name: float(1.0 - p) for name, p in zip(CONDITIONS, off, strict=True)}


def mix_name(active: np.ndarray) -> str:
    """Short name of a condition mix, e.g. `text+ref+audio`; `none` when nothing is active."""
    names = [name for name, on in zip(CONDITIONS, active, strict=True) if on]
    return "+".join(names) if names else "none"


def mix_counts(active: np.ndarray) -> dict[str, int]:
    """Count the condition mixes of a batch: active (B, 4) bool -> {mix name: count}."""
    return dict(Counter(mix_name(row) for row in np.asarray(active, dtype=bool)))
