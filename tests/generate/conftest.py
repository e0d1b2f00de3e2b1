"""A tiny randomly initialised OmniModel saved with save_pretrained (no training needed)."""

from __future__ import annotations

import pytest
import torch

from omni.model.omni_model import OmniModel, OmniModelConfig, VAESpec
from omni.model.presets import get_preset

CAUSAL_VAE = {
    "latent_channels": 4,
    "base_channels": 8,
    "channel_mult": [1, 2, 2],
    "temporal_down": [True, True],
}  # x4 in time and space, like a real causal video VAE (5 frames -> 2 latent frames)


def tiny_model(vae: str = "patch", seed: int = 0) -> OmniModel:
    """The tiny preset with every weight random (zero-init outputs would hide the conditions)."""
    torch.manual_seed(seed)
    spec = VAESpec(kind="causal", causal=CAUSAL_VAE) if vae == "causal" else VAESpec(patch=4)
    model = OmniModel(OmniModelConfig(mmdit=get_preset("tiny"), vae=spec))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.mmdit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """Patch-VAE tiny model (x4 pixel patches) as an OmniModel directory."""
    return tiny_model("patch").save_pretrained(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def causal_model_dir(tmp_path_factory):
    return tiny_model("causal").save_pretrained(tmp_path_factory.mktemp("model") / "causal")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny kernels run fastest on one thread on this shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
