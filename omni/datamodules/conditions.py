"""Omni-condition dropout: which conditions are active for each training sample.

The paper's rule (DESIGN.md, "Training stages"): each condition is active with a per-stage
probability, only on clips eligible for it, and activating a condition activates every weaker
one. The conditions, weakest first, are text < reference < audio < pose.

A sample draws each condition independently with its ratio; a drawn condition then switches on
every weaker condition the clip is eligible for. So the probability that a condition is active on
an eligible clip is 1 - prod(1 - ratio) over itself and the stronger conditions
(`effective_rates`), which is what the docs table lists for each stage.

Classifier-free guidance then needs the passes it subtracts to be trained: the sampler's chain
text -> audio evaluates the model with text off (reference still on) and with audio off, which the
closure rule almost never produces (any stronger condition switches text on). So after the closure
rule each active condition is switched off again with its own `GuidanceDrop` probability,
independently; a condition's activity rate becomes its closure rate times (1 - drop).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from typing import ClassVar

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


class _PerCondition:
    """A probability per condition (the dataclass fields, in `CONDITIONS` order)."""

    _option: ClassVar[str]
    """How the values are named in errors (the YAML key)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{self._option} for {f.name!r} must be a probability in [0, 1], got {value}"
                )

    def as_array(self) -> np.ndarray:
        """(4,) probabilities in `CONDITIONS` order."""
        return np.array([getattr(self, name) for name in CONDITIONS], dtype=np.float64)


@dataclass(frozen=True)
class ConditionRatios(_PerCondition):
    """Per-sample probability that each condition is drawn (set per stage in its YAML)."""

    _option: ClassVar[str] = "ratio"

    text: float = 0.0
    """Probability of keeping the caption (otherwise the null text)."""
    ref: float = 0.0
    """Probability of packing the reference image tokens into the sequence."""
    audio: float = 0.0
    """Probability of the audio cross-attention input (paper: 50% beat 10% and 100%)."""
    pose: float = 0.0
    """Probability of adding the pose-guider features (paper: 50% chosen among 20/50/80%)."""

    @classmethod
    def from_dict(cls, ratios: dict[str, float]) -> ConditionRatios:
        unknown = sorted(set(ratios) - set(CONDITIONS))
        if unknown:
            raise ValueError(
                f"unknown condition(s) {unknown} in ratios; expected keys from {list(CONDITIONS)}"
            )
        return cls(**{k: float(v) for k, v in ratios.items()})

    def used(self) -> tuple[str, ...]:
        """Conditions this stage can ever activate (ratio > 0 or implied by a stronger one)."""
        r = self.as_array()
        implied = np.maximum.accumulate(r[::-1])[::-1] > 0
        return tuple(name for name, on in zip(CONDITIONS, implied, strict=True) if on)


@dataclass(frozen=True)
class GuidanceDrop(_PerCondition):
    """Per-sample probability of switching an active condition off after the closure rule, so
    the condition-dropped passes of classifier-free guidance are trained (set per stage)."""

    _option: ClassVar[str] = "cfg_drop"

    text: float = 0.0
    """Probability of dropping an active caption (the sampler's text-off pass, reference on)."""
    ref: float = 0.0
    """Probability of dropping an active reference."""
    audio: float = 0.0
    """Probability of dropping active audio (the sampler's audio-off pass)."""
    pose: float = 0.0
    """Probability of dropping active pose."""


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
    ratios: ConditionRatios,
    eligible: np.ndarray,
    rng: np.random.Generator,
    cfg_drop: GuidanceDrop | None = None,
) -> np.ndarray:
    """Draw one sample's active conditions: eligible (4,) bool -> active (4,) bool."""
    return draw_conditions(ratios, eligible, rng, cfg_drop)[0]


def draw_conditions(
    ratios: ConditionRatios,
    eligible: np.ndarray,
    rng: np.random.Generator,
    cfg_drop: GuidanceDrop | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(active, dropped) (4,) bool each: the closure rule's draw, then the guidance drop.

    `dropped` marks the conditions the closure rule switched on and the guidance drop switched
    off again; `active` excludes them.
    """
    drawn = rng.random(len(CONDITIONS)) < ratios.as_array()
    closed = close_downward(drawn, np.asarray(eligible, dtype=bool))
    if cfg_drop is None:
        return closed, np.zeros_like(closed)
    dropped = closed & (rng.random(len(CONDITIONS)) < cfg_drop.as_array())
    return closed & ~dropped, dropped


def effective_rates(
    ratios: ConditionRatios, cfg_drop: GuidanceDrop | None = None
) -> dict[str, float]:
    """Probability that each condition is active on a clip eligible for all of them."""
    r = ratios.as_array()
    off = np.flip(np.cumprod(np.flip(1.0 - r)))  # P(neither it nor any stronger one drawn)
    keep = 1.0 - (cfg_drop.as_array() if cfg_drop is not None else np.zeros(len(CONDITIONS)))
    return {name: float((1.0 - p) * k) for name, p, k in zip(CONDITIONS, off, keep, strict=True)}


def mix_name(active: np.ndarray, motion: bool = False) -> str:
    """Short name of a condition mix, e.g. `text+ref+audio` (`+motion` when the sample has
    motion frames); `none` when nothing is active."""
    names = [name for name, on in zip(CONDITIONS, active, strict=True) if on]
    names += ["motion"] if motion else []
    return "+".join(names) if names else "none"


def mix_counts(active: np.ndarray, motion: np.ndarray | None = None) -> dict[str, int]:
    """Count the condition mixes of a batch: active (B, 4) bool (and motion (B,) bool, the
    samples with motion frames) -> {mix name: count}."""
    active = np.asarray(active, dtype=bool)
    motion = np.zeros(len(active), bool) if motion is None else np.asarray(motion, dtype=bool)
    return dict(Counter(mix_name(row, m) for row, m in zip(active, motion, strict=True)))
