import json

import pytest
import torch
from click.testing import CliRunner

from model.test_hunyuan import TINY, _source
from omni.cli import main
from omni.model.conditions import Conditions
from omni.model.convert import config_from_checkpoint, export_checkpoint
from omni.model.omni_model import (
    AudioSpec,
    GenerationDefaults,
    OmniModel,
    OmniModelConfig,
    TextSpec,
)
from omni.model.presets import get_preset


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A tiny random HunyuanVideo pipeline folder: transformer/ and vae/."""
    from diffusers import AutoencoderKLHunyuanVideo

    root = tmp_path_factory.mktemp("hunyuan")
    src = _source()
    src.save_pretrained(root / "transformer")
    torch.manual_seed(0)
    AutoencoderKLHunyuanVideo(
        latent_channels=TINY["in_channels"], block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        norm_num_groups=4,
    ).save_pretrained(root / "vae")  # fmt: skip
    return root, src


def test_import_t2v_cli_reproduces_diffusers_and_new_paths_change_nothing(pipeline, tmp_path):
    root, src = pipeline
    result = CliRunner().invoke(
        main, ["import-t2v", "--from", str(root), "--out", str(tmp_path / "omni")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "omni" / "import_report.json").read_text())
    used = [s for srcs in report["loaded"].values() for s in srcs]
    assert sorted(used) == sorted(src.state_dict()) and report["source_tensors_used"] == len(used)
    assert "null_pooled" in report["new"] and any(".audio." in k for k in report["new"])
    assert any(k.startswith("pose_guider.") for k in report["new"])

    model = OmniModel.from_pretrained(tmp_path / "omni")
    assert model.config.vae.kind == "diffusers" and model.config.text.kind == "none"
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 4, 3, 8, 8, generator=g)  # 3 latent frames = 9 pixel frames of 64 px
    t = torch.tensor([0.45])
    text, mask = torch.randn(1, 5, 16, generator=g), torch.ones(1, 5, dtype=torch.bool)
    pooled, guidance = torch.randn(1, 8, generator=g), torch.tensor([4.0])
    with torch.no_grad():
        want = src(
            hidden_states=x, timestep=t * 1000, encoder_hidden_states=text, encoder_attention_mask=mask.long(),
            pooled_projections=pooled, guidance=guidance * 1000,
        ).sample  # fmt: skip
        base = Conditions(text=text, text_mask=mask, text_pooled=pooled, guidance=guidance)
        got = model.velocity(x, t, base)
        audio = torch.randn(1, 9, model.config.mmdit.audio_dim, generator=g)
        pose = torch.rand(1, 17, 9, 64, 64, generator=g)
        with_paths = model.velocity(
            x, t, Conditions(**{**base.__dict__, "audio": audio, "pose": pose})
        )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(with_paths, got, rtol=0, atol=0)


def test_import_errors_are_usage_errors(tmp_path):
    result = CliRunner().invoke(
        main, ["import-t2v", "--from", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "holds no diffusers transformer" in result.output


def test_import_without_a_vae_says_what_to_pass(pipeline, tmp_path):
    root, _ = pipeline
    result = CliRunner().invoke(
        main,
        [
            "import-t2v",
            "--from",
            str(root / "transformer"),
            "--out",
            str(tmp_path / "o"),
            "--vae",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2 and "pass --vae DIR" in result.output


def _fake_checkpoint(model: OmniModel, ema_value: float) -> dict:
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    shadow = {
        n: torch.full_like(p, ema_value)
        for n, p in model.named_parameters()
        if n.startswith("mmdit.")
    }
    return {"state_dict": state, "ema": {"shadow": shadow, "updates": 3}}


def test_export_writes_ema_weights_from_a_lightning_checkpoint(tmp_path):
    config = OmniModelConfig(mmdit=get_preset("tiny"), text=TextSpec(width=32, layers=1))
    model = OmniModel(config)
    ckpt = {**_fake_checkpoint(model, 0.25), "omni_model_config": model.config.to_dict()}
    torch.save(ckpt, tmp_path / "last.ckpt")
    result = CliRunner().invoke(
        main, ["export", "--ckpt", str(tmp_path / "last.ckpt"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    loaded = OmniModel.from_pretrained(tmp_path / "m")
    assert torch.all(loaded.mmdit.blocks[0].video.qkv.weight == 0.25)
    torch.testing.assert_close(loaded.text.embed.weight, model.text.embed.weight, rtol=0, atol=0)
    raw = export_checkpoint(tmp_path / "last.ckpt", tmp_path / "raw", use_ema=False)
    torch.testing.assert_close(raw.mmdit.x_embed.weight, model.mmdit.x_embed.weight, rtol=0, atol=0)


def test_export_rebuilds_the_config_from_fit_hyperparameters(tmp_path):
    config = OmniModelConfig(
        mmdit=get_preset("tiny", num_dual_blocks=1), text=TextSpec(width=64, layers=1)
    )
    model = OmniModel(config)
    hp = {"preset": "tiny", "network": {"vae": "patch", "vae_patch": 2, "text": "small", "text_layers": 1,
                                        "mmdit": {"num_dual_blocks": 1}}}  # fmt: skip
    torch.save({**_fake_checkpoint(model, 0.5), "hyper_parameters": hp}, tmp_path / "fit.ckpt")
    loaded_dir = tmp_path / "m"
    export_checkpoint(tmp_path / "fit.ckpt", loaded_dir)
    loaded = OmniModel.from_pretrained(loaded_dir)
    assert loaded.config.mmdit.num_dual_blocks == 1 and torch.all(
        loaded.mmdit.final.linear.weight == 0.5
    )
    torch.save({"state_dict": {}}, tmp_path / "bare.ckpt")
    result = CliRunner().invoke(
        main, ["export", "--ckpt", str(tmp_path / "bare.ckpt"), "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "omni_model_config" in result.output


def test_export_records_generation_defaults_and_the_training_audio(tmp_path, tiny_wav2vec2):
    """The data's fps / window / resolution / audio rate / pose sigma land in config.json, and
    the audio features follow the fit run: its network settings, or a legacy datamodule
    `audio_encoder` (what the MMDiT was trained on)."""
    config = OmniModelConfig(
        mmdit=get_preset("tiny", num_dual_blocks=1),
        text=TextSpec(width=64, layers=1),
        audio=AudioSpec(kind="wav2vec2", path=str(tiny_wav2vec2), layers=[1, 3]),
    )
    model = OmniModel(config)
    net = {"vae": "patch", "text": "small", "text_layers": 1, "mmdit": {"num_dual_blocks": 1},
           "audio": "wav2vec2", "audio_path": str(tiny_wav2vec2), "audio_layers": [1, 3]}  # fmt: skip
    data = {"fps": 12.5, "num_frames": 13, "resolution": 64, "audio_sr": 22050, "pose_sigma": 3.0}
    ckpt = {**_fake_checkpoint(model, 0.5), "hyper_parameters": {"preset": "tiny", "network": net},
            "datamodule_hyper_parameters": data}  # fmt: skip
    torch.save(ckpt, tmp_path / "fit.ckpt")
    export_checkpoint(tmp_path / "fit.ckpt", tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["generation"] == {
        "fps": 12.5, "segment_frames": 13, "height": 64, "width": 64, "audio_sr": 22050,
        "pose_sigma": 3.0,
    }  # fmt: skip
    loaded = OmniModel.from_pretrained(tmp_path / "m")
    assert loaded.config.generation == GenerationDefaults(12.5, 13, 64, 64, 22050, 3.0)
    assert (loaded.config.audio.kind, loaded.config.audio.layers) == ("wav2vec2", [1, 3])
    assert loaded.config.mmdit.audio_dim == 32  # two 16-wide wav2vec2 layers

    # legacy: mel in the network settings, wav2vec2 named by the datamodule -> wav2vec2
    net_mel = {k: v for k, v in net.items() if not k.startswith("audio")}
    legacy = {**ckpt, "hyper_parameters": {"preset": "tiny", "network": net_mel},
              "datamodule_hyper_parameters": {**data, "fps": None, "audio_encoder": str(tiny_wav2vec2),
                                              "audio_layers": [1, 3]}}  # fmt: skip
    got = config_from_checkpoint(legacy)
    assert got.audio == AudioSpec(kind="wav2vec2", path=str(tiny_wav2vec2), layers=[1, 3])
    assert got.generation.fps == 25.0  # fps None (each clip's own rate): the default
    without_data = config_from_checkpoint({**ckpt, "datamodule_hyper_parameters": None})
    assert without_data.generation is None and without_data.audio.kind == "wav2vec2"
    with pytest.raises(ValueError, match="generation defaults must be positive"):
        GenerationDefaults(segment_frames=0)
