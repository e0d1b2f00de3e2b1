"""`--ckpt`: an `omni fit` checkpoint in Lightning's layout (as OmniModule + OmniDataModule save it)."""

import pytest
import torch

from generate.conftest import tiny_model
from omni.generate.checkpoint import load_checkpoint
from omni.generate.pipeline import OmniPipeline


def _lightning_checkpoint(path, preset="tiny"):
    """Live weights in state_dict, different EMA averages for the trained (mmdit, text) ones."""
    live = tiny_model("patch", seed=1)
    state = {f"model.{k}": v.clone() for k, v in live.state_dict().items()}
    shadow = {
        k: torch.randn_like(v) * 0.05
        for k, v in live.state_dict().items()
        if k.startswith(("mmdit.", "text."))
    }
    ckpt = {
        "state_dict": state,
        "ema": {"decay": 0.999, "updates": 10, "shadow": shadow},
        "hyper_parameters": {
            "preset": preset,
            "network": {"vae": "patch", "vae_patch": 4, "text": "small", "text_layers": 2},
        },
        "datamodule_hyper_parameters": {
            "num_frames": 13,
            "fps": 20.0,
            "resolution": 48,
            "audio_sr": 22050,
            "audio_encoder": None,
            "pose_sigma": 1.5,
        },
    }
    torch.save(ckpt, path)
    return shadow


def test_checkpoint_loads_ema_weights_and_training_geometry(tmp_path):
    shadow = _lightning_checkpoint(tmp_path / "last.ckpt")
    pipe = OmniPipeline.from_checkpoint(tmp_path / "last.ckpt", device="cpu")
    weights = pipe.model.state_dict()
    for name, value in shadow.items():
        torch.testing.assert_close(weights[name], value, rtol=0, atol=0)
    d = pipe.defaults
    assert (d.fps, d.segment_frames, d.height, d.width) == (20.0, 13, 48, 48)
    assert (d.audio_sr, d.pose_sigma) == (22050, 1.5)
    result = pipe(torch.zeros(48, 48, 3, dtype=torch.uint8).numpy(), steps=1, check_face=False)
    assert result.frames.shape == (13, 48, 48, 3)


def test_checkpoint_of_another_preset_is_refused(tmp_path):
    _lightning_checkpoint(tmp_path / "last.ckpt", preset="S")  # tiny weights, S config
    with pytest.raises(ValueError, match="do not match"):
        OmniPipeline.from_checkpoint(tmp_path / "last.ckpt")


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "none.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not an `omni fit` checkpoint"):
        load_checkpoint(tmp_path / "other.ckpt")
