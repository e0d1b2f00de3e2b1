"""An `omni fit` Lightning checkpoint -> OmniModel with its EMA weights.

The model config is the one `omni export` rebuilds (`omni.model.convert.config_from_checkpoint`),
with the datamodule's audio features; `state_dict` (`model.vae.*`, `model.text.*`,
`model.mmdit.*`) gives the weights and `ema.shadow`, the averages of every trained parameter,
replaces the live ones. The fps, window and resolution the data was sampled at become the
config's generation defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from omni.model.convert import config_from_checkpoint
from omni.model.omni_model import OmniModel


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with weights_only=True, with clear errors for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist (expected an `omni fit` .ckpt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for non-checkpoint files
        raise ValueError(
            f"checkpoint {str(path)!r} could not be loaded as a weights-only torch file: {err}"
        ) from err
    keys = ("state_dict", "hyper_parameters")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in keys):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(
            f"{path} is not an `omni fit` checkpoint: expected entries {list(keys)}, got {found}. "
            "For an exported model directory use --model DIR."
        )
    return ckpt


def ema_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Model weights (`model.` prefix removed) with the EMA averages in place of trained ones."""
    state = {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }
    shadow = (ckpt.get("ema") or {}).get("shadow") or {}
    unknown = sorted(set(shadow) - set(state))
    if unknown:
        raise ValueError(f"EMA weights name parameters the model lacks: {unknown[:5]}")
    state.update(shadow)
    return state


def model_from_checkpoint(ckpt: dict[str, Any]) -> OmniModel:
    """Build the OmniModel of a loaded checkpoint and load its EMA weights."""
    model = OmniModel(config_from_checkpoint(ckpt))
    owned = model.owned_prefixes()
    model.load_owned({k: v for k, v in ema_state(ckpt).items() if k.startswith(owned)})
    return model.eval()
