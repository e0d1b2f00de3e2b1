import pytest
import torch

from omni.model.vae import CausalVAE, CausalVAEConfig, DiffusersVAE, PatchVAE, kl_divergence

SMALL = CausalVAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 2, 2, 2))


def _video(t=9, hw=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, t, hw, hw, generator=g) * 2 - 1


def test_patch_vae_is_an_exact_bijection():
    vae = PatchVAE(patch=4)
    video = _video(t=6)
    latent = vae.encode(video)
    assert latent.shape == (1, 48, 6, 8, 8) and vae.latent_channels == 48
    assert torch.equal(vae.decode(latent), video)
    assert vae.temporal_factor == 1 and vae.spatial_factor == 4


def test_causal_vae_shapes_and_factors():
    vae = CausalVAE(SMALL).eval()
    assert (vae.temporal_factor, vae.spatial_factor) == (4, 8)
    with torch.no_grad():
        latent = vae.encode(_video())
        assert latent.shape == (1, 4, 3, 4, 4)
        assert vae.decode(latent).shape == (1, 3, 9, 32, 32)
        assert vae.encode(_video(t=1)).shape == (1, 4, 1, 4, 4)  # an image is a 1-frame video
    assert vae.latent_frames(9) == 3 and vae.pixel_frames(3) == 9


def test_causal_vae_never_looks_ahead():
    vae = CausalVAE(SMALL).eval()
    a, b = _video(seed=0), _video(seed=1)
    b[:, :, :5] = a[:, :, :5]  # same first 5 frames -> same latent frames 0 and 1
    with torch.no_grad():
        la, lb = vae.encode(a), vae.encode(b)
        torch.testing.assert_close(la[:, :, :2], lb[:, :, :2], rtol=0, atol=1e-6)
        assert (la[:, :, 2] - lb[:, :, 2]).abs().max() > 1e-4
        lc = la.clone()
        lc[:, :, 2] += 1.0
        torch.testing.assert_close(
            vae.decode(la)[:, :, :5], vae.decode(lc)[:, :, :5], rtol=0, atol=1e-6
        )


def test_causal_vae_trains():
    torch.manual_seed(0)
    vae = CausalVAE(SMALL)
    grid = torch.linspace(-1, 1, 16)
    video = torch.stack([torch.sin(3 * grid[:, None] + grid[None] + 0.3 * t) for t in range(5)])
    video = video[None, None].expand(1, 3, 5, 16, 16) * torch.tensor([0.8, -0.5, 0.3]).view(
        1, 3, 1, 1, 1
    )
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        recon, mean, logvar = vae(video)
        loss = (recon - video).abs().mean() + 1e-4 * kl_divergence(mean, logvar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zero = torch.zeros(2, 3)
    assert kl_divergence(zero, zero).item() == 0.0
    assert kl_divergence(zero + 1, zero).item() == pytest.approx(0.5)


def test_invalid_videos_raise_expected_vs_got():
    vae = CausalVAE(SMALL)
    with pytest.raises(ValueError, match=r"\(B, 3, 1\+4k, H, W\).*got \(1, 3, 8, 32, 32\)"):
        vae.encode(_video(t=8))
    with pytest.raises(ValueError, match="divisible by 8"):
        vae.encode(_video(hw=30))
    with pytest.raises(ValueError, match=r"latent must be \(B, 4"):
        vae.decode(torch.zeros(1, 3, 2, 4, 4))


def test_diffusers_wan_vae_from_local_dir(tmp_path):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    src = AutoencoderKLWan(
        base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
        latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[2.0, 1.0, 0.5, 1.5],
    ).eval()  # fmt: skip
    src.save_pretrained(tmp_path)
    vae = DiffusersVAE(tmp_path)
    assert (vae.latent_channels, vae.temporal_factor, vae.spatial_factor) == (4, 4, 8)
    video = _video(t=5, hw=16)
    latent = vae.encode(video)
    assert latent.shape == (1, 4, 2, 2, 2)
    with torch.no_grad():
        raw = src.encode(video).latent_dist.mode()
    mean = torch.tensor([0.1, -0.2, 0.3, 0.0]).view(1, 4, 1, 1, 1)
    std = torch.tensor([2.0, 1.0, 0.5, 1.5]).view(1, 4, 1, 1, 1)
    torch.testing.assert_close(latent, (raw - mean) / std)
    assert vae.decode(latent).shape == (1, 3, 5, 16, 16)
    with pytest.raises(ValueError, match=r"has no config\.json"):
        DiffusersVAE(tmp_path / "missing")


def test_diffusers_hunyuan_vae_from_local_dir(tmp_path):
    from diffusers import AutoencoderKLHunyuanVideo

    torch.manual_seed(0)
    src = AutoencoderKLHunyuanVideo(
        latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
        scaling_factor=0.5,
    ).eval()  # fmt: skip
    src.save_pretrained(tmp_path)
    vae = DiffusersVAE(tmp_path)
    assert (vae.latent_channels, vae.temporal_factor, vae.spatial_factor) == (4, 4, 8)
    video = _video(t=5, hw=16)
    with torch.no_grad():
        raw = src.encode(video).latent_dist.mode()
    torch.testing.assert_close(vae.encode(video), raw * 0.5)
    assert vae.decode(vae.encode(video)).shape == (1, 3, 5, 16, 16)
