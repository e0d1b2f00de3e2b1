"""Training with motion frames: the conditions match generation's later segments exactly."""

import dataclasses

import numpy as np
import pytest
import torch

from omni.datamodules.dataset import to_tensor
from omni.generate.pipeline import OmniPipeline, VideoDefaults
from omni.generate.segments import Segment
from omni.model.omni_model import OmniModel, OmniModelConfig, VAESpec
from omni.model.presets import get_preset
from omni.training.lightning_cli import build_cli
from omni.training.module import OmniModule
from omni.training.network import NetworkConfig
from training.run_helpers import fit_args

F, H, W = 9, 32, 32
CAUSAL_VAE = {
    "latent_channels": 4,
    "base_channels": 8,
    "channel_mult": [1, 2, 2],
    "temporal_down": [True, True],
}  # x4 in time and space: 5 motion frames -> 2 latent frames, as in the design


@pytest.fixture(scope="module")
def module():
    """A module whose model has a causal VAE and random MMDiT weights (zero-init outputs would
    hide the conditions)."""
    torch.manual_seed(0)
    m = OmniModule(preset="tiny", network=NetworkConfig(text_layers=1))
    spec = VAESpec(kind="causal", causal=CAUSAL_VAE)
    m.model = OmniModel(OmniModelConfig(mmdit=get_preset("tiny"), vae=spec))
    m.model.vae.requires_grad_(False)  # as build_network leaves it
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.model.mmdit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m.eval()


