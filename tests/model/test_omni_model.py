import dataclasses
import json

import numpy as np
import pytest
import torch

from model.helpers import randomize
from omni.model.conditions import Conditions
from omni.model.omni_model import (
    GenerationDefaults,
    OmniModel,
    OmniModelConfig,
    TextSpec,
    VAESpec,
)
from omni.model.presets import get_preset
from omni.model.sampler import FlowSampler, GuidanceScale, GuidanceTerm


def _small_config(**vae) -> OmniModelConfig:
    return OmniModelConfig(
        mmdit=get_preset("tiny", pose_channels=3, pose_hidden=8),
        vae=VAESpec(**(vae or {"kind": "patch", "patch": 4})),
        text=TextSpec(width=32, layers=1, heads=2),
    )


def _conditions(
    model: OmniModel, frames: int = 5, size: int = 32
) -> tuple[torch.Tensor, Conditions]:
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 3, frames, size, size, generator=g) * 2 - 1
    text = model.encode_text(["a person talking"])
    sr, fps = 16000, 25.0
    wave = np.sin(np.linspace(0, 400, int(sr * frames / fps))).astype(np.float32)
    audio = torch.from_numpy(model.audio_features(wave, sr, fps, frames))[None]
    cond = Conditions(
        text=text.tokens, text_mask=text.mask, ref=model.encode_video(video[:, :, :1]), audio=audio,
        pose=torch.rand(1, 3, frames, size, size, generator=g),
    )  # fmt: skip
    return model.encode_video(video), cond


def test_parts_complete_the_mmdit_config():
    model = OmniModel(_small_config())
    m = model.config.mmdit
    assert (m.in_channels, m.text_dim, m.audio_dim) == (48, 32, 160)
    assert (m.latent_temporal_factor, m.latent_spatial_factor) == (1, 4)
    causal = OmniModel(
        _small_config(kind="causal", causal={"latent_channels": 8, "base_channels": 8})
    )
    assert causal.config.mmdit.in_channels == 8 and causal.config.mmdit.latent_temporal_factor == 4


def test_save_and_load_round_trip_gives_identical_velocity(tmp_path):
    model = OmniModel(_small_config()).eval()
    randomize(model.mmdit, 1)
    x, cond = _conditions(model)
    t = torch.tensor([0.6])
    with torch.no_grad():
        before = model.velocity(x, t, cond)
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    loaded = OmniModel.from_pretrained(tmp_path / "m")
    with torch.no_grad():
        after = loaded.velocity(x, t, cond)
    assert before.abs().max() > 1e-3
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    # the small text encoder is omni's own, so it is saved too
    torch.testing.assert_close(loaded.text.embed.weight, model.text.embed.weight, rtol=0, atol=0)


def test_save_pretrained_writes_given_ema_weights(tmp_path):
    model = OmniModel(_small_config())
    ema = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    model.save_pretrained(tmp_path, state_dict=ema)
    loaded = OmniModel.from_pretrained(tmp_path)
    assert torch.all(loaded.mmdit.x_embed.weight == 0.5)


def test_sampler_runs_on_the_model_velocity_with_guidance():
    model = OmniModel(_small_config()).eval()
    randomize(model.mmdit, 2, std=0.05)
    x, cond = _conditions(model)
    sampler = FlowSampler(
        steps=3,
        guidance=[
            GuidanceTerm("text", GuidanceScale(3.0)),
            GuidanceTerm("audio", GuidanceScale(2.0, 1.0, "linear")),
        ],
    )
    latent = sampler.sample(model.velocity, torch.randn_like(x), cond)
    video = model.decode_latent(latent)
    assert video.shape == (1, 3, 5, 32, 32) and torch.isfinite(video).all()
    assert sampler.stats.forwards == 3 and sampler.stats.rows == 9  # no scale makes a weight 0


def test_bad_directories_and_configs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not an omni model directory"):
        OmniModel.from_pretrained(tmp_path)
    model = OmniModel(_small_config())
    model.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(ValueError, match=r"version 1.*version 99"):
        OmniModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**data, "vae": {"kind": "patch", "size": 2}}))
    with pytest.raises(ValueError, match=r"unknown VAESpec keys \['size'\]"):
        OmniModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**data, "text": {"width": 16}}))
    with pytest.raises(ValueError, match="weights do not match the config"):
        OmniModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="needs `path`"):
        OmniModel(OmniModelConfig(vae=VAESpec(kind="diffusers")))
    no_text = OmniModel(OmniModelConfig(text=TextSpec(kind="none")))
    with pytest.raises(ValueError, match="no text encoder"):
        no_text.encode_text(["hi"])


def test_generation_defaults_round_trip_and_must_fit_the_vae(tmp_path):
    gen = GenerationDefaults(fps=12.5, segment_frames=13, height=64, width=96)
    cfg = _small_config(kind="causal", causal={"latent_channels": 8, "base_channels": 8})
    model = OmniModel(dataclasses.replace(cfg, generation=gen))
    model.save_pretrained(tmp_path)
    assert OmniModel.from_pretrained(tmp_path).config.generation == gen
    assert OmniModel(cfg).config.generation is None  # not recorded: the caller's defaults apply
    with pytest.raises(ValueError, match=r"segment_frames must be 1 \+ 4k for this VAE, got 10"):
        OmniModel(dataclasses.replace(cfg, generation=GenerationDefaults(segment_frames=10)))
    with pytest.raises(ValueError, match=r"multiples of 16 .* got 40x32"):
        OmniModel(dataclasses.replace(cfg, generation=GenerationDefaults(height=40)))
    with pytest.raises(ValueError, match="unknown GenerationDefaults keys"):
        OmniModelConfig.from_dict({**model.config.to_dict(), "generation": {"frames": 9}})


def test_diffusers_vae_reloads_by_its_saved_class_name(tmp_path):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    AutoencoderKLWan(
        base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    ).save_pretrained(tmp_path / "vae")  # fmt: skip
    model = OmniModel(_small_config(kind="diffusers", path=str(tmp_path / "vae")))
    assert model.config.vae.class_name == "AutoencoderKLWan"
    model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["vae"]["class_name"] == "AutoencoderKLWan"
    assert type(OmniModel.from_pretrained(tmp_path / "m").vae.vae) is AutoencoderKLWan
    # a directory without _class_name still loads by the saved name; a different class is an error
    vae_cfg = json.loads((tmp_path / "vae" / "config.json").read_text())
    (tmp_path / "vae" / "config.json").write_text(
        json.dumps({k: v for k, v in vae_cfg.items() if k != "_class_name"})
    )
    assert type(OmniModel.from_pretrained(tmp_path / "m").vae.vae) is AutoencoderKLWan
    (tmp_path / "vae" / "config.json").write_text(
        json.dumps({**vae_cfg, "_class_name": "AutoencoderKLHunyuanVideo"})
    )
    with pytest.raises(
        ValueError, match=r"class 'AutoencoderKLWan' \(saved .*got 'AutoencoderKLHunyuanVideo'"
    ):
        OmniModel.from_pretrained(tmp_path / "m")
