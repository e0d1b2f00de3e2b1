import pytest
import torch

from model.helpers import make_inputs, randomize, tiny_config
from omni.model.conditions import Conditions
from omni.model.embedders import AudioEmbedder
from omni.model.mmdit import OmniMMDiT
from omni.model.presets import MMDiTConfig


def _model(cfg, seed=0):
    return randomize(OmniMMDiT(cfg), seed).eval()


def test_output_is_velocity_of_noisy_frames_only(cfg):
    model = _model(cfg)
    x, t, cond = make_inputs(cfg, f=3, motion=2)
    with torch.no_grad():
        v = model(x, t, cond)
    assert v.shape == x.shape
    assert torch.isfinite(v).all() and v.abs().mean() > 1e-3


def test_fresh_model_outputs_zero_and_trains():
    """adaLN-Zero: a new model predicts 0; gradients still reach the final layer."""
    cfg = tiny_config()
    model = OmniMMDiT(cfg)
    x, t, cond = make_inputs(cfg)
    v = model(x, t, cond)
    assert torch.equal(v, torch.zeros_like(v))
    v.sum().backward()
    assert model.final.linear.weight.grad.abs().sum() > 0


def test_condition_paths_attached_to_trained_model_change_nothing():
    """A model trained without audio/pose gives identical outputs with those paths attached
    (zero-initialised) and switched on."""
    base_cfg = tiny_config(audio_dim=0, pose_channels=0)
    base = _model(base_cfg, seed=3)
    full = OmniMMDiT(tiny_config())
    result = full.load_state_dict(base.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert {k.split(".")[0] for k in result.missing_keys} <= {
        "audio_embed",
        "pose_guider",
        "blocks",
        "single_blocks",
    }
    assert all(
        ".audio." in k or k.startswith(("audio_embed", "pose_guider")) for k in result.missing_keys
    )
    full.eval()
    x, t, cond = make_inputs(tiny_config())
    with torch.no_grad():
        plain = base(
            x,
            t,
            Conditions(text=cond.text, text_mask=cond.text_mask, ref=cond.ref, motion=cond.motion),
        )
        attached = full(x, t, cond)
    torch.testing.assert_close(attached, plain, rtol=0, atol=1e-6)
    # ... and once trained (non-zero) the paths do change the output
    randomize(full.audio_embed, 1)
    torch.nn.init.normal_(full.blocks[0].audio.out.weight, std=0.1)
    with torch.no_grad():
        assert (full(x, t, cond) - plain).abs().max() > 1e-3


def test_inactive_rows_take_the_null_path(cfg):
    model = _model(cfg)
    x, t, cond = make_inputs(cfg)
    off = torch.tensor([False, True])
    masked = cond.with_active(audio=off, pose=off, text=off)
    with torch.no_grad():
        v = model(x, t, masked)
        # row 0 without audio/pose/text tensors at all
        row0 = Conditions(ref=cond.ref[:1], motion=cond.motion[:1])
        v0 = model(x[:1], t[:1], row0)
        v1 = model(
            x[1:],
            t[1:],
            Conditions(
                **{
                    k: getattr(cond, k)[1:]
                    for k in ("text", "text_mask", "ref", "motion", "audio", "pose")
                }
            ),
        )
    torch.testing.assert_close(v[:1], v0, rtol=0, atol=1e-5)
    torch.testing.assert_close(v[1:], v1, rtol=0, atol=1e-5)


def test_inactive_reference_is_ignored(cfg):
    model = _model(cfg)
    x, t, cond = make_inputs(cfg)
    other = Conditions(**{**cond.__dict__, "ref": torch.randn_like(cond.ref)})
    with torch.no_grad():
        a = model(x, t, cond.with_active(ref=False))
        b = model(x, t, other.with_active(ref=False))
        c = model(x, t, other)
        d = model(x, t, cond)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert (c - d).abs().max() > 1e-3  # an active reference matters


def test_cfg_rows_stacked_in_one_batch_match_separate_passes(cfg):
    model = _model(cfg)
    x, t, cond = make_inputs(cfg)
    passes = [cond.with_active(text=False, audio=False), cond.with_active(audio=False), cond]
    with torch.no_grad():
        stacked = model(x.repeat(3, 1, 1, 1, 1), t.repeat(3), Conditions.cat(passes))
        separate = torch.cat([model(x, t, p) for p in passes])
    torch.testing.assert_close(stacked, separate, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["frame", "full"])
def test_audio_reaches_only_its_own_latent_frame_in_frame_mode(mode):
    cfg = tiny_config(
        num_dual_blocks=1, num_single_blocks=0, audio_window=0, audio_context=0,
        audio_attention=mode,
    )  # fmt: skip
    model = _model(cfg)
    x, t, cond = make_inputs(cfg, f=3, motion=0)
    audio = cond.audio.clone()
    audio[:, 5:] += 3.0  # pixel frames 5..8 = latent frame 2
    with torch.no_grad():
        a = model(x, t, cond)
        b = model(x, t, Conditions(**{**cond.__dict__, "audio": audio}))
    diff = (a - b).abs().amax(dim=(0, 1, 3, 4))  # per latent frame
    assert diff[2] > 1e-3
    if mode == "frame":
        assert diff[0] == 0 and diff[1] == 0
    else:
        assert diff[0] > 1e-4


def test_audio_context_reaches_the_neighbouring_pixel_frames_only():
    """With context c, latent frame f's tokens also see c pixel frames on each side."""
    cfg = tiny_config(num_dual_blocks=1, num_single_blocks=0, audio_window=0, audio_context=1)
    model = _model(cfg)
    x, t, cond = make_inputs(cfg, f=4, motion=0)  # pixel frames 0 | 1-4 | 5-8 | 9-12
    audio = cond.audio.clone()
    audio[:, 9] += 3.0  # first pixel frame of latent frame 3: in frame 2's context, not frame 1's
    with torch.no_grad():
        a = model(x, t, cond)
        b = model(x, t, Conditions(**{**cond.__dict__, "audio": audio}))
    diff = (a - b).abs().amax(dim=(0, 1, 3, 4))
    assert diff[0] == 0 and diff[1] == 0
    assert diff[2] > 1e-3 and diff[3] > 1e-3


def test_audio_embedder_context_tokens_are_the_neighbouring_frames_with_offsets():
    emb = AudioEmbedder(audio_dim=3, window=0, hidden=8, temporal_factor=4, context=2)
    audio = torch.randn(2, 9, 3)  # 1 + 4 * 2 pixel frames -> 3 latent frames
    tokens = emb(audio)
    assert tokens.shape == (2, 3, 4 + 4 + 1, 8) and emb.tokens_per_frame == 9
    per_frame = emb.mlp(audio)  # (B, 9, D): one token per pixel frame
    # latent frame 1 encodes pixel frames 1..4; its context adds 0, -1 (edge: 0) and 5, 6
    for j, pixel in enumerate([0, 0, 1, 2, 3, 4, 5, 6]):
        torch.testing.assert_close(tokens[:, 1, j], per_frame[:, pixel] + emb.offset[j])
    torch.testing.assert_close(tokens[:, 2, -1], emb.null.expand(2, -1))


def test_frame_update_differs_across_tokens_only_with_context():
    """Temporal factor 1 (a patch VAE): without context one key per frame, so every video token
    of a frame gets the same audio update; with context and the null token they differ."""
    spread = {}
    torch.manual_seed(0)
    for context in (0, 2):
        cfg = tiny_config(latent_temporal_factor=1, audio_context=context)
        attn = randomize(OmniMMDiT(cfg), 1, std=1.0).blocks[0].audio  # sharp attention
        emb = randomize(AudioEmbedder(cfg.audio_dim, 2, cfg.hidden_size, 1, context), 2)
        x = torch.randn(1, 3 * 16, cfg.hidden_size)  # 3 frames of 16 tokens
        with torch.no_grad():
            update = attn(x, emb(torch.randn(1, 3, cfg.audio_dim))).view(3, 16, -1)
        deviation = (update - update.mean(dim=1, keepdim=True)).abs().mean()
        spread[context] = (deviation / update.abs().mean()).item()
    assert spread[0] < 1e-5
    assert spread[2] > 0.02  # 0.09-0.19 over seeds


def test_configs_saved_before_audio_context_load_without_it():
    cfg = tiny_config()
    assert cfg.audio_context == 2
    assert MMDiTConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k != "audio_context"}
    assert MMDiTConfig.from_dict(old).audio_context == 0


