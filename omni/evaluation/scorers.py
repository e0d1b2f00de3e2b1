"""Per-video scorers for IQA and ASE (image quality, aesthetics): one shipped, others by import path.

omni ships no IQA or aesthetic model weights, so IQA and ASE are unavailable by default.

- ASE, shipped: `--ase-clip` (open_clip ViT-L/14, a local dir in open_clip's layout or a checkpoint
  file) with `--ase-head` (the LAION improved-aesthetic-predictor MLP, .pth) → `laion_aesthetic`,
  which loads both through the curation loader (omni.curation.pretrained.aesthetic_model) and
  scores every frame it is given: L2-normalised image embedding through the MLP, LAION's 1-10 scale.
- Any other scorer: `--scorer NAME=module:attr[:ARG]`: `attr` is either a callable taking uint8
  frames (T, H, W, 3) and returning per-frame scores (T,) or one float per call, or — when `ARG`
  (e.g. a weights path) is given — a factory called once as `attr(ARG)` that returns such a
  callable. The value is reported under NAME exactly as the plug-in computes it, with the spec
  recorded in metrics.json; the callable may carry `higher_is_better = False` (default True).

Frames arrive in chunks; a scorer sees every `stride`-th frame of a video (`--scorer-stride`) and
a video's score is the mean over the frames it scored.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FrameScorer = Callable[[np.ndarray], "np.ndarray | float"]
ASE_VERSION = "laion-improved-aesthetic-predictor+open_clip-ViT-L-14/1"
STANDARD = {
    "iqa": (
        "image quality assessment (e.g. a MUSIQ / Q-Align model)",
        "--scorer iqa=module:attr[:WEIGHTS]",
    ),
    "ase": (
        "aesthetic model (open_clip ViT-L/14 + LAION aesthetic MLP head)",
        "--ase-clip OPEN_CLIP_VIT_L_14 --ase-head sac+logos+ava1-l14-linearMSE.pth "
        "(or --scorer ase=module:attr[:WEIGHTS])",
    ),
}


@dataclass
class Scorer:
    """A loaded scorer: `name` as reported, `spec` as given, `fn` frames → scores; `version`
    (default: the spec) and the weights files it read, {key: path}, for metrics.json."""

    name: str
    spec: str
    fn: FrameScorer
    version: str = ""
    weights: dict[str, Path] = field(default_factory=dict)
    higher_is_better: bool | None = True

    def __post_init__(self) -> None:
        self.version = self.version or self.spec


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
    # a plug-in whose lower scores are better (e.g. BRISQUE) sets fn.higher_is_better = False
    return Scorer(
        name.strip().lower(), text, fn, higher_is_better=getattr(fn, "higher_is_better", True)
    )


class ScoreMean:
    """Frame-weighted running mean of one scorer over the chunks of a video, on every
    `stride`-th frame (counted from the video's first frame, across chunks)."""

    def __init__(self, scorer: Scorer, stride: int = 1) -> None:
        self.scorer = scorer
        self.stride = stride
        self.seen = 0
        self.total = 0.0
        self.frames = 0

    def add(self, chunk: np.ndarray) -> None:
        picked = (np.arange(self.seen, self.seen + len(chunk)) % self.stride) == 0
        self.seen += len(chunk)
        if picked.all():
            self._score(chunk)
        elif picked.any():
            self._score(chunk[picked])

    def _score(self, chunk: np.ndarray) -> None:
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


# ---------------------------------------------------------------- ASE: LAION aesthetic predictor


class LaionAesthetic:
    """Per-frame LAION aesthetic scores: frames (T, H, W, 3) uint8 RGB → (T,) float64.

    open_clip's preprocessing per frame, the image embedding L2-normalised, the MLP head; the
    model and head come from the curation loader (loaded once per process, on CPU); `device`
    (read at each call, e.g. an options object's) moves them there."""

    def __init__(self, clip: str | os.PathLike, head: str | os.PathLike, device=None) -> None:
        from omni.curation import pretrained

        self.clip, self.head = str(clip), str(head)
        self.device = device if device is not None else (lambda: "cpu")
        try:
            self.model, self.preprocess, self.mlp = pretrained.aesthetic_model(self.clip, self.head)
        except ValueError as err:  # the loader names the curation options
            message = str(err).replace("--aesthetic-clip", "--ase-clip")
            raise ValueError(message.replace("--aesthetic-head", "--ase-head")) from err
        except (RuntimeError, KeyError, OSError) as err:  # open_clip's load_state_dict, etc.
            raise ValueError(
                f"--ase-clip: {self.clip} does not load as an open_clip ViT-L-14 model "
                f"({type(err).__name__}: {str(err).splitlines()[0][:200]})"
            ) from err

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch
        from PIL import Image

        device = torch.device(self.device())
        if next(self.model.parameters()).device != device:
            self.model.to(device)
            self.mlp.to(device)
        images = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames]).to(device)
        with torch.inference_mode():
            emb = self.model.encode_image(images)
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return self.mlp(emb.float()).squeeze(-1).double().cpu().numpy()


def ase_scorer(clip: str | os.PathLike, head: str | os.PathLike, device=None) -> Scorer:
    """The shipped ASE scorer from --ase-clip / --ase-head (both local files; checked here)."""
    from omni.curation.pretrained import open_clip_weights_file
    from omni.evaluation.weights import require_file

    clip_file = open_clip_weights_file(clip, option="--ase-clip")
    head = require_file(
        head, "--ase-head", "the LAION aesthetic MLP head (e.g. sac+logos+ava1-l14-linearMSE.pth)"
    )
    fn = LaionAesthetic(clip, head, device)
    spec = f"--ase-clip {clip} --ase-head {head}"
    return Scorer("ase", spec, fn, ASE_VERSION, {"ase_clip": clip_file, "ase_head": head})
