import pytest
import torch

from omni.model.conditions import Conditions
from omni.model.hunyuan import config_from_hunyuan, convert_state_dict
from omni.model.mmdit import OmniMMDiT

TINY = dict(
    in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=2,
    num_single_layers=2, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
    text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 2, 4),
)  # fmt: skip


def _source():
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    src = HunyuanVideoTransformer3DModel(**TINY)
    with torch.no_grad():
        for p in src.parameters():  # random everywhere, incl. the zero-initialised adaLN layers
            p.normal_(std=0.2)
    return src.eval()


def test_imported_weights_reproduce_diffusers_forward():
    src = _source()
    cfg = config_from_hunyuan(dict(src.config), audio_dim=0, pose_channels=0)
    model = OmniMMDiT(cfg).eval()
    weights, report = convert_state_dict(src.state_dict(), model.state_dict(), cfg)
    result = model.load_state_dict(weights, strict=False)
    assert sorted(result.missing_keys) == sorted(report.new) == ["null_pooled", "text_embed.null"]
    used = [s for srcs in report.loaded.values() for s in srcs]
    assert sorted(used) == sorted(src.state_dict())  # every source tensor exactly once

    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 8, 8, generator=g)
    t = torch.tensor([0.3, 0.8])
    text = torch.randn(2, 6, 16, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    pooled = torch.randn(2, 8, generator=g)
    guidance = torch.tensor([3.0, 5.0])
    with torch.no_grad():
        want = src(
            hidden_states=x, timestep=t * 1000, encoder_hidden_states=text,
            encoder_attention_mask=mask.long(), pooled_projections=pooled, guidance=guidance * 1000,
        ).sample  # fmt: skip
        got = model(
            x, t, Conditions(text=text, text_mask=mask, text_pooled=pooled, guidance=guidance)
        )
    assert want.abs().max() > 1
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)


def test_mismatched_source_is_an_error_naming_keys():
    src = _source()
    cfg = config_from_hunyuan(dict(src.config), audio_dim=0, pose_channels=0)
    target = OmniMMDiT(cfg).state_dict()
    sd = dict(src.state_dict())
    sd["extra.weight"] = torch.zeros(1)
    del sd["proj_out.bias"]
    with pytest.raises(
        ValueError, match=r"missing \['proj_out.bias'\].*unknown \['extra.weight'\]"
    ):
        convert_state_dict(sd, target, cfg)
    with pytest.raises(ValueError, match="image_condition_type"):
        config_from_hunyuan({**dict(src.config), "image_condition_type": "token_replace"})