def _frames(n: int, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) uint8 frames, each a different pattern."""
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def _batch(clip: np.ndarray, picture: np.ndarray, motion_active: list[bool], text: str) -> dict:
    """Rows whose window is clip[5:14] with motion frames clip[0:5] (where active)."""
    b = len(motion_active)
    return {
        "video": torch.stack([to_tensor(clip[5:14])] * b),
        "ref": torch.stack([to_tensor(picture[None])] * b),
        "motion": torch.stack([to_tensor(clip[0:5])] * b),
        "motion_active": torch.tensor(motion_active),
        "caption": [text] * b,
        "active": torch.tensor([[True, True, False, False]] * b),
        "key": torch.arange(b) + 3,
        "clip_id": [f"c{i}" for i in range(b)],
    }


def test_training_conditions_equal_the_pipelines_segment_2(module):
    """Training's motion rows are the Conditions `OmniPipeline` builds for segment 2 given the
    same previous frames: the same latents, 2 latent motion frames, and the same token layout
    (RoPE time indices), so the MMDiT gives the same velocity for the same input."""
    clip, picture, text = _frames(14), _frames(1, seed=1)[0], "a person talking"
    pipe = OmniPipeline(
        module.model, VideoDefaults(segment_frames=F, height=H, width=W), device="cpu"
    )
    base = pipe._base_conditions(picture, text)
    done = [np.concatenate([_frames(4, seed=2), clip[0:5]])]  # segment 1's 9 output frames
    generated = pipe._segment_conditions(base, Segment(1, F, F, F), None, None, done)

    batch = _batch(clip, picture, [True], text)
    x0, ref = module.latents(batch)
    [(rows, trained)] = module.passes(batch, module.conditions(batch, ref))
    assert rows.tolist() == [True]
    assert trained.motion.shape == generated.motion.shape == (1, 4, 2, H // 4, W // 4)
    assert torch.allclose(trained.motion, generated.motion, atol=1e-6)
    assert torch.allclose(trained.ref, generated.ref, atol=1e-6)
    assert torch.equal(trained.text, generated.text)
    for name in ("text", "ref", "motion"):
        assert (
            trained.is_active(name, 1).tolist() == generated.is_active(name, 1).tolist() == [True]
        )

    x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    t = torch.tensor([0.6])
    with torch.no_grad():
        v_train = module.model.mmdit(x, t, trained)
        v_pipe = module.model.velocity(x, t, generated)
        v_none = module.model.mmdit(x, t, module.conditions(batch, ref))
    assert torch.allclose(v_train, v_pipe, atol=1e-5)
    assert not torch.allclose(v_train, v_none, atol=1e-3)  # the motion tokens are attended to


def test_rows_without_motion_are_the_first_segment(module):
    """In a mixed batch, a row without motion gets the loss it gets alone without motion keys
    (no motion tokens, frames from RoPE index 1, like generation's first segment), and a row with
    motion gets the loss it gets alone."""
    clip, picture = _frames(14), _frames(1, seed=1)[0]
    mixed = _batch(clip, picture, [False, True], "a person")
    with torch.no_grad():
        both = module.losses(mixed)
        alone = {k: v[:1] for k, v in mixed.items() if k not in ("motion", "motion_active")}
        first = module.losses(alone)
        second = module.losses({k: v[1:] for k, v in mixed.items()})
    assert torch.allclose(both[:1], first, rtol=1e-5, atol=1e-6)
    assert torch.allclose(both[1:], second, rtol=1e-5, atol=1e-6)
    # what the split avoids: the same row with a masked motion latent present (one pass for the
    # batch) has its frames at RoPE index 3.. and gets another loss
    masked = {**mixed, "motion_active": torch.tensor([False, False])}
    x0, ref = module.latents(masked)
    cond = module.conditions(masked, ref)
    motion = module.model.encode_video(mixed["motion"])
    masked_cond = dataclasses.replace(
        cond, motion=motion, active={**cond.active, "motion": torch.tensor([False, False])}
    )
    with torch.no_grad():
        v_masked = module.model.mmdit(x0, torch.full((2,), 0.5), masked_cond)
        v_alone = module.model.mmdit(x0, torch.full((2,), 0.5), cond)
    assert (v_masked - v_alone).abs().max() > 1e-3 * v_alone.abs().max()


def test_backward_with_motion_rows(module):
    clip, picture = _frames(14), _frames(1, seed=1)[0]
    batch = _batch(clip, picture, [True, False], "a person")
    batch["key"] = torch.tensor([3, 3])  # same noise and timestep: only motion differs
    module.model.mmdit.zero_grad()
    losses = module.losses(batch)
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    losses.mean().backward()
    grads = [p.grad for p in module.model.mmdit.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert module.model.mmdit.x_embed.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in module.model.vae.parameters())  # the VAE stays frozen
    module.model.mmdit.zero_grad()


def test_fit_with_motion_frames_records_them_in_the_mix(train_manifest, tmp_path):
    args = fit_args(train_manifest, tmp_path, 2, "--data.motion_prob", "1.0")
    args += ["--trainer.limit_val_batches", "0"]
    cli = build_cli("fit", "audio", "tiny", args, run=False)
    assert cli.datamodule.spec.motion_prob == 1.0
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    mix_log = next(tmp_path.glob("version_*/condition_mix_rank0.csv")).read_text()
    assert "motion=1" in mix_log  # 30-frame clips: most 5-frame windows have 5 frames before
    assert cli.trainer.global_step == 2


def test_cached_run_trains_the_decoding_runs_losses_with_motion(module, train_manifest, tmp_path):
    """A feature-cache run and a decoding run of the same seed give the module the same batches:
    the same per-sample losses, motion rows included (latents from the cache vs encoded here)."""
    from omni.datamodules.conditions import ConditionRatios
    from omni.datamodules.datamodule import OmniDataModule

    def first_batches(cache_dir):
        dm = OmniDataModule(
            manifests=[str(train_manifest)], resolution=32, aspect_ratios=(1.5,), batch_size=4,
            ratios=ConditionRatios(1.0, 0.7), val_fraction=0.01, cache_dir=cache_dir,
            cache_windows=1, motion_prob=0.5, seed=5,
        )  # fmt: skip
        dm.encoder = module.cache_encoder()
        dm.setup("fit")
        return list(dm.train_dataloader())

    cached, raw = first_batches(str(tmp_path / "cache")), first_batches(None)
    assert sum(int(b["motion_active"].sum()) for b in raw) > 0
    for c, r in zip(cached, raw, strict=True):
        assert "motion_latent" in c and "video" not in c
        with torch.no_grad():
            assert torch.allclose(module.losses(c), module.losses(r), rtol=1e-4, atol=1e-6)
