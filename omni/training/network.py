"""The trained network (an `OmniModel`: VAE + text encoder + audio features + MMDiT) and stage
initialisation.

`NetworkConfig` is the command line's view (`--model.network.*`) of `OmniModelConfig`; the
OmniModel fits the MMDiT to its parts, so a preset names only the transformer's size. `load_init` starts a
stage from the previous stage's checkpoint (its EMA weights); parameters that checkpoint lacks
must belong to a condition path (audio, pose), which keeps its zero initialisation so the new
stage starts as the old model.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file

from omni.model.omni_model import (
    WEIGHTS_NAME,
    AudioSpec,
    OmniModel,
    OmniModelConfig,
    TextSpec,
    VAESpec,
)
from omni.model.presets import get_preset

log = logging.getLogger(__name__)

CONDITION_PATHS = ("mmdit.audio_embed.*", "mmdit.*.audio.*", "mmdit.pose_guider.*")
"""Parameters a previous stage may lack: they start zero-initialised (the model is unchanged)."""


@dataclass
class NetworkConfig:
    """Which VAE, text encoder and audio features the MMDiT works with, and MMDiT overrides."""

    vae: Literal["patch", "causal", "diffusers"] = "patch"
    """patch: exact pixel-patch 'VAE' (toy runs); causal: omni's VAE from `--stage vae`;
    diffusers: an AutoencoderKLWan folder."""
    vae_patch: int = 2
    """Pixel patch side of the patch VAE."""
    vae_path: str | None = None
    """causal: a `--stage vae` checkpoint (.ckpt, its EMA weights); diffusers: a local folder."""
    text: Literal["small", "open_clip", "t5"] = "small"
    """small: trainable encoder on open_clip's tokenizer; open_clip / t5: frozen, from text_path."""
    text_path: str | None = None
    """Local open_clip checkpoint or T5 folder."""
    text_layers: int = 2
    """Transformer layers of the small text encoder."""
    audio: Literal["mel", "wav2vec2"] = "mel"
    """Per-frame audio features: librosa log-mel, or wav2vec2 from audio_path."""
    audio_path: str | None = None
    """Local transformers wav2vec2 folder."""
    audio_layers: list[int] | None = None
    """wav2vec2 hidden layers to concatenate (None = every transformer layer)."""
    mmdit: dict[str, Any] = field(default_factory=dict)
    """Overrides of the preset's MMDiTConfig fields (e.g. {num_dual_blocks: 4})."""


def _vae_checkpoint(path: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(vae_config, weights) of a `--stage vae` checkpoint, its EMA weights preferred."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "vae_config" not in ckpt:
        raise ValueError(
            f"network.vae_path {path!r} is not a `--stage vae` checkpoint (no 'vae_config' entry)"
        )
    state = {
        k.removeprefix("vae."): v for k, v in ckpt["state_dict"].items() if k.startswith("vae.")
    }
    state.update(ckpt.get("ema", {}).get("shadow", {}))
    return ckpt["vae_config"], state


def model_config(preset: str, cfg: NetworkConfig, gradient_checkpointing: bool) -> OmniModelConfig:
    """The OmniModelConfig of a preset and network settings (saved in every checkpoint)."""
    mmdit = get_preset(preset).replace(**cfg.mmdit, gradient_checkpointing=gradient_checkpointing)
    if cfg.vae == "patch":
        vae = VAESpec(kind="patch", patch=cfg.vae_patch)
    elif cfg.vae_path is None:
        raise ValueError(
            f"network.vae={cfg.vae!r} needs network.vae_path (a local file/folder), got None"
        )
    elif cfg.vae == "diffusers":
        vae = VAESpec(kind="diffusers", path=cfg.vae_path)
    else:
        vae = VAESpec(kind="causal", causal=dict(_vae_checkpoint(cfg.vae_path)[0]))
    if cfg.text == "small":
        text = TextSpec(kind="small", width=mmdit.text_dim, layers=cfg.text_layers)
    else:
        text = TextSpec(kind=cfg.text, path=cfg.text_path)
    audio = AudioSpec(kind=cfg.audio, path=cfg.audio_path, layers=cfg.audio_layers)
    return OmniModelConfig(mmdit=mmdit, vae=vae, text=text, audio=audio)


def build_network(preset: str, cfg: NetworkConfig, gradient_checkpointing: bool) -> OmniModel:
    """The OmniModel (VAE frozen) of a preset, with a `--stage vae` VAE's weights if named."""
    model = OmniModel(model_config(preset, cfg, gradient_checkpointing))
    if cfg.vae == "causal":
        model.vae.load_state_dict(_vae_checkpoint(cfg.vae_path)[1])
    model.vae.requires_grad_(False)
    return model


def init_state(path: str) -> dict[str, torch.Tensor]:
    """The model weights of a stage checkpoint, with its EMA weights where it has them, or of an
    OmniModel directory (`omni import-t2v`, `omni export`)."""
    if Path(path).is_dir():
        weights = Path(path) / WEIGHTS_NAME
        if not weights.is_file():
            raise ValueError(f"{path}: expected an omni model directory with {WEIGHTS_NAME}")
        return load_file(weights)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" not in ckpt:
        raise ValueError(f"{path}: expected a Lightning checkpoint (.ckpt with a state_dict)")
    state = {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }
    state.update(ckpt.get("ema", {}).get("shadow", {}))
    return state


def load_init(model: OmniModel, path: str) -> list[str]:
    """Initialise from a previous stage's checkpoint; returns the new (zero-init) parameter names."""
    state = init_state(path)
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in state if k in own and state[k].shape != own[k].shape)
    # only omni's own weights must come from the checkpoint; frozen pretrained parts load from
    # their own paths
    missing = sorted(set(model.owned_state_dict()) - set(state))
    not_paths = [k for k in missing if not any(fnmatch.fnmatch(k, p) for p in CONDITION_PATHS)]
    problems = []
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}")
    if mismatched:
        problems.append(f"shape mismatches {mismatched[:5]}")
    if not_paths:
        problems.append(f"missing non-condition keys {not_paths[:5]}")
    if problems:
        raise ValueError(
            f"--init-from {path} does not fit this model ({'; '.join(problems)}); expected a "
            "checkpoint of the previous stage with the same preset and network settings"
        )
    model.load_state_dict(state, strict=False)
    if missing:
        log.info(
            "init from %s: %d new condition-path tensors stay zero-initialised", path, len(missing)
        )
    return missing
