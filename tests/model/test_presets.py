import pytest
import torch

from omni.model.mmdit import OmniMMDiT
from omni.model.presets import PRESETS, MMDiTConfig, get_preset


def _params_on_meta(cfg: MMDiTConfig) -> int:
    with torch.device("meta"):
        model = OmniMMDiT(cfg)
    return sum(p.numel() for p in model.parameters())


def test_registry_names_and_unknown_name_error():
    assert {"tiny", "S", "B", "L", "paper", "hunyuan"} <= set(PRESETS)
    with pytest.raises(ValueError, match=r"unknown preset 'XL'.*'tiny'"):
        get_preset("XL")
    a = get_preset("S")
    a.num_heads = 99
    assert get_preset("S").num_heads == 6  # a fresh copy every time


def test_config_round_trips_through_dict_and_rejects_unknown_keys():
    cfg = get_preset("hunyuan")
    assert MMDiTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown MMDiTConfig keys"):
        MMDiTConfig.from_dict({**cfg.to_dict(), "depth": 3})


def test_invalid_fields_raise():
    with pytest.raises(ValueError, match="rope_axes must sum to head_dim"):
        MMDiTConfig(head_dim=64, rope_axes=(16, 16, 16))
    with pytest.raises(ValueError, match="audio_attention"):
        MMDiTConfig(audio_attention="diag")


def test_sizes_grow_and_paper_preset_is_5_to_10B():
    sizes = {name: _params_on_meta(get_preset(name)) for name in ("tiny", "S", "B", "L", "paper")}
    assert sizes["tiny"] < 1e6 < sizes["S"] < sizes["B"] < sizes["L"] < sizes["paper"]
    assert 5e9 <= sizes["paper"] <= 10e9


def test_hunyuan_preset_matches_diffusers_parameter_count():
    """Without omni's condition paths, the preset has exactly HunyuanVideo's tensors plus the two
    learned null embeddings (text 4096 + pooled 768)."""
    from diffusers import HunyuanVideoTransformer3DModel

    with torch.device("meta"):
        source = HunyuanVideoTransformer3DModel()
    n_source = sum(p.numel() for p in source.parameters())
    assert n_source == 12_821_012_544
    bare = get_preset("hunyuan", audio_dim=0, pose_channels=0)
    assert _params_on_meta(bare) == n_source + 4096 + 768
