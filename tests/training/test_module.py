import pytest
import torch

from omni.training.module import OmniModule
from omni.training.network import NetworkConfig, load_init

B, F, H, W = 2, 5, 16, 16


def batch(keys=(11, 12), active=None):
    g = torch.Generator().manual_seed(0)
    b = len(keys)
    return {
        "video": torch.rand(b, 3, F, H, W, generator=g) * 2 - 1,
        "ref": torch.rand(b, 3, 1, H, W, generator=g) * 2 - 1,
        "audio": torch.randn(b, F, 160, generator=g),
        "caption": ["a person talking"] * b,
        "active": torch.tensor(active or [[1, 1, 1, 0]] * b, dtype=torch.bool),
        "key": torch.tensor(keys),
        "clip_id": [f"c{k}" for k in keys],
    }


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return OmniModule(preset="tiny", network=NetworkConfig(text_layers=1))


def test_loss_is_per_sample_and_independent_of_batch_mates(module):
    both = module.losses(batch((11, 12)))
    alone = module.losses(batch((12,)))  # the same sample 12, without sample 11
    assert both.shape == (2,) and torch.isfinite(both).all()
    one = batch((11, 12))
    single = {k: v[1:] for k, v in one.items()}
    assert torch.allclose(module.losses(single), both[1:], atol=1e-5)
    assert alone.shape == (1,)


def test_inactive_audio_equals_no_audio(module):
    off = batch(active=[[1, 1, 0, 0]] * 2)
    without = {k: v for k, v in off.items() if k != "audio"}
    assert torch.allclose(module.losses(off), module.losses(without), atol=1e-6)


def test_only_patterns_train_and_vae_is_frozen():
    m = OmniModule(preset="tiny", trainable=("mmdit.audio*", "mmdit.*.audio.*"))
    trained = {n for n, p in m.model.named_parameters() if p.requires_grad}
    assert trained and all(".audio" in n or n.startswith("mmdit.audio") for n in trained)
    assert set(m.ema.shadow) == trained
    with pytest.raises(ValueError, match="matches no parameter"):
        OmniModule(preset="tiny", trainable=("nothing.*",))


def test_init_from_keeps_new_condition_paths_zero(module, tmp_path):
    """A checkpoint without the audio path (a text_ref model) loads; the audio path stays zero,
    so the output with audio active equals the output without audio."""
    state = {
        f"model.{k}": v
        for k, v in module.model.state_dict().items()
        if ".audio" not in k and "audio_embed" not in k
    }
    torch.save({"state_dict": state}, tmp_path / "prev.ckpt")
    fresh = OmniModule(preset="tiny", network=NetworkConfig(text_layers=1))
    with torch.no_grad():
        for name, p in fresh.model.named_parameters():
            p.add_(1.0) if "audio" not in name else None
    new = load_init(fresh.model, str(tmp_path / "prev.ckpt"))
    assert new and all("audio" in n for n in new)
    on = batch()
    off = batch(active=[[1, 1, 0, 0]] * 2)
    assert torch.allclose(fresh.losses(on), fresh.losses(off), atol=1e-6)
    assert torch.allclose(fresh.losses(off), module.losses(off), atol=1e-6)
    bad = {**state, "model.mmdit.extra": torch.zeros(1)}
    torch.save({"state_dict": bad}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError, match="unexpected keys"):
        load_init(fresh.model, str(tmp_path / "bad.ckpt"))


def test_ema_weights_used_for_validation(module):
    module.ema.update(module.model)
    name = next(iter(module.ema.shadow))
    param = dict(module.model.named_parameters())[name]
    before = param.detach().clone()
    module.ema.shadow[name] = before + 1.0
    module._ema_on()
    assert torch.allclose(param, before + 1.0)
    module._ema_off()
    assert torch.equal(param, before)
    module.ema.shadow[name] = before.float()


def test_sample_is_seeded_video(module):
    b = batch()
    video = module.sample(b, steps=2)
    assert video.shape == (2, 3, F, H, W) and video.abs().max() <= 1
    assert torch.equal(video, module.sample(b, steps=2))


def test_init_from_an_omni_model_directory(module, tmp_path):
    """`--init-from` also takes an OmniModel folder (omni import-t2v / omni export)."""
    module.model.save_pretrained(tmp_path / "model")
    fresh = OmniModule(preset="tiny", network=NetworkConfig(text_layers=1))
    assert load_init(fresh.model, str(tmp_path / "model")) == []
    b = batch()
    assert torch.allclose(fresh.losses(b), module.losses(b), atol=1e-6)


def test_motion_weight_changes_only_the_training_loss():
    torch.manual_seed(0)
    plain = OmniModule(preset="tiny", network=NetworkConfig(text_layers=1))
    torch.manual_seed(0)
    moving = OmniModule(preset="tiny", network=NetworkConfig(text_layers=1), motion_weight=30.0)
    b = batch()
    assert torch.allclose(plain.losses(b, weighted=True), plain.losses(b), atol=1e-6)
    assert torch.allclose(moving.losses(b), plain.losses(b), atol=1e-6)  # validation loss
    assert not torch.allclose(moving.losses(b, weighted=True), moving.losses(b), atol=1e-4)