def test_gradient_checkpointing_gives_same_output_and_grads():
    cfg = tiny_config()
    x, t, cond = make_inputs(cfg)
    results = []
    for ckpt in (False, True):
        model = randomize(OmniMMDiT(tiny_config(gradient_checkpointing=ckpt)), 4)
        v = model(x, t, cond)
        v.square().mean().backward()
        results.append((v.detach(), model.blocks[0].video.qkv.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_shape_errors_say_expected_and_got(cfg):
    model = OmniMMDiT(cfg)
    x, t, cond = make_inputs(cfg, f=3)
    with pytest.raises(ValueError, match=r"1 \+ 4\*\(F-1\).*got \(2, 8, 12\)"):
        model(x, t, Conditions(**{**cond.__dict__, "audio": cond.audio[:, :8]}))
    with pytest.raises(ValueError, match=r"latent must be \(B, 4, F, h, w\)"):
        model(x[:, :3], t, cond)
    with pytest.raises(ValueError, match=r"cond\.ref must be"):
        model(x, t, Conditions(**{**cond.__dict__, "ref": cond.ref[..., :2]}))
    with pytest.raises(ValueError, match=r"cond\.pose must be heatmaps"):
        model(x, t, Conditions(**{**cond.__dict__, "pose": cond.pose[:, :, :5]}))
    with pytest.raises(ValueError, match=r"cond.text must be \(B, L>=1, 64\)"):
        model(x, t, Conditions(**{**cond.__dict__, "text": cond.text[..., :10]}))


def test_conditions_select_keeps_the_picked_rows_of_tensors_and_masks(cfg):
    _, _, cond = make_inputs(cfg, b=3)
    cond = cond.with_active(audio=torch.tensor([True, False, True]))
    rows = torch.tensor([False, True, True])
    picked = cond.select(rows)
    assert torch.equal(picked.audio, cond.audio[1:]) and torch.equal(picked.ref, cond.ref[1:])
    assert picked.active["audio"].tolist() == [False, True]
    assert picked.text_pooled is None and picked.batch_size == 2
