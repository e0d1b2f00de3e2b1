"""Pluggable per-video scorers for IQA and ASE (image quality, aesthetics), by import path.

omni ships no IQA or aesthetic model weights, so IQA and ASE are unavailable by default. A user
enables one with `--scorer NAME=module:attr[:ARG]`: `attr` is either a callable taking uint8
frames (T, H, W, 3) and returning per-frame scores (T,) or one float per call, or — when `ARG`
(e.g. a weights path) is given — a factory called once as `attr(ARG)` that returns such a
callable. Frames arrive in chunks; a video's score is the frame-weighted mean. The value is
reported under NAME exactly as the plug-in computes it, with the spec recorded in metrics.json.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FrameScorer = Callable[[np.ndarray], "np.ndarray | float"]
STANDARD = {
    "iqa": "image quality assessment (e.g. a MUSIQ / Q-Align model)",
    "ase": "aesthetic score (e.g. the LAION aesthetic head on CLIP ViT-L/14)",
}


@dataclass
class Scorer:
    """A loaded plug-in: `name` as reported, `spec` as given, `fn` frames → scores."""

    name: str
    spec: str
    fn: FrameScorer


def parse_scorer(text: str) -> Scorer:
    """'NAME=module:attr[:ARG]' → Scorer (imports the module; calls the factory if ARG is given)."""
    name, sep, target = text.partition("=")
    parts = target.split(":", 2)
    if not sep or not name.strip() or len(parts) < 2 or not all(parts[:2]):
        raise ValueError(
            f"--scorer: expected NAME=module:attr or NAME=module:attr:ARG "
            f"(e.g. iqa=mypkg.iqa:musiq:/models/musiq.pt), got {text!r}"
        )
    module_name, attr = parts[0], parts[1]
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"--scorer {name}: cannot import {module_name}:{attr} ({err})") from err
    fn = obj(parts[2]) if len(parts) == 3 else obj
    if not callable(fn):
        raise ValueError(f"--scorer {name}: {target} is not callable")
    return Scorer(name.strip().lower(), text, fn)


class ScoreMean:
    """Frame-weighted running mean of one scorer over the chunks of a video."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.total = 0.0
        self.frames = 0

    def add(self, chunk: np.ndarray) -> None:
        out = np.asarray(self.scorer.fn(chunk), np.float64)
        if out.ndim == 0:
            self.total += float(out) * len(chunk)
        elif out.shape == (len(chunk),):
            self.total += float(out.sum())
        else:
            raise ValueError(
                f"scorer {self.scorer.name} returned shape {out.shape}; expected one score per "
                f"frame ({len(chunk)},) or a single float"
            )
        self.frames += len(chunk)

    def value(self) -> float:
        return self.total / self.frames if self.frames else float("nan")
